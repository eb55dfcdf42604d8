//! Where log lines go: gathered in memory and written to stderr in batches.
//!
//! env_logger writes and flushes stderr once per record, so the access log cost a `write` system
//! call (and a lock on stderr contended by every worker) per request: several microseconds of
//! each client_credentials token. Here a background thread writes what has gathered every
//! `FLUSH_INTERVAL`; a caller that finds `MAX_BUFFERED` bytes waiting writes them itself, so a
//! stalled stderr slows logging down instead of growing memory. `flush` writes everything before
//! the process exits. A terminal keeps env_logger's own unbuffered, coloured output.
//!
//! The access log's line per request (`info_with`) skips env_logger altogether while lines are
//! batched: its pass over each record (the filter again, its buffer, its target's lock) was about
//! half of the line's cost. The line is laid out by the same `write_prefix`, and its message is
//! written straight after it.

use std::cell::RefCell;
use std::fmt;
use std::io::{self, IsTerminal, Write};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// How long a line may wait in memory; a process killed outright loses at most this much log.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(50);
/// Bytes gathered before the logging caller writes them itself.
const MAX_BUFFERED: usize = 64 * 1024;

/// Lines bound for stderr.
static STDERR: Batches = Batches::new();
/// Whether lines are batched (`init` found no terminal and started the writer thread).
static BATCHED: AtomicBool = AtomicBool::new(false);

/// Starts env_logger (`RUST_LOG`, default `info`), batched unless stderr is a terminal.
pub fn init() {
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    if !io::stderr().is_terminal() {
        builder
            .target(env_logger::Target::Pipe(Box::new(BatchedStderr)))
            // `write_line` writes no styles: "always" passes lines through as they are, where
            // "never" would scan each one for escape codes to strip.
            .write_style(env_logger::WriteStyle::Always)
            .format(write_line);
        let started = std::thread::Builder::new()
            .name("log-writer".into())
            .spawn(|| {
                loop {
                    std::thread::sleep(FLUSH_INTERVAL);
                    flush();
                }
            });
        if started.is_err() {
            // No thread, no batching: write each line as it comes.
            builder.target(env_logger::Target::Stderr);
        } else {
            BATCHED.store(true, Ordering::Relaxed);
        }
    }
    builder.init();
}

/// env_logger's format function: `write_record` into its buffer.
fn write_line(out: &mut env_logger::fmt::Formatter, record: &log::Record<'_>) -> io::Result<()> {
    write_record(out, record.level(), record.target(), record.args())
}

/// env_logger's layout (`[2026-12-06T17:49:02Z INFO  target] message`, no colours).
fn write_record(
    out: &mut impl Write,
    level: log::Level,
    target: &str,
    message: &fmt::Arguments<'_>,
) -> io::Result<()> {
    write_prefix(out, level, target)?;
    writeln!(out, "{message}")
}

/// The part of env_logger's layout before the message. It is formatted again only when the
/// second, the level or the target changes, not for every line.
fn write_prefix(out: &mut impl Write, level: log::Level, target: &str) -> io::Result<()> {
    thread_local! {
        static PREFIX: RefCell<Prefix> = const { RefCell::new(Prefix::new()) };
    }
    let now = chrono::Utc::now();
    PREFIX.with_borrow_mut(|prefix| out.write_all(prefix.at(now, level, target).as_bytes()))
}

/// The last line's `[stamp level target] `, kept per thread.
struct Prefix {
    second: i64,
    stamp: String,
    level: log::Level,
    target: String,
    text: String,
}

impl Prefix {
    const fn new() -> Self {
        Self {
            second: i64::MIN,
            stamp: String::new(),
            level: log::Level::Info,
            target: String::new(),
            text: String::new(),
        }
    }

    fn at(&mut self, now: chrono::DateTime<chrono::Utc>, level: log::Level, target: &str) -> &str {
        if self.second != now.timestamp() {
            self.second = now.timestamp();
            self.stamp = now.format("%Y-%m-%dT%H:%M:%SZ").to_string();
            self.text.clear();
        }
        if self.text.is_empty() || self.level != level || self.target != target {
            self.level = level;
            target.clone_into(&mut self.target);
            self.text = format!("[{} {level:<5} {target}] ", self.stamp);
        }
        &self.text
    }
}

/// Logs at `info` under `target`, whose `info` lines the caller knows are enabled, the message
/// that `write` appends (UTF-8) to the line: straight into the batch when lines are batched, else
/// through env_logger. The access log's line per request is written this way, without
/// `core::fmt` and without a copy.
pub fn info_with(target: &'static str, write: impl FnOnce(&mut Vec<u8>)) {
    thread_local! {
        static LINE: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    LINE.with_borrow_mut(|line| {
        line.clear();
        if BATCHED.load(Ordering::Relaxed) {
            // Writing into memory cannot fail.
            let _ = write_prefix(line, log::Level::Info, target);
            write(line);
            line.push(b'\n');
            if STDERR.append(line) {
                flush();
            }
        } else {
            write(line);
            log::info!(target: target, "{}", String::from_utf8_lossy(line));
        }
        // A line for a long path must not keep its buffer's size for the thread's life.
        if line.capacity() > 4096 {
            *line = Vec::new();
        }
    });
}

/// Writes every gathered line to stderr now.
pub fn flush() {
    STDERR.write_to(&mut io::stderr().lock());
}

/// Bytes gathered for one output.
struct Batches {
    /// Bytes not yet written.
    pending: Mutex<Vec<u8>>,
    /// Held while writing, so batches come out in the order they were gathered; always taken
    /// before `pending`.
    writing: Mutex<Vec<u8>>,
}

impl Batches {
    const fn new() -> Self {
        Self {
            pending: Mutex::new(Vec::new()),
            writing: Mutex::new(Vec::new()),
        }
    }

    /// Gathers `bytes`; whether `MAX_BUFFERED` bytes now wait.
    fn append(&self, bytes: &[u8]) -> bool {
        let mut pending = lock(&self.pending);
        pending.extend_from_slice(bytes);
        pending.len() >= MAX_BUFFERED
    }

    fn write_to(&self, out: &mut impl Write) {
        let mut writing = lock(&self.writing);
        // Swapped, not copied: both buffers keep their capacity.
        std::mem::swap(&mut *lock(&self.pending), &mut *writing);
        if !writing.is_empty() {
            // Nowhere to report a failure to write the log.
            let _ = out.write_all(&writing);
            writing.clear();
        }
    }
}

/// A panic elsewhere while logging must not silence the log.
fn lock(buffer: &Mutex<Vec<u8>>) -> std::sync::MutexGuard<'_, Vec<u8>> {
    buffer
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// env_logger's target.
struct BatchedStderr;

impl Write for BatchedStderr {
    fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
        if STDERR.append(bytes) {
            flush();
        }
        Ok(bytes.len())
    }

    /// env_logger flushes after every record; the log-writer thread does it instead.
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_are_laid_out_as_env_logger_lays_them_out() {
        let mut line = Vec::new();
        write_record(
            &mut line,
            log::Level::Info,
            "authd::access",
            &format_args!("127.0.0.1 \"GET /healthz\" 200 2 0.051ms"),
        )
        .unwrap();
        let line = String::from_utf8(line).unwrap();

        // `[2026-12-07T05:38:45Z INFO  authd::access] ...`: RFC 3339 seconds in UTC, the level
        // padded to five, as env_logger's default format writes it.
        let (stamp, rest) = line.strip_prefix('[').unwrap().split_once(' ').unwrap();
        assert_eq!(stamp.len(), "2026-12-07T05:38:45Z".len(), "{line}");
        assert!(
            chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
            "{line}"
        );
        assert_eq!(
            rest,
            "INFO  authd::access] 127.0.0.1 \"GET /healthz\" 200 2 0.051ms\n"
        );
    }

    #[test]
    fn each_record_gets_its_own_level_and_target() {
        let mut lines = Vec::new();
        for (level, target) in [
            (log::Level::Info, "authd::access"),
            (log::Level::Warn, "authd::audit"),
            (log::Level::Warn, "authd::audit"),
            (log::Level::Info, "authd::access"),
        ] {
            write_record(&mut lines, level, target, &format_args!("x")).unwrap();
        }
        let lines = String::from_utf8(lines).unwrap();
        let tails: Vec<&str> = lines
            .lines()
            .map(|line| line.split_once(' ').unwrap().1)
            .collect();
        assert_eq!(
            tails,
            [
                "INFO  authd::access] x",
                "WARN  authd::audit] x",
                "WARN  authd::audit] x",
                "INFO  authd::access] x"
            ]
        );
    }

    #[test]
    fn lines_wait_in_order_until_written_and_never_pile_up() {
        let batches = Batches::new();
        let mut out = Vec::new();
        assert!(!batches.append(b"first\n"));
        assert!(!batches.append(b"second\n"));
        assert!(out.is_empty());
        batches.write_to(&mut out);
        assert_eq!(out, b"first\nsecond\n");
        assert!(lock(&batches.pending).is_empty());

        // The caller learns when the bound is reached, and writing empties the buffer.
        let line = vec![b'x'; 1024];
        let appended = (0..MAX_BUFFERED / line.len())
            .map(|_| batches.append(&line))
            .collect::<Vec<_>>();
        assert_eq!(appended.iter().filter(|full| **full).count(), 1);
        assert_eq!(appended.last(), Some(&true));
        batches.write_to(&mut out);
        assert_eq!(out.len(), "first\nsecond\n".len() + MAX_BUFFERED);
        assert!(lock(&batches.pending).is_empty());
    }
}
