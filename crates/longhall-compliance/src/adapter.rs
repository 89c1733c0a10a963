//! The adapter trait and the staged output that makes a batch's publication atomic.

use std::path::{Path, PathBuf};

use crate::batch::{BatchInfo, EventSource};

/// The compliance configuration an adapter works from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AdapterConfig {
    /// Where output files go (one folder per adapter).
    pub output_dir: PathBuf,
    pub one_chat_room_per_output_file: bool,
    pub add_chat_room_details: bool,
    pub add_user_details: bool,
    pub create_file_attachments_manifest: bool,
    /// XSLT 1.0 stylesheet applied to each XML output (XML adapter only).
    pub custom_configuration: Option<String>,
    /// Program and arguments of the `command` adapter.
    pub command: Vec<String>,
    /// Folder of the file store, to copy attachments from (`<files_dir>/<key>`).
    pub files_dir: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The configuration can't work (e.g. a broken stylesheet, no command); names what to fix.
    #[error("{0}")]
    Config(String),
    /// This batch failed; it will be retried next cycle.
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Source(#[from] crate::batch::SourceError),
    #[error("writing output failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Files an adapter writes for one batch. They are written under temporary names in the
/// output folder; the processing cycle publishes them all (fsync, then rename to their
/// final names) only after recording that it is about to, so a crash never leaves a batch
/// half-published or published twice.
pub struct Output {
    dir: PathBuf,
    batch_id: String,
    files: Vec<StagedFile>,
}

/// One output file: where it is written, and the name it gets when published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StagedFile {
    pub temp: PathBuf,
    pub final_path: PathBuf,
}

impl Output {
    pub fn new(dir: &Path, batch_id: &str) -> Output {
        Output { dir: dir.to_path_buf(), batch_id: batch_id.to_owned(), files: Vec::new() }
    }

    /// Creates a staged file that will be published as `<dir>/<name>`. `name` must be a plain
    /// file name (no separators).
    pub fn create(&mut self, name: &str) -> std::io::Result<std::fs::File> {
        if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("bad output name {name:?}")));
        }
        std::fs::create_dir_all(&self.dir)?;
        let temp = self.dir.join(format!(".tmp-{}-{name}", self.batch_id));
        let file = std::fs::File::create(&temp)?;
        self.files.push(StagedFile { temp, final_path: self.dir.join(name) });
        Ok(file)
    }

    /// The staged files, in creation order.
    pub fn files(&self) -> &[StagedFile] {
        &self.files
    }

    pub fn into_files(self) -> Vec<StagedFile> {
        self.files
    }
}

/// An adapter turns batches into an archive format. One module per adapter.
pub trait Adapter: Send {
    /// The adapter's name in the configuration (`xml`, `jsonl`, `eml`, `command`).
    fn name(&self) -> &'static str;
    /// Checks and takes the configuration; called before the first batch and after changes.
    fn configure(&mut self, config: &AdapterConfig) -> Result<(), AdapterError>;
    /// Writes one batch. File-writing adapters create their files through `out` only; the
    /// `command` adapter hands the batch to its program and succeeds when it exits 0. An error
    /// leaves the batch unprocessed, to be retried.
    fn translate(
        &mut self,
        batch: &BatchInfo,
        events: &mut dyn EventSource,
        out: &mut Output,
    ) -> Result<(), AdapterError>;
}
