//! The command adapter: runs the admin-configured program (`command`: program and arguments,
//! no shell) once per batch with the batch as JSON Lines on its stdin (the objects of
//! [`super::jsonl`]). Success is exit code 0.
//!
//! Environment: `LONGHALL_BATCH_ID`, `LONGHALL_FIRST_EVENT`, `LONGHALL_LAST_EVENT`,
//! `LONGHALL_EVENTS`, `LONGHALL_DOMAIN`, `LONGHALL_OUTPUT_DIR` (the configured output folder) and
//! `LONGHALL_FILES_DIR` (the file store, where `<key>` is each file's bytes).
//!
//! The program must read its stdin to the end; a program that exits before that, exits with
//! another code, is killed by a signal, or runs past the time limit (its whole process group is
//! then killed) fails the batch, which is retried next cycle with the same `LONGHALL_BATCH_ID`.
//! Its stderr (the first 64 KiB) is quoted in the error. Delivery is at least once: if the server
//! stops after the program exited 0 but before the batch was committed, the batch is sent again,
//! so the program must be idempotent on `LONGHALL_BATCH_ID`.

use std::io::{BufWriter, Write};
use std::process::Command;
use std::time::Duration;

use crate::adapter::{Adapter, AdapterConfig, AdapterError, Output};
use crate::batch::{BatchInfo, EventSource, SourceError};
use crate::process;
use crate::xml::XmlOptions;

use super::jsonl::write_event_json;

pub struct CommandAdapter {
    config: AdapterConfig,
    timeout: Duration,
}

impl CommandAdapter {
    pub fn new(timeout: Duration) -> CommandAdapter {
        CommandAdapter { config: AdapterConfig::default(), timeout }
    }
}

enum Feed {
    Source(SourceError),
    Io(std::io::Error),
}

fn quote(text: &str) -> String {
    let t = text.trim();
    if t.is_empty() { String::new() } else { format!(": {t}") }
}

impl Adapter for CommandAdapter {
    fn name(&self) -> &'static str {
        "command"
    }

    fn configure(&mut self, config: &AdapterConfig) -> Result<(), AdapterError> {
        if config.command.first().is_none_or(|p| p.trim().is_empty()) {
            return Err(AdapterError::Config(
                "the command adapter needs `command`: the program to run and its arguments".into(),
            ));
        }
        self.config = config.clone();
        Ok(())
    }

    fn translate(
        &mut self,
        batch: &BatchInfo,
        events: &mut dyn EventSource,
        _out: &mut Output,
    ) -> Result<(), AdapterError> {
        let Some((program, args)) = self.config.command.split_first() else {
            return Err(AdapterError::Config("the command adapter has no `command` configured".into()));
        };
        let opts = XmlOptions::from_config(&self.config);
        let mut cmd = Command::new(program);
        cmd.args(args)
            .env("LONGHALL_BATCH_ID", &batch.id)
            .env("LONGHALL_FIRST_EVENT", batch.first_event.to_string())
            .env("LONGHALL_LAST_EVENT", batch.last_event.to_string())
            .env("LONGHALL_EVENTS", batch.events.to_string())
            .env("LONGHALL_DOMAIN", &batch.domain)
            .env("LONGHALL_OUTPUT_DIR", &self.config.output_dir)
            .env("LONGHALL_FILES_DIR", &self.config.files_dir);
        let feed = move |stdin: &mut dyn Write| {
            let mut w = BufWriter::with_capacity(64 * 1024, stdin);
            while let Some(conv) = events.next_conversation().map_err(Feed::Source)? {
                while let Some(ev) = events.next_event().map_err(Feed::Source)? {
                    write_event_json(&mut w, batch, &conv.room, &ev, opts).map_err(Feed::Io)?;
                }
            }
            w.flush().map_err(Feed::Io)
        };
        let done =
            process::run(cmd, self.timeout, process::Stdin::Feed(Box::new(feed))).map_err(|e| match e.kind() {
                std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => {
                    AdapterError::Config(format!("the command {program:?} could not be started: {e}"))
                }
                _ => AdapterError::Failed(format!("the command {program:?} could not be started: {e}")),
            })?;
        let stderr = if done.stderr.trim().is_empty() { &done.stdout } else { &done.stderr };
        if done.timed_out {
            return Err(AdapterError::Failed(format!(
                "the command {program:?} ran longer than {:.1} s and was killed{}",
                self.timeout.as_secs_f64(),
                quote(stderr)
            )));
        }
        match done.feed {
            Err(Feed::Source(e)) => return Err(AdapterError::Source(e)),
            Err(Feed::Io(e)) => {
                return Err(AdapterError::Failed(format!(
                    "the command {program:?} did not read the whole batch ({e}; {}){}",
                    done.status,
                    quote(stderr)
                )));
            }
            Ok(()) => {}
        }
        // Exit code 0 with input left in the pipe: the program never saw part of the batch.
        if done.unread > 0 && done.status.success() {
            return Err(AdapterError::Failed(format!(
                "the command {program:?} exited with code 0 before reading the whole batch (it must read its \
                 standard input to the end); the batch was not delivered and is retried next run{}",
                quote(stderr)
            )));
        }
        if !done.status.success() {
            return Err(AdapterError::Failed(format!(
                "the command {program:?} failed ({}){}",
                done.status,
                quote(stderr)
            )));
        }
        Ok(())
    }
}
