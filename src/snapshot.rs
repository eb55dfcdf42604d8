//! A value that every worker reads on every request and that changes rarely: the signing keys,
//! the resource registry.
//!
//! Behind an `RwLock<Arc<T>>`, each read takes the lock and clones the `Arc`: four atomic writes
//! to two cache lines that the workers' cores then pass back and forth (about 1% of a
//! client_credentials token, BENCHMARKS.md). Here each thread keeps its own clone of the current
//! `Arc`, tagged with a generation that only a replacement changes. A read whose copy is current
//! loads that counter and writes nothing shared.

use std::any::Any;
use std::cell::RefCell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Most snapshots whose copies one thread keeps: a process has a few, a test binary builds many
/// apps on its threads over time.
const COPIES_PER_THREAD: usize = 8;

/// Tells snapshots apart for their whole lives (an address could be reused).
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// One thread's copy of one snapshot's value.
struct ThreadCopy {
    id: u64,
    generation: u64,
    value: Arc<dyn Any + Send + Sync>,
}

thread_local! {
    static COPIES: RefCell<Vec<ThreadCopy>> = const { RefCell::new(Vec::new()) };
}

/// A shared value, read through per-thread copies.
pub struct Snapshot<T> {
    id: u64,
    /// Changed after every `replace`, so that a copy tagged with it is at least that new.
    generation: AtomicU64,
    current: RwLock<Arc<T>>,
}

impl<T: Send + Sync + 'static> Snapshot<T> {
    /// A snapshot holding `value`.
    pub fn new(value: Arc<T>) -> Self {
        Self {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            generation: AtomicU64::new(0),
            current: RwLock::new(value),
        }
    }

    /// The current value, shared.
    pub fn load(&self) -> Arc<T> {
        self.lock_read().clone()
    }

    /// Makes `value` the current value for every thread's next read.
    pub fn replace(&self, value: Arc<T>) {
        let mut current = self
            .current
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *current = value;
        // Under the lock: generations and values advance together.
        self.generation.fetch_add(1, Ordering::Release);
    }

    /// Calls `read` with the current value, from this thread's copy when it is current.
    pub fn with<R>(&self, read: impl FnOnce(&T) -> R) -> R {
        // Loaded before the value is: a copy is never older than the generation it is tagged with.
        let generation = self.generation.load(Ordering::Acquire);
        let mut read = Some(read);
        let from_copy = COPIES.with(|copies| {
            // A shared borrow: `read` may read another snapshot.
            let copies = copies.try_borrow().ok()?;
            let copy = copies
                .iter()
                .find(|copy| copy.id == self.id && copy.generation == generation)?;
            let value = copy.value.downcast_ref::<T>()?;
            read.take().map(|read| read(value))
        });
        if let Some(answer) = from_copy {
            return answer;
        }
        let value = self.load();
        self.keep_copy(generation, &value);
        let read = read.expect("`read` runs once, and has not");
        read(&value)
    }

    /// Keeps `value` as this thread's copy, dropping the oldest copy when there are too many.
    fn keep_copy(&self, generation: u64, value: &Arc<T>) {
        COPIES.with(|copies| {
            // Borrowed already (a read from inside a read): this read goes without a copy.
            let Ok(mut copies) = copies.try_borrow_mut() else {
                return;
            };
            copies.retain(|copy| copy.id != self.id);
            if copies.len() >= COPIES_PER_THREAD {
                copies.remove(0);
            }
            let value: Arc<dyn Any + Send + Sync> = value.clone();
            copies.push(ThreadCopy {
                id: self.id,
                generation,
                value,
            });
        });
    }

    fn lock_read(&self) -> std::sync::RwLockReadGuard<'_, Arc<T>> {
        // A panic while the lock was held leaves a whole value: `replace` only assigns.
        self.current
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replacement_is_read_at_once_on_every_thread() {
        let snapshot = Arc::new(Snapshot::new(Arc::new(1)));
        assert_eq!(snapshot.with(|value| *value), 1);
        let other = {
            let snapshot = snapshot.clone();
            std::thread::spawn(move || snapshot.with(|value| *value))
        };
        assert_eq!(other.join().unwrap(), 1);

        snapshot.replace(Arc::new(2));
        assert_eq!(snapshot.with(|value| *value), 2);
        let other = std::thread::spawn(move || snapshot.with(|value| *value));
        assert_eq!(other.join().unwrap(), 2);
    }

    #[test]
    fn snapshots_of_one_type_keep_their_own_values() {
        let many: Vec<Snapshot<String>> = (0..COPIES_PER_THREAD * 2)
            .map(|n| Snapshot::new(Arc::new(n.to_string())))
            .collect();
        for _ in 0..2 {
            for (n, snapshot) in many.iter().enumerate() {
                assert_eq!(snapshot.with(|value| value.clone()), n.to_string());
            }
        }
        COPIES.with_borrow(|copies| assert!(copies.len() <= COPIES_PER_THREAD));
    }

    #[test]
    fn a_read_inside_a_read_sees_both_values() {
        let outer = Snapshot::new(Arc::new("outer"));
        let inner = Snapshot::new(Arc::new("inner"));
        // Twice: first with no copies kept, then from them.
        for _ in 0..2 {
            let both = outer.with(|a| inner.with(|b| format!("{a} {b}")));
            assert_eq!(both, "outer inner");
        }
        inner.replace(Arc::new("new"));
        assert_eq!(
            outer.with(|a| inner.with(|b| format!("{a} {b}"))),
            "outer new"
        );
    }

    #[test]
    fn readers_racing_replacements_never_go_back() {
        let snapshot = Arc::new(Snapshot::new(Arc::new(0u64)));
        let readers: Vec<_> = (0..2)
            .map(|_| {
                let snapshot = snapshot.clone();
                std::thread::spawn(move || {
                    let mut last = 0;
                    while last < 10_000 {
                        let seen = snapshot.with(|value| *value);
                        assert!(seen >= last, "read {seen} after {last}");
                        last = seen;
                    }
                })
            })
            .collect();
        for n in 1..=10_000 {
            snapshot.replace(Arc::new(n));
        }
        for reader in readers {
            reader.join().unwrap();
        }
    }
}
