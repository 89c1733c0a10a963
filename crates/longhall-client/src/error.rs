//! What a call can fail with: the server's answer (with its stable code), a server that could
//! not be reached, or an answer this client does not understand.

use std::time::Duration;

use longhall_types::ErrorCode;

/// A failed call.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The server answered with an error. Displays the server's sentence.
    #[error("{message}")]
    Api {
        /// The HTTP status.
        status: u16,
        /// The code, if this client knows it (a newer server may send codes it does not).
        code: Option<ErrorCode>,
        /// The code as the server sent it, known or not.
        code_text: String,
        /// The server's sentence: what was wrong and what to do.
        message: String,
        /// How long the server asked the client to wait before trying again.
        retry_after: Option<Duration>,
    },
    /// The server could not be reached (refused, unknown host, timed out, connection lost).
    #[error("could not reach the server at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The server answered something this client does not understand (not a Longhall server,
    /// or a proxy in between).
    #[error("unexpected answer from the server (HTTP {status}): {detail}")]
    Protocol { status: u16, detail: String },
    /// The server address given to the client is not an http:// or https:// URL.
    #[error("{0}")]
    InvalidUrl(String),
}

impl ClientError {
    /// The error code of an API error this client knows.
    pub fn code(&self) -> Option<ErrorCode> {
        match self {
            ClientError::Api { code, .. } => *code,
            _ => None,
        }
    }

    /// The error code of an API error as sent, including codes this client does not know.
    pub fn code_text(&self) -> Option<&str> {
        match self {
            ClientError::Api { code_text, .. } => Some(code_text),
            _ => None,
        }
    }

    /// Whether this is an API error with this code.
    pub fn is(&self, code: ErrorCode) -> bool {
        self.code() == Some(code)
    }

    /// The HTTP status the server answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } | ClientError::Protocol { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// How long the server asked to wait before trying again (`Retry-After`).
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ClientError::Api { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// A transport failure: unreachable server, or an unreadable answer.
    pub(crate) fn transport(url: &str, status: u16, e: reqwest::Error) -> ClientError {
        if e.is_decode() {
            return ClientError::Protocol { status, detail: chain(&e) };
        }
        ClientError::Unreachable { url: url.to_owned(), reason: chain(&e) }
    }
}

/// An error and its causes on one line (reqwest's own message rarely says why).
fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let s_text = s.to_string();
        if !text.contains(&s_text) {
            text.push_str(": ");
            text.push_str(&s_text);
        }
        source = s.source();
    }
    text
}
