//! `create_file_attachments_manifest`: a `<batch id>.ATTACH` manifest describing every file
//! transfer of the batch, and a copy of each file's bytes, both staged through [`Output`].
//!
//! ```xml
//! <?xml version="1.0" encoding="utf-8"?>
//! <FileTransfers batch="…" firstEvent="1" lastEvent="13">
//!   <FileTransfer type="FILEUPLOAD" eventId="5" channel="ma-chan://example.org/1" fileId="5"
//!       name="Q1 report.pdf" key="3f2a…" size="26" contentType="application/pdf"
//!       copy="…-3f2a….pdf" status="copied">
//!     <Sender UserName="Alice Example" id="17" email="alice@example.org" internal="true" uri="alice@example.org" />
//!     <DateTimeUTC since1970="…" string="…" long="…" />
//!   </FileTransfer>
//! </FileTransfers>
//! ```
//!
//! `status` is `copied` (the bytes are in the file named by `copy`, in the same folder),
//! `missing` (the file store no longer has them; `copy` is empty) or `refused` (the store key
//! isn't a plain file name; nothing was read). A file transferred several times in a batch is
//! copied once and every transfer names the same copy.

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use longhall_core::model::ComplianceKind;

use crate::adapter::{AdapterConfig, AdapterError, Output};
use crate::batch::{BatchInfo, Event, RoomInfo};
use crate::xml::{attr, escape_attr, sender_element, time_element, write_int};

pub(crate) struct Attachments {
    manifest: BufWriter<File>,
    files_dir: PathBuf,
    batch_id: String,
    user_details: bool,
    /// Store key → name of its copy in this batch (`None`: missing or refused).
    copies: HashMap<String, (Option<String>, &'static str)>,
}

/// The manifest's name for a batch.
pub fn manifest_name(batch: &BatchInfo) -> String {
    format!("{}.ATTACH", batch.id)
}

/// A store key usable as a file name: non-empty, no separators, not hidden.
fn plain_key(key: &str) -> bool {
    !key.is_empty() && !key.starts_with('.') && !key.contains(['/', '\\', '\0']) && key.len() <= 200
}

/// `.ext` from the user's file name when it is short and alphanumeric, lower-cased.
pub(crate) fn extension(name: &str) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext))
            if !stem.is_empty() && (1..=10).contains(&ext.len()) && ext.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            format!(".{}", ext.to_ascii_lowercase())
        }
        _ => String::new(),
    }
}

impl Attachments {
    /// Starts the manifest (`None` when the flag is off).
    pub(crate) fn start(
        out: &mut Output,
        batch: &BatchInfo,
        config: &AdapterConfig,
    ) -> Result<Option<Attachments>, AdapterError> {
        if !config.create_file_attachments_manifest {
            return Ok(None);
        }
        let mut manifest = BufWriter::new(out.create(&manifest_name(batch))?);
        manifest.write_all(b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<FileTransfers")?;
        attr(&mut manifest, "batch", &batch.id)?;
        manifest.write_all(b" firstEvent=\"")?;
        write_int(&mut manifest, batch.first_event)?;
        manifest.write_all(b"\" lastEvent=\"")?;
        write_int(&mut manifest, batch.last_event)?;
        manifest.write_all(b"\">\n")?;
        Ok(Some(Attachments {
            manifest,
            files_dir: config.files_dir.clone(),
            batch_id: batch.id.clone(),
            user_details: config.add_user_details,
            copies: HashMap::new(),
        }))
    }

    /// Records `event` if it is a file transfer, copying the file the first time it is seen.
    pub(crate) fn record(&mut self, out: &mut Output, room: &RoomInfo, event: &Event) -> Result<(), AdapterError> {
        if !matches!(event.kind, ComplianceKind::FileUpload | ComplianceKind::FileDownload) {
            return Ok(());
        }
        let Some(file) = &event.file else { return Ok(()) };
        let (copy, status) = match self.copies.get(&file.key) {
            Some(c) => c.clone(),
            None => {
                let c = self.copy(out, &file.key, &file.name)?;
                self.copies.insert(file.key.clone(), c.clone());
                c
            }
        };
        let m = &mut self.manifest;
        m.write_all(b"  <FileTransfer type=\"")?;
        m.write_all(event.kind.as_str().as_bytes())?;
        m.write_all(b"\" eventId=\"")?;
        write_int(m, event.id)?;
        m.write_all(b"\" channel=\"")?;
        escape_attr(m, &room.uri)?;
        m.write_all(b"\" fileId=\"")?;
        write_int(m, file.id)?;
        m.write_all(b"\"")?;
        attr(m, "name", &file.name)?;
        attr(m, "key", &file.key)?;
        m.write_all(b" size=\"")?;
        write_int(m, i64::try_from(file.size).unwrap_or(i64::MAX))?;
        m.write_all(b"\"")?;
        attr(m, "contentType", &file.content_type)?;
        attr(m, "copy", copy.as_deref().unwrap_or(""))?;
        attr(m, "status", status)?;
        m.write_all(b">\n")?;
        sender_element(m, b"    ", &event.sender, self.user_details)?;
        time_element(m, b"    ", b"DateTimeUTC", event.ts)?;
        m.write_all(b"  </FileTransfer>\n")?;
        Ok(())
    }

    fn copy(&self, out: &mut Output, key: &str, name: &str) -> Result<(Option<String>, &'static str), AdapterError> {
        if !plain_key(key) {
            return Ok((None, "refused"));
        }
        let mut src = match File::open(self.files_dir.join(key)) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok((None, "missing")),
            Err(e) => return Err(AdapterError::Failed(format!("reading file {key} from the file store: {e}"))),
        };
        let copy_name = format!("{}-{key}{}", self.batch_id, extension(name));
        let mut dst = out.create(&copy_name)?;
        io::copy(&mut src, &mut dst)?;
        Ok((Some(copy_name), "copied"))
    }

    pub(crate) fn finish(mut self) -> Result<(), AdapterError> {
        self.manifest.write_all(b"</FileTransfers>\n")?;
        self.manifest.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_and_keys() {
        assert_eq!(extension("Q1 report.PDF"), ".pdf");
        assert_eq!(extension("archive.tar.gz"), ".gz");
        assert_eq!(extension(".bashrc"), "");
        assert_eq!(extension("weird.p d f"), "");
        assert_eq!(extension("noext"), "");
        assert!(plain_key("3f2a9c"));
        assert!(!plain_key("../etc/passwd"));
        assert!(!plain_key(".hidden"));
        assert!(!plain_key(""));
    }
}
