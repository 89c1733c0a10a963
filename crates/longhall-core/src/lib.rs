//! Longhall's domain: the model, the rules, the services, and the ports they use.
//!
//! This crate does no I/O of its own: storage, files and time come through the traits in
//! [`ports`]. Transports (HTTP, WebSocket, CLI) call the services in [`service`] and nothing
//! else, so every rule holds the same for every client.

pub mod backup;
pub mod change;
pub mod error;
pub mod export;
pub mod model;
pub mod ports;
pub mod principal;
pub mod stored;

pub use error::{CoreError, CoreResult, StoreError, StoreResult};
pub mod catalog;
pub mod live;
pub mod metrics;
pub mod rules;
pub mod service;

pub use service::{Actor, Longhall, Rate, RateLimits, Settings, SignInLimits};
