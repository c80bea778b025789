//! Where the proxy's two streams of lines go: the audit log (one JSON line
//! per decision, in the filter's format) and the proxy's own log (faults,
//! reloads, the filter's other log lines), each to standard output or
//! error, a file, or memory.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{SystemTime, UNIX_EPOCH};

/// Where a stream of lines goes.
#[derive(Debug, Clone)]
pub enum Sink {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
    /// A file, created if missing and appended to.
    File(PathBuf),
    /// Kept in memory, one string per line (for tests and embedders).
    Memory(Arc<Mutex<Vec<String>>>),
}

/// An open sink.
#[derive(Debug)]
enum Writer {
    Stdout,
    Stderr,
    File(Mutex<File>, PathBuf),
    Memory(Arc<Mutex<Vec<String>>>),
}

impl Writer {
    fn open(sink: &Sink) -> Result<Self, String> {
        Ok(match sink {
            Sink::Stdout => Self::Stdout,
            Sink::Stderr => Self::Stderr,
            Sink::Memory(m) => Self::Memory(m.clone()),
            Sink::File(p) => {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| {
                        format!(
                            "cannot open {} for appending: {e}; check that its directory exists and is writable",
                            p.display()
                        )
                    })?;
                Self::File(Mutex::new(f), p.clone())
            }
        })
    }

    /// Writes one line. A failed write is reported once on standard error
    /// per line; the proxy keeps serving (losing a log line must not stop
    /// traffic, and the audit lines also reach the filter's metrics).
    fn line(&self, line: &str) {
        let result = match self {
            Self::Stdout => writeln!(std::io::stdout().lock(), "{line}"),
            Self::Stderr => writeln!(std::io::stderr().lock(), "{line}"),
            Self::File(f, _) => {
                let mut f = f.lock().unwrap_or_else(PoisonError::into_inner);
                f.write_all(line.as_bytes())
                    .and_then(|()| f.write_all(b"\n"))
            }
            Self::Memory(m) => {
                m.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(line.to_owned());
                Ok(())
            }
        };
        if let Err(e) = result {
            let to = match self {
                Self::File(_, p) => p.display().to_string(),
                Self::Stdout => "standard output".into(),
                Self::Stderr => "standard error".into(),
                Self::Memory(_) => "memory".into(),
            };
            let _ = writeln!(
                std::io::stderr().lock(),
                "egress-proxy: error: cannot write a log line to {to}: {e}"
            );
        }
    }
}

/// Severity of a proxy log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Level {
    Info,
    Warn,
    Error,
}

impl Level {
    fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Warn => "warn",
            Self::Error => "error",
        }
    }
}

/// The proxy's log and audit log, shared by every task.
#[derive(Debug, Clone)]
pub(crate) struct Log {
    inner: Arc<(Writer, Writer)>,
}

impl Log {
    /// Opens both sinks.
    pub(crate) fn open(log: &Sink, audit: &Sink) -> Result<Self, String> {
        Ok(Self {
            inner: Arc::new((Writer::open(log)?, Writer::open(audit)?)),
        })
    }

    /// `<time> egress-proxy <level>: <message>`.
    pub(crate) fn write(&self, level: Level, message: &str) {
        let mut line = String::with_capacity(message.len() + 48);
        rfc3339(&mut line, SystemTime::now());
        let _ = write!(line, " egress-proxy {}: {message}", level.as_str());
        self.inner.0.line(&line);
    }

    pub(crate) fn info(&self, message: &str) {
        self.write(Level::Info, message);
    }

    pub(crate) fn warn(&self, message: &str) {
        self.write(Level::Warn, message);
    }

    pub(crate) fn error(&self, message: &str) {
        self.write(Level::Error, message);
    }

    /// One audit line, as it is.
    pub(crate) fn audit(&self, line: &str) {
        self.inner.1.line(line);
    }
}

/// Appends `t` as an RFC 3339 UTC timestamp with milliseconds
/// (`2026-01-31T12:00:00.000Z`), the audit log's format.
pub(crate) fn rfc3339(out: &mut String, t: SystemTime) {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let (y, m, day) = date(days);
    let s = secs % 86_400;
    let _ = write!(
        out,
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        s / 3600,
        s / 60 % 60,
        s % 60,
        d.subsec_millis()
    );
}

/// The proleptic Gregorian date of a day number (days since 1970-01-01),
/// counted in 400-year cycles of 146,097 days that start on March 1st, so
/// that the leap day is the last day of a cycle year.
fn date(days: i64) -> (i64, i64, i64) {
    let shifted = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let cycle = shifted.div_euclid(146_097);
    let day_of_cycle = shifted.rem_euclid(146_097);
    let year_of_cycle =
        (day_of_cycle - day_of_cycle / 1460 + day_of_cycle / 36_524 - day_of_cycle / 146_096) / 365;
    let day_of_year =
        day_of_cycle - (365 * year_of_cycle + year_of_cycle / 4 - year_of_cycle / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_cycle + cycle * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn at(secs: u64, ms: u64) -> String {
        let mut s = String::new();
        rfc3339(
            &mut s,
            UNIX_EPOCH + Duration::from_secs(secs) + Duration::from_millis(ms),
        );
        s
    }

    #[test]
    fn timestamps() {
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000Z");
        assert_eq!(at(951_782_400, 5), "2000-02-29T00:00:00.005Z");
        assert_eq!(at(1_709_210_096, 789), "2024-02-29T12:34:56.789Z");
        assert_eq!(at(4_107_542_399, 999), "2100-02-28T23:59:59.999Z");
        assert_eq!(at(4_107_542_400, 0), "2100-03-01T00:00:00.000Z");
    }

    #[test]
    fn memory_and_file_sinks() {
        let mem = Arc::new(Mutex::new(Vec::new()));
        let dir = std::env::temp_dir().join(format!("egress-proxy-log-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("audit.jsonl");
        let _ = std::fs::remove_file(&file);
        let log = Log::open(&Sink::Memory(mem.clone()), &Sink::File(file.clone())).unwrap();
        log.warn("upstream refused");
        log.audit("{\"a\":1}");
        log.audit("{\"a\":2}");
        let lines = mem.lock().unwrap().clone();
        assert_eq!(lines.len(), 1);
        assert!(
            lines[0].ends_with(" egress-proxy warn: upstream refused"),
            "{lines:?}"
        );
        assert_eq!(
            std::fs::read_to_string(&file).unwrap(),
            "{\"a\":1}\n{\"a\":2}\n"
        );
        let missing = Sink::File(dir.join("no/such/dir/audit.jsonl"));
        let err = Log::open(&Sink::Stderr, &missing).unwrap_err();
        assert!(err.contains("check that its directory exists"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
