//! File upload and download, where the room's category allows it.

use base64::Engine;
use longhall_types::ErrorCode;
use longhall_types::api::FileRef;
use serde_json::json;

use super::{Actor, Longhall};
use crate::error::{CoreError, CoreResult};
use crate::model::*;
use crate::ports::{ByteStream, FileStoreError};
use crate::rules::Access;

/// Leave out path separators and control characters from a client's file name.
fn clean_file_name(name: &str) -> CoreResult<String> {
    let base = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let cleaned: String = base.chars().filter(|c| !c.is_control()).collect::<String>().trim().to_owned();
    if cleaned.is_empty() || cleaned == "." || cleaned == ".." {
        return Err(CoreError::invalid("Give the file a name."));
    }
    if cleaned.chars().count() > 255 {
        return Err(CoreError::new(ErrorCode::TooLong, "File names are limited to 255 characters."));
    }
    Ok(cleaned)
}

impl Longhall {
    fn file_access(&self, actor: &Actor, room: RoomId) -> CoreResult<(Room, Access)> {
        self.require_chat(actor)?;
        let (r, access) = self.readable(actor, room)?;
        let upload_on = self.cat().categories.get(&r.category).is_some_and(|c| c.file_upload);
        if !upload_on {
            return Err(CoreError::new(
                ErrorCode::FileUploadDisabled,
                "This room's category does not allow files; an administrator can turn file upload on.",
            ));
        }
        Ok((r, access))
    }

    /// The largest upload the caller may send to the room, in bytes (checked before reading).
    pub fn upload_limit(&self, actor: &Actor, room: RoomId) -> CoreResult<u64> {
        self.file_access(actor, room)?;
        Ok(self.cat().effective_config(actor.user.site.as_deref()).max_file_size_kb * 1024)
    }

    /// Streams an upload into the file store; the size limit stops it as soon as it is passed.
    pub async fn upload(
        &self,
        actor: &Actor,
        room: RoomId,
        name: &str,
        content_type: &str,
        body: ByteStream,
    ) -> CoreResult<FileRef> {
        self.rate_limit(actor, super::throttle::Operation::Upload)?;
        let (r, access) = self.file_access(actor, room)?;
        if !access.can_post() {
            return Err(access.post_denied(room));
        }
        let name = clean_file_name(name)?;
        let content_type =
            if content_type.is_empty() || content_type.len() > 255 { "application/octet-stream" } else { content_type };
        let limit = self.cat().effective_config(actor.user.site.as_deref()).max_file_size_kb * 1024;
        let mut raw = [0u8; 18];
        getrandom::fill(&mut raw)
            .map_err(|_| CoreError::new(ErrorCode::Internal, "No randomness for a file key; try again."))?;
        let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
        let size = self.files.write(key.clone(), body, limit).await.map_err(|e| match e {
            FileStoreError::TooLarge { limit } => CoreError::new(
                ErrorCode::PayloadTooLarge,
                format!("The file is larger than the {} KB allowed; compress or split it.", limit / 1024),
            ),
            FileStoreError::Io(e) => {
                tracing::error!(error = %e, "file store write failed");
                CoreError::new(ErrorCode::StoreUnavailable, "The file could not be stored; try again shortly.")
            }
        })?;
        let mut meta = FileMeta {
            id: 0,
            room,
            uploader: actor.id(),
            key: key.clone(),
            name: name.clone(),
            content_type: content_type.to_owned(),
            size,
            ts: self.now(),
        };
        let detail = json!({ "name": name, "size": size, "content_type": content_type, "key": key });
        let event = self.compliance_event(ComplianceKind::FileUpload, &r, actor.id(), None, detail);
        match self.store.insert_file(&meta, &event).await {
            Ok(id) => meta.id = id,
            Err(e) => {
                let _ = self.files.remove(key).await;
                return Err(e.into());
            }
        }
        Ok(FileRef { id: meta.id, name: meta.name, size: meta.size, content_type: meta.content_type })
    }

    /// Opens a file for download by anyone who may read its room; records FILEDOWNLOAD first.
    pub async fn download(&self, actor: &Actor, file: FileId) -> CoreResult<(FileMeta, ByteStream)> {
        let missing =
            || CoreError::new(ErrorCode::FileNotFound, "There is no such file, or you may not read its room.");
        let meta = self.store.get_file(file).await?.ok_or_else(missing)?;
        let (r, _) = self
            .file_access(actor, meta.room)
            // Whoever may not read the room learns nothing about its files, not even that one exists.
            .map_err(
                |e| if matches!(e.code, ErrorCode::RoomNotFound | ErrorCode::NotMember) { missing() } else { e },
            )?;
        let detail = json!({ "file_id": meta.id, "name": meta.name, "size": meta.size });
        let event = self.compliance_event(ComplianceKind::FileDownload, &r, actor.id(), None, detail);
        self.store.record_compliance(vec![event]).await?;
        let stream = self.files.read(meta.key.clone()).await.map_err(|e| {
            tracing::error!(error = %e, file, "file store read failed");
            CoreError::new(ErrorCode::StoreUnavailable, "The file could not be read; try again shortly.")
        })?;
        Ok((meta, stream))
    }
}
