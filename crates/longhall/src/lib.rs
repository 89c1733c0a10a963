//! The library half of the `longhall` binary: the configuration and the one place a
//! deployment is opened from it (`deployment`), shared by `longhall serve` and every test
//! harness.

pub mod config;
pub mod deployment;

pub use config::{Config, StoreBackend};
pub use deployment::{Deployment, Tuning};
