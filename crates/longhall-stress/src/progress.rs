//! The live progress line: only on a terminal, at most four updates a second.

use std::io::Write;
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct Progress {
    enabled: bool,
    last: Mutex<Option<Instant>>,
}

impl Progress {
    pub fn new(enabled: bool) -> Progress {
        Progress { enabled, last: Mutex::new(None) }
    }

    pub fn show(&self, line: &str) {
        if !self.enabled {
            return;
        }
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        if last.is_some_and(|t| t.elapsed() < Duration::from_millis(250)) {
            return;
        }
        *last = Some(Instant::now());
        let mut out = std::io::stdout().lock();
        let _ = write!(out, "\r\x1b[K{line}");
        let _ = out.flush();
    }

    pub fn clear(&self) {
        if self.enabled {
            let mut out = std::io::stdout().lock();
            let _ = write!(out, "\r\x1b[K");
            let _ = out.flush();
            *self.last.lock().unwrap_or_else(|e| e.into_inner()) = None;
        }
    }
}
