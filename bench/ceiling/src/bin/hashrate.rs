//! The password-grant reference: argon2id verifications per second on every core, with no HTTP.
//!
//! Usage: `hashrate [SECONDS] [THREADS]` (defaults 10 s and one thread per core). Parameters are
//! authd's defaults (OWASP: m=19456 KiB, t=2, p=1), or `AUTHD_PASSWORDS__{MEMORY_KIB,ITERATIONS,
//! PARALLELISM}` when set, so the reference follows the server's configuration.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, PasswordVerifier, Version};

fn setting(name: &str, default: u32) -> u32 {
    std::env::var(format!("AUTHD_PASSWORDS__{name}"))
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let mut args = std::env::args().skip(1);
    let seconds: f64 = args.next().map_or(10.0, |s| s.parse().expect("SECONDS"));
    let threads: usize = args.next().map_or_else(
        || std::thread::available_parallelism().map_or(2, usize::from),
        |s| s.parse().expect("THREADS"),
    );
    let params = Params::new(
        setting("MEMORY_KIB", 19_456),
        setting("ITERATIONS", 2),
        setting("PARALLELISM", 1),
        None,
    )
    .expect("valid argon2 parameters");
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let salt = SaltString::generate(&mut OsRng);
    let phc = argon2
        .hash_password(b"bench-password-1", &salt)
        .expect("hashing works")
        .to_string();

    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| {
            let (argon2, phc, done, stop) =
                (argon2.clone(), phc.clone(), done.clone(), stop.clone());
            std::thread::spawn(move || {
                // A login verifies a stored hash, which costs one hash of the same parameters.
                let parsed = PasswordHash::new(&phc).expect("own hash parses");
                while !stop.load(Ordering::Relaxed) {
                    argon2
                        .verify_password(b"bench-password-1", &parsed)
                        .expect("the password matches");
                    done.fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(seconds));
    stop.store(true, Ordering::Relaxed);
    for worker in workers {
        worker.join().expect("worker finished");
    }
    let elapsed = start.elapsed().as_secs_f64();
    let count = done.load(Ordering::Relaxed);
    // Printed alone on stdout so that scripts can read it.
    println!("{:.2}", count as f64 / elapsed);
    eprintln!("hashrate: {count} verifications on {threads} threads in {elapsed:.1} s");
}
