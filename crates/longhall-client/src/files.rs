//! File upload and download, streamed both ways (`/api/v1/rooms/{id}/files`,
//! `/api/v1/files/{id}`).

use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use longhall_types::api::FileRef;
use reqwest::{Method, Response, header};

use crate::{Body, Client, ClientError, with_query};

/// A file being downloaded: its headers, and the body still to be read.
pub struct Download {
    /// The content type the file was uploaded with.
    pub content_type: String,
    /// The size in bytes, as the server announced it.
    pub size: Option<u64>,
    pub(crate) base: String,
    pub(crate) resp: Response,
}

impl Download {
    /// The next piece of the file; `None` at the end.
    pub async fn chunk(&mut self) -> Result<Option<Bytes>, ClientError> {
        let status = self.resp.status().as_u16();
        self.resp.chunk().await.map_err(|e| ClientError::transport(&self.base, status, e))
    }

    /// The whole file in memory (for small files; use [`Download::chunk`] or
    /// [`Download::into_stream`] otherwise).
    pub async fn bytes(self) -> Result<Bytes, ClientError> {
        let status = self.resp.status().as_u16();
        self.resp.bytes().await.map_err(|e| ClientError::transport(&self.base, status, e))
    }

    /// The body as a stream of pieces.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, ClientError>> + Send + 'static {
        let (base, status) = (self.base, self.resp.status().as_u16());
        self.resp.bytes_stream().map(move |r| r.map_err(|e| ClientError::transport(&base, status, e)))
    }
}

impl Client {
    /// Uploads a file to a room whose category allows files. `body` is the raw file: bytes,
    /// a `String`, or a stream ([`Body::wrap_stream`]), sent as it is read. With no content
    /// type, `application/octet-stream` is sent.
    pub async fn upload(
        &self,
        room: i64,
        name: &str,
        content_type: Option<&str>,
        body: impl Into<Body>,
    ) -> Result<FileRef, ClientError> {
        let url = with_query(self.api(&["rooms", &room.to_string(), "files"]), &[("name", Some(name.to_owned()))]);
        let req = self
            .request(Method::POST, url)
            .header(header::CONTENT_TYPE, content_type.unwrap_or("application/octet-stream"))
            .body(body);
        self.call(req).await
    }

    /// Starts downloading a file (allowed to whoever may read its room).
    pub async fn download(&self, file: i64) -> Result<Download, ClientError> {
        let resp = self.send(self.request(Method::GET, self.api(&["files", &file.to_string()]))).await?;
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("application/octet-stream")
            .to_owned();
        let size = resp.content_length();
        Ok(Download { content_type, size, base: self.base_url().to_owned(), resp })
    }
}
