//! The core's error: a stable code from the shared table plus a sentence for the user.

use longhall_types::{ErrorBody, ErrorCode};

/// Every failure the core reports. Transports map `code` to their own form (HTTP status,
/// WebSocket `error` frame, CLI exit) and show `message` unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct CoreError {
    pub code: ErrorCode,
    pub message: String,
    /// Seconds after which a retry may succeed (sent as `Retry-After` over HTTP).
    pub retry_after_s: Option<u64>,
}

pub type CoreResult<T> = Result<T, CoreError>;

impl CoreError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        CoreError { code, message: message.into(), retry_after_s: None }
    }

    /// Says when a retry may succeed (rate limits, a busy server).
    pub fn retry_after(mut self, seconds: u64) -> Self {
        self.retry_after_s = Some(seconds);
        self
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody { code: self.code.as_str().to_owned(), message: self.message.clone() }
    }

    pub fn room_not_found(room: i64) -> Self {
        CoreError::new(
            ErrorCode::RoomNotFound,
            format!("Room {room} does not exist; search the room directory for the rooms you can see."),
        )
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        CoreError::new(ErrorCode::InvalidValue, message)
    }

    /// Another server of the pool changed what this change was computed from.
    pub fn changed_meanwhile() -> Self {
        CoreError::new(
            ErrorCode::ChangedMeanwhile,
            "Another server changed this at the same time and nothing was saved; read it again and repeat your change.",
        )
    }

    pub fn admin_required() -> Self {
        CoreError::new(ErrorCode::AdminRequired, "Only administrators may do this; ask an administrator.")
    }
}

/// A store failure. The store says whether the failure is a conflict the user can fix
/// (a unique name) or an outage; nothing was committed either way.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// A unique constraint was violated (names).
    #[error("conflict: {0}")]
    Conflict(String),
    /// The referenced row does not exist.
    #[error("not found: {0}")]
    NotFound(String),
    /// The store failed or is unreachable.
    #[error("store failure: {0}")]
    Unavailable(String),
    /// The catalog moved on (another server of the pool committed a change) since the
    /// revision the change was validated against; nothing was written. Holds the store's
    /// revision.
    #[error("the catalog is at revision {0}")]
    Stale(i64),
}

pub type StoreResult<T> = Result<T, StoreError>;

impl From<StoreError> for CoreError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => {
                CoreError::new(ErrorCode::NameTaken, format!("{what} is already taken; choose another name."))
            }
            StoreError::NotFound(what) => CoreError::new(ErrorCode::InvalidValue, format!("{what} no longer exists.")),
            StoreError::Stale(_) => CoreError::changed_meanwhile(),
            StoreError::Unavailable(why) => {
                tracing::error!(error = %why, "store failure");
                CoreError::new(
                    ErrorCode::StoreUnavailable,
                    "The server could not store this right now and nothing was saved; try again shortly.",
                )
            }
        }
    }
}
