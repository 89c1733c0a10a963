//! Running a child process with a wall-clock limit: the XSLT worker and the `command` adapter.
//!
//! The child gets its own process group, so that on expiry the whole group (anything it
//! started too) is killed. Its stdout and stderr are read on threads (kept up to a cap), its
//! stdin is fed by the caller on the calling thread while a watchdog thread enforces the limit.

use std::io::{self, Read};
use std::os::unix::process::CommandExt;
use std::process::{ChildStdin, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use crate::xslt::engine::kill_process_group;

/// How much of stdout/stderr is kept (the rest is read and dropped).
pub(crate) const CAPTURE_LIMIT: usize = 64 * 1024;

pub(crate) struct Finished<E> {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub timed_out: bool,
    pub pid: u32,
    /// What feeding stdin returned.
    pub feed: Result<(), E>,
}

fn read_capped<R: Read>(mut r: R) -> String {
    let mut kept = Vec::new();
    let mut buf = [0u8; 8192];
    let mut dropped = 0usize;
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let room = CAPTURE_LIMIT.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
                dropped += n.saturating_sub(room);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        }
    }
    let mut s = String::from_utf8_lossy(&kept).into_owned();
    if dropped > 0 {
        s.push_str(&format!("\n[… {dropped} more bytes not kept]"));
    }
    s
}

/// Spawns `cmd` in a new process group with stdout/stderr captured, calls `feed` with its
/// stdin (closed when `feed` returns), waits for it, and kills the group if it runs longer
/// than `timeout` (or if `feed` fails). An error only when it can't be started.
pub(crate) fn run<E>(
    mut cmd: Command,
    timeout: Duration,
    feed: impl FnOnce(ChildStdin) -> Result<(), E>,
) -> io::Result<Finished<E>> {
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let mut child = cmd.spawn()?;
    let pid = child.id();
    let stdout = child.stdout.take().map(|p| thread::spawn(move || read_capped(p)));
    let stderr = child.stderr.take().map(|p| thread::spawn(move || read_capped(p)));
    let timed_out = Arc::new(AtomicBool::new(false));
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let watchdog = {
        let timed_out = Arc::clone(&timed_out);
        thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(timeout) {
                timed_out.store(true, Ordering::SeqCst);
                kill_process_group(pid);
            }
        })
    };
    let stdin = child.stdin.take().expect("stdin is piped");
    let fed = feed(stdin);
    if fed.is_err() {
        kill_process_group(pid);
    }
    let status = child.wait();
    let _ = done_tx.send(());
    // Anything the child left running in its group would keep the pipes open: end it too.
    kill_process_group(pid);
    let _ = watchdog.join();
    let status = status?;
    // The child and its group are gone, so nothing keeps the pipes open (unless a descendant
    // left the group on purpose) and these joins end.
    let stdout = stdout.map(|t| t.join().unwrap_or_default()).unwrap_or_default();
    let stderr = stderr.map(|t| t.join().unwrap_or_default()).unwrap_or_default();
    Ok(Finished { status, stdout, stderr, timed_out: timed_out.load(Ordering::SeqCst), pid, feed: fed })
}
