//! The XML adapter (the default): the documented format, optionally post-processed by an XSLT
//! 1.0 stylesheet (`custom_configuration`).
//!
//! Files: `<batch id>.xml`, or with `one_chat_room_per_output_file` one
//! `<batch id>-room<room id>.xml` per conversation. With a stylesheet, the raw XML is written
//! to a private work folder inside the output folder, every file is transformed by one worker
//! run, and the results are staged under the same stems with the extension `xsl:output` implies
//! (`.xml`, `.html`, `.txt`, `.csv`; see [`crate::xslt::output_extension`]).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::PathBuf;

use crate::adapter::{Adapter, AdapterConfig, AdapterError, Output};
use crate::attachments::Attachments;
use crate::batch::{BatchInfo, Conversation, EventSource};
use crate::xml::{XmlOptions, XmlWriter};
use crate::xslt::{XsltError, XsltRunner, output_extension, test_stylesheet_with};

use super::file_stem;

const BUFFER: usize = 256 * 1024;

/// The name prefix of the private folder that holds a batch's raw XML while a stylesheet runs;
/// the processing cycle removes any left by a crash.
pub const WORK_FOLDER_PREFIX: &str = ".xslt-work-";

pub struct XmlAdapter {
    runner: XsltRunner,
    config: AdapterConfig,
    stylesheet: Option<String>,
    extension: &'static str,
}

impl XmlAdapter {
    pub fn new(runner: XsltRunner) -> XmlAdapter {
        XmlAdapter { runner, config: AdapterConfig::default(), stylesheet: None, extension: ".xml" }
    }
}

fn xslt_error(e: XsltError) -> AdapterError {
    match e {
        XsltError::Stylesheet { .. } => AdapterError::Config(format!("custom_configuration: {e}")),
        other => AdapterError::Failed(other.to_string()),
    }
}

/// Writes one conversation: every event of `conv` from `events`, recording file transfers.
pub(crate) fn write_conversation<W: Write>(
    w: &mut XmlWriter<W>,
    conv: &Conversation,
    events: &mut dyn EventSource,
    mut attachments: Option<&mut Attachments>,
    out: &mut Output,
) -> Result<(), AdapterError> {
    w.begin_conversation(&conv.room, &conv.first)?;
    while let Some(ev) = events.next_event()? {
        w.message(&ev)?;
        if let Some(a) = attachments.as_deref_mut() {
            a.record(out, &conv.room, &ev)?;
        }
    }
    w.end_conversation()?;
    Ok(())
}

impl XmlAdapter {
    /// Opens the file for `stem`: the staged output itself, or (with a stylesheet) a raw file
    /// in `work` whose transformation goes to the staged output.
    fn open(
        &self,
        work: Option<&tempfile::TempDir>,
        jobs: &mut Vec<(PathBuf, PathBuf)>,
        out: &mut Output,
        stem: &str,
    ) -> Result<XmlWriter<BufWriter<File>>, AdapterError> {
        let file = match work {
            None => out.create(&format!("{stem}.xml"))?,
            Some(dir) => {
                let raw = dir.path().join(format!("{stem}.xml"));
                let file = File::create(&raw)?;
                drop(out.create(&format!("{stem}{}", self.extension))?);
                let staged = out
                    .files()
                    .last()
                    .map(|f| f.temp.clone())
                    .ok_or_else(|| AdapterError::Failed("no staged file".into()))?;
                jobs.push((raw, staged));
                file
            }
        };
        let mut w = XmlWriter::new(BufWriter::with_capacity(BUFFER, file), XmlOptions::from_config(&self.config));
        w.start()?;
        Ok(w)
    }
}

impl Adapter for XmlAdapter {
    fn name(&self) -> &'static str {
        "xml"
    }

    /// Checks a stylesheet by running it on the sample batch; a broken one is a
    /// configuration error naming its line.
    fn configure(&mut self, config: &AdapterConfig) -> Result<(), AdapterError> {
        let stylesheet = config.custom_configuration.clone().filter(|s| !s.trim().is_empty());
        if let Some(s) = &stylesheet {
            test_stylesheet_with(&self.runner, s, XmlOptions::from_config(config)).map_err(|e| match e {
                XsltError::Stylesheet { .. } | XsltError::Transform { .. } | XsltError::Timeout { .. } => {
                    AdapterError::Config(format!("custom_configuration: {e}"))
                }
                other => AdapterError::Failed(other.to_string()),
            })?;
        }
        self.extension = stylesheet.as_deref().map_or(".xml", output_extension);
        self.stylesheet = stylesheet;
        self.config = config.clone();
        Ok(())
    }

    fn translate(
        &mut self,
        batch: &BatchInfo,
        events: &mut dyn EventSource,
        out: &mut Output,
    ) -> Result<(), AdapterError> {
        let mut attachments = Attachments::start(out, batch, &self.config)?;
        let work = match self.stylesheet {
            Some(_) => {
                std::fs::create_dir_all(&self.config.output_dir)?;
                Some(tempfile::Builder::new().prefix(WORK_FOLDER_PREFIX).tempdir_in(&self.config.output_dir)?)
            }
            None => None,
        };
        let mut jobs = Vec::new();
        if self.config.one_chat_room_per_output_file {
            while let Some(conv) = events.next_conversation()? {
                let mut w = self.open(work.as_ref(), &mut jobs, out, &file_stem(batch, Some(conv.room.id)))?;
                write_conversation(&mut w, &conv, events, attachments.as_mut(), out)?;
                w.finish()?;
            }
        } else {
            let mut w = self.open(work.as_ref(), &mut jobs, out, &file_stem(batch, None))?;
            while let Some(conv) = events.next_conversation()? {
                write_conversation(&mut w, &conv, events, attachments.as_mut(), out)?;
            }
            w.finish()?;
        }
        if let Some(a) = attachments {
            a.finish()?;
        }
        if let Some(s) = &self.stylesheet {
            let pid_file = work.as_ref().map(|w| w.path().join(crate::xslt::WORKER_PID_FILE));
            self.runner.transform_all_recorded(s, &jobs, pid_file.as_deref()).map_err(xslt_error)?;
        }
        Ok(())
    }
}
