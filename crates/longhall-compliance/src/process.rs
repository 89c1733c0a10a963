//! Running a child process with a wall-clock limit: the XSLT worker and the `command` adapter.
//!
//! The child gets its own process group, so that on expiry the whole group (anything it
//! started too) is killed. Its stdout and stderr are read on threads (kept up to a cap), its
//! stdin is fed by the caller on the calling thread (or held open as a lifeline) while a
//! watchdog thread enforces the limit.

use std::io::{self, Read, Write};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
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
    /// Bytes of the input the child had not read when it exited (0 when it read them all, or
    /// for a lifeline); counted up to the first read that finds some.
    pub unread: u64,
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

/// Writes a child's whole input to its stdin.
pub(crate) type FeedFn<'a, E> = Box<dyn FnOnce(&mut dyn Write) -> Result<(), E> + 'a>;

/// What the child's stdin is for.
pub(crate) enum Stdin<'a, E> {
    /// The caller writes the child's input. It counts as read only if the pipe is empty when
    /// the child has exited ([`Finished::unread`]): a pipe buffers 64 KiB, so a program that
    /// exits without reading a small input would otherwise look like it took it.
    Feed(FeedFn<'a, E>),
    /// Nothing is written and the pipe stays open until the child has exited: the child
    /// watches it and exits at end of file, i.e. when this process dies (even by SIGKILL).
    /// The child's pid is written to the file, if one is given, while it runs.
    Lifeline { pid_file: Option<&'a Path> },
}

/// Spawns `cmd` in a new process group with stdout/stderr captured, gives it its stdin as
/// `stdin` says, waits for it, and kills the group if it runs longer than `timeout` (or if
/// feeding fails). An error only when it can't be started.
pub(crate) fn run<E>(mut cmd: Command, timeout: Duration, stdin: Stdin<'_, E>) -> io::Result<Finished<E>> {
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    // Our own copy of the read end (Feed): what is left in it after the child exited was never
    // read by the child.
    let (mut writer, spare) = match &stdin {
        Stdin::Feed(_) => {
            let (reader, writer) = io::pipe()?;
            let spare = reader.try_clone()?;
            cmd.stdin(Stdio::from(reader));
            (Some(writer), Some(spare))
        }
        Stdin::Lifeline { .. } => {
            cmd.stdin(Stdio::piped());
            (None, None)
        }
    };
    let mut child = cmd.spawn()?;
    // The read end given to the child must not stay open here too.
    drop(cmd);
    let pid = child.id();
    let lifeline = child.stdin.take();
    let pid_file = match &stdin {
        Stdin::Lifeline { pid_file: Some(p) } => std::fs::write(p, pid.to_string()).ok().map(|()| *p),
        _ => None,
    };
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
    // Waits for the child, then looks for input it left in the pipe. The first unread bytes
    // settle it; dropping our read end then makes further writes fail (EPIPE) instead of
    // blocking, so a feed to a dead child ends at once.
    let waiter = thread::spawn(move || {
        let status = child.wait();
        let mut unread = 0u64;
        if let Some(mut spare) = spare {
            let mut buf = [0u8; 8192];
            loop {
                match spare.read(&mut buf) {
                    Ok(0) => break,
                    Ok(n) => {
                        unread += n as u64;
                        break;
                    }
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(_) => break,
                }
            }
        }
        (status, unread)
    });
    let fed = match stdin {
        Stdin::Feed(feed) => {
            let mut w = writer.take().expect("a feed has a pipe");
            let fed = feed(&mut w);
            // End of input for the child (and for the waiter's read of what is left).
            drop(w);
            if fed.is_err() {
                kill_process_group(pid);
            }
            fed
        }
        Stdin::Lifeline { .. } => Ok(()),
    };
    let (status, unread) = waiter.join().unwrap_or_else(|_| (Err(io::Error::other("waiting for the child failed")), 0));
    drop(lifeline);
    if let Some(p) = pid_file {
        let _ = std::fs::remove_file(p);
    }
    let _ = done_tx.send(());
    // Anything the child left running in its group would keep the pipes open: end it too.
    kill_process_group(pid);
    let _ = watchdog.join();
    let status = status?;
    // The child and its group are gone, so nothing keeps the pipes open (unless a descendant
    // left the group on purpose) and these joins end.
    let stdout = stdout.map(|t| t.join().unwrap_or_default()).unwrap_or_default();
    let stderr = stderr.map(|t| t.join().unwrap_or_default()).unwrap_or_default();
    Ok(Finished { status, stdout, stderr, timed_out: timed_out.load(Ordering::SeqCst), pid, feed: fed, unread })
}
