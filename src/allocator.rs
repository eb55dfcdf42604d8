//! glibc malloc tuning. By default glibc gives busy threads their own arenas (up to 8 per core)
//! and keeps what they free; under load authd's worker, database and hashing threads then hold
//! about twice the memory they use. Two arenas measured the same throughput at half the peak
//! resident memory (BENCHMARKS.md).

/// Limits malloc to two arenas; call before any thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn limit_malloc_arenas() {
    // An explicit MALLOC_ARENA_MAX from the operator wins.
    if std::env::var_os("MALLOC_ARENA_MAX").is_some() {
        return;
    }
    // SAFETY: mallopt only changes allocator parameters; called before other threads exist.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Other platforms keep their allocator's defaults.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn limit_malloc_arenas() {}

/// Hands back to the OS the heap pages glibc holds free. glibc keeps what threads free in its
/// arenas: what start-up allocated and freed (migration checks, key loading, each worker
/// building its app; about 4 MiB at idle here), and after a burst of load what the burst
/// allocated, which a later burst of another kind then stacks on (BENCHMARKS.md).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn return_free_memory() {
    // SAFETY: malloc_trim only returns free heap pages to the kernel; any thread may call it.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Other platforms keep their allocator's defaults.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn return_free_memory() {}
