//! The request-duration histograms, one set per thread that serves requests.
//!
//! Every request adds to a histogram. With one map behind one mutex, the two workers handed the
//! lock, the map and the buckets back and forth between their cores on every request; now each
//! thread writes only its own shard (its lock is never contended), and `merged` adds the shards
//! up when `/metrics` is read.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};

/// Upper bounds of the latency buckets, in seconds.
pub const BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// One label set's counts.
#[derive(Default, Clone, Debug, PartialEq)]
pub struct Histogram {
    /// Requests at or under each of `BUCKETS`.
    pub counts: [u64; BUCKETS.len()],
    /// All requests.
    pub count: u64,
    /// Their seconds, added up.
    pub sum: f64,
}

impl Histogram {
    fn observe(&mut self, seconds: f64) {
        for (bucket, bound) in self.counts.iter_mut().zip(BUCKETS) {
            if seconds <= bound {
                *bucket += 1;
            }
        }
        self.count += 1;
        self.sum += seconds;
    }

    fn add(&mut self, other: &Self) {
        for (bucket, more) in self.counts.iter_mut().zip(other.counts) {
            *bucket += more;
        }
        self.count += other.count;
        self.sum += other.sum;
    }
}

/// Histograms by (method, route, status). Every label is bounded: a standard method or "other",
/// a route pattern or "unmatched", and a status code; a client chooses none of them freely.
pub type Histograms = BTreeMap<(&'static str, String, u16), Histogram>;

/// One thread's histograms, by method and status, then by route: a route is looked up as a
/// `&str`, so counting a request allocates nothing once its label set has been seen.
type Shard = Arc<Mutex<BTreeMap<(&'static str, u16), BTreeMap<String, Histogram>>>>;

/// Every thread's histograms.
#[derive(Default)]
pub struct RequestHistograms {
    shards: Mutex<Vec<Shard>>,
}

impl RequestHistograms {
    /// Counts one request in the calling thread's shard.
    pub fn observe(&self, method: &'static str, route: &str, status: u16, seconds: f64) {
        thread_local! {
            // The shard and whose it is: the address of the `RequestHistograms` it belongs to.
            static SHARD: RefCell<Option<(usize, Shard)>> = const { RefCell::new(None) };
        }
        let owner = std::ptr::from_ref(self) as usize;
        SHARD.with_borrow_mut(|slot| {
            let shard = match slot {
                Some((of, shard)) if *of == owner => shard,
                _ => {
                    let shard = Shard::default();
                    lock(&self.shards).push(shard.clone());
                    &mut slot.insert((owner, shard)).1
                }
            };
            let mut shard = lock(shard);
            let routes = shard.entry((method, status)).or_default();
            match routes.get_mut(route) {
                Some(histogram) => histogram.observe(seconds),
                None => routes.entry(route.to_owned()).or_default().observe(seconds),
            }
        });
    }

    /// Every shard added up.
    pub fn merged(&self) -> Histograms {
        let mut all = Histograms::new();
        for shard in lock(&self.shards).iter() {
            for (&(method, status), routes) in lock(shard).iter() {
                for (route, histogram) in routes {
                    all.entry((method, route.clone(), status))
                        .or_default()
                        .add(histogram);
                }
            }
        }
        all
    }
}

/// A panic elsewhere while a shard was locked leaves counts that are still counts.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_counted_on_several_threads_add_up() {
        let histograms = Arc::new(RequestHistograms::default());
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let histograms = histograms.clone();
                std::thread::spawn(move || {
                    for _ in 0..250 {
                        histograms.observe("POST", "/token", 200, 0.0007);
                    }
                    histograms.observe("GET", "/healthz", 200, 3.0);
                })
            })
            .collect();
        for thread in threads {
            thread.join().unwrap();
        }

        let merged = histograms.merged();
        let token = &merged[&("POST", "/token".to_owned(), 200)];
        assert_eq!(token.count, 1_000);
        assert_eq!(token.counts[0], 0, "0.7 ms is above the first bound");
        assert!(token.counts[1..].iter().all(|&count| count == 1_000));
        assert!((token.sum - 0.7).abs() < 1e-9);
        let health = &merged[&("GET", "/healthz".to_owned(), 200)];
        assert_eq!(health.count, 4);
        // 3 s: only under the last bound, 5 s.
        assert_eq!(&health.counts[..12], &[0; 12]);
        assert_eq!(health.counts[12], 4);
        assert_eq!(merged.len(), 2);
    }

    #[test]
    fn two_sets_of_histograms_on_one_thread_keep_their_own_counts() {
        let first = RequestHistograms::default();
        let second = RequestHistograms::default();
        first.observe("GET", "/a", 200, 0.001);
        second.observe("GET", "/a", 200, 0.001);
        second.observe("GET", "/a", 200, 0.001);
        first.observe("GET", "/a", 200, 0.001);

        assert_eq!(first.merged()[&("GET", "/a".to_owned(), 200)].count, 2);
        assert_eq!(second.merged()[&("GET", "/a".to_owned(), 200)].count, 2);
    }
}
