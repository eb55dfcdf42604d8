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

#[cfg(all(target_os = "linux", target_env = "gnu"))]
/// How long after start-up `release_startup_memory` waits: the workers build their apps in
/// that time, and load.sh reads idle memory a second after the first answer.
const AFTER_START: std::time::Duration = std::time::Duration::from_millis(250);

/// Hands back to the OS what start-up allocated and freed (migration checks, key loading, each
/// worker building its app): glibc keeps freed memory in its arenas, about 4 MiB of resident
/// memory at idle here (BENCHMARKS.md). Runs once, shortly after the server starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
pub fn release_startup_memory() {
    tokio::spawn(async {
        tokio::time::sleep(AFTER_START).await;
        // SAFETY: malloc_trim only returns free heap pages to the kernel; any thread may call it.
        unsafe {
            libc::malloc_trim(0);
        }
    });
}

/// Other platforms keep their allocator's defaults.
#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
pub fn release_startup_memory() {}
