//! `--workers N`: the generator spread over N worker processes, each holding the connections of
//! its share of the users, so that one run can exceed one process's open-file limit.
//!
//! A worker is the same executable run as `longhall stress worker` (hidden). The protocol is
//! JSON lines: the parent writes the worker's [`NodeSpec`] as the first line of the worker's
//! stdin and then one [`Request`] per line; the worker answers each line with one [`Reply`] on
//! its stdout (`ready` for the spec). Its stderr passes through. The parent sends each request
//! to every worker and waits for every reply before the next one, so the phases stay aligned
//! across the processes. A worker exits as soon as its stdin closes: when the run is over, or
//! when the parent is gone however it ended; the parent kills the workers when it stops early.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio::sync::mpsc;

use crate::node::{Node, NodeSpec, Reply, Request};
use crate::progress::Progress;

/// How long a worker may take to start and build the workload.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// The worker processes of a run, seen from the parent.
pub struct Fleet {
    workers: Vec<Worker>,
    replies: mpsc::UnboundedReceiver<(usize, Option<String>)>,
    /// The lowest open-file limit of the workers.
    pub nofile: u64,
}

struct Worker {
    child: Child,
    /// Lines for the worker's stdin (a thread writes them); dropping it closes the stdin.
    input: Option<std::sync::mpsc::Sender<String>>,
}

impl Fleet {
    /// Starts one worker per spec and waits until each is ready.
    pub async fn start(exe: &Path, specs: Vec<NodeSpec>, progress: &Progress) -> anyhow::Result<Fleet> {
        let (tx, replies) = mpsc::unbounded_channel();
        let mut fleet = Fleet { workers: Vec::new(), replies, nofile: u64::MAX };
        for (k, spec) in specs.into_iter().enumerate() {
            let mut child = Command::new(exe)
                .args(["stress", "worker"])
                // A worker needs no administrator's secret.
                .env_remove("LONGHALL_TOKEN")
                .env_remove("LONGHALL_ADMIN_PASSWORD")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .with_context(|| format!("starting worker {k} ({} stress worker)", exe.display()))?;
            let pipes = (child.stdin.take(), child.stdout.take());
            fleet.workers.push(Worker { child, input: None });
            let (Some(mut stdin), Some(stdout)) = pipes else { bail!("worker {k} has no pipes") };
            let (input, lines) = std::sync::mpsc::channel::<String>();
            std::thread::spawn(move || {
                for line in lines {
                    let written = stdin.write_all(line.as_bytes()).and_then(|_| stdin.write_all(b"\n"));
                    if written.and_then(|_| stdin.flush()).is_err() {
                        return;
                    }
                }
            });
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if tx.send((k, Some(line))).is_err() {
                        return;
                    }
                }
                let _ = tx.send((k, None));
            });
            let _ = input.send(serde_json::to_string(&spec)?);
            fleet.workers[k].input = Some(input);
        }
        for (k, r) in fleet.gather("start", START_TIMEOUT, progress).await?.into_iter().enumerate() {
            let Reply::Ready { nofile, users } = r else { bail!("worker {k} answered the start with {r:?}") };
            fleet.nofile = fleet.nofile.min(nofile);
            if users + 100 > nofile {
                eprintln!(
                    "longhall stress: worker {k} is to open {users} connections but its open-file limit is {nofile}; \
                     use more --workers"
                );
            }
        }
        Ok(fleet)
    }

    pub fn len(&self) -> usize {
        self.workers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.workers.is_empty()
    }

    /// Sends `req` to every worker and waits (at most `timeout`) for every reply, in the
    /// workers' order. A worker that ends, fails or stays silent ends the call with an error.
    pub async fn call(
        &mut self,
        req: &Request,
        what: &str,
        timeout: Duration,
        progress: &Progress,
    ) -> anyhow::Result<Vec<Reply>> {
        let line = serde_json::to_string(req)?;
        for (k, w) in self.workers.iter().enumerate() {
            let sent = w.input.as_ref().is_some_and(|i| i.send(line.clone()).is_ok());
            if !sent {
                bail!("worker {k} (pid {}) no longer takes requests", w.child.id());
            }
        }
        self.gather(what, timeout, progress).await
    }

    async fn gather(&mut self, what: &str, timeout: Duration, progress: &Progress) -> anyhow::Result<Vec<Reply>> {
        let deadline = tokio::time::Instant::now() + timeout;
        let n = self.workers.len();
        let mut got: Vec<Option<Reply>> = vec![None; n];
        let mut done = 0;
        while done < n {
            let next = tokio::time::timeout_at(deadline, self.replies.recv()).await;
            let (k, line) = match next {
                Err(_) => {
                    progress.clear();
                    let silent: Vec<String> = got
                        .iter()
                        .enumerate()
                        .filter(|(_, r)| r.is_none())
                        .map(|(k, _)| format!("{k} (pid {})", self.workers[k].child.id()))
                        .collect();
                    bail!(
                        "worker {} did not answer in the {what} phase within {} s; the run is stopped",
                        silent.join(", "),
                        timeout.as_secs()
                    );
                }
                Ok(None) => bail!("the workers' output is gone"),
                Ok(Some(x)) => x,
            };
            let pid = self.workers[k].child.id();
            let Some(line) = line else {
                progress.clear();
                let status = self.exit_status(k).await;
                bail!("worker {k} (pid {pid}) ended in the {what} phase ({status}); the run is stopped");
            };
            let reply: Reply = serde_json::from_str(&line).with_context(|| {
                format!(
                    "worker {k} (pid {pid}) wrote an unreadable line: {}",
                    line.chars().take(200).collect::<String>()
                )
            })?;
            if let Reply::Failed { error } = reply {
                progress.clear();
                bail!("worker {k} (pid {pid}) failed in the {what} phase: {error}");
            }
            if got[k].is_some() {
                bail!("worker {k} (pid {pid}) answered twice in the {what} phase");
            }
            got[k] = Some(reply);
            done += 1;
            progress.show(&format!("{what}: {done}/{n} workers done"));
        }
        progress.clear();
        Ok(got.into_iter().flatten().collect())
    }

    /// How worker `k` ended (waits a little for the process to be gone).
    async fn exit_status(&mut self, k: usize) -> String {
        for _ in 0..200 {
            match self.workers[k].child.try_wait() {
                Ok(Some(s)) => return s.to_string(),
                Ok(None) => tokio::time::sleep(Duration::from_millis(10)).await,
                Err(e) => return e.to_string(),
            }
        }
        "closed its output but still runs".into()
    }

    /// The normal end: closes every worker's stdin (the worker exits) and waits a little.
    pub async fn finish(mut self) {
        for w in &mut self.workers {
            w.input = None;
        }
        for _ in 0..500 {
            if self.workers.iter_mut().all(|w| !matches!(w.child.try_wait(), Ok(None))) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Drop kills any that are left.
    }
}

impl Drop for Fleet {
    fn drop(&mut self) {
        for w in &mut self.workers {
            w.input = None;
            if matches!(w.child.try_wait(), Ok(None)) {
                let _ = w.child.kill();
            }
            let _ = w.child.wait();
        }
    }
}

/// Writes one reply line on stdout.
fn emit(reply: &Reply) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    serde_json::to_writer(&mut out, reply)?;
    out.write_all(b"\n")?;
    out.flush()?;
    Ok(())
}

/// `longhall stress worker`: one worker process, driven over stdin and stdout.
pub fn worker_main() -> anyhow::Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                return;
            }
        }
        // The input closed: the run is over, or the parent is gone. Either way, stop now (the
        // connections close with the process).
        std::process::exit(0);
    });
    rt.block_on(async move {
        let result = async {
            let spec = rx.recv().await.context("no spec on stdin")?;
            let spec: NodeSpec = serde_json::from_str(&spec).context("an unreadable spec")?;
            let users = spec.owned_count();
            let mut node = Node::new(spec, false)?;
            emit(&Reply::Ready { nofile: node.nofile, users })?;
            while let Some(line) = rx.recv().await {
                let req: Request = serde_json::from_str(&line).context("an unreadable request")?;
                let reply = node.handle(req).await;
                emit(&reply)?;
            }
            anyhow::Ok(())
        }
        .await;
        if let Err(e) = &result {
            let _ = emit(&Reply::Failed { error: format!("{e:#}") });
        }
        result
    })
}
