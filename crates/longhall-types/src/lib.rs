//! Wire types of Longhall: REST bodies, WebSocket frames and error codes. No logic lives here.
//!
//! Layout:
//! - [`error`]: the error-code table shared by every interface;
//! - [`limits`]: every documented limit;
//! - [`api`]: HTTP request and response bodies;
//! - [`ws`]: WebSocket frames in both directions.

pub mod api;
pub mod error;
pub mod limits;
pub mod ws;

pub use error::{ErrorBody, ErrorCode};
