//! Longhall's compliance output. The processing cycle ([`processor`]) reads recorded
//! events, groups them into conversations (one per room per run) and hands each batch to the
//! configured adapter through the [`adapter::Adapter`] trait.
//!
//! Layout:
//! - `batch` (what an adapter receives), `adapter` (the trait, its configuration, and
//!   `Output`, which stages files so a batch is published all at once);
//! - [`xml`]: the streaming writer of the documented XML format;
//! - [`adapters`]: the built-in adapters (`xml`, `jsonl`, `eml`, `command`) and [`adapters::build`];
//! - [`xslt`]: XSLT 1.0 through libxslt in a sandboxed worker process ([`xslt::XsltRunner`],
//!   [`xslt::run_worker`]); the crate's only `unsafe` code is its FFI module and safe wrapper;
//! - [`sample`]: a deterministic sample batch;
//! - `attachments`: the `.ATTACH` manifest and file copies (`create_file_attachments_manifest`);
//! - [`processor`]: the processing cycle (lease, batches, exactly-once publication, recovery).

pub mod adapter;
pub mod adapters;
mod attachments;
pub mod batch;
mod process;
pub mod processor;
pub mod sample;
pub mod xml;
pub mod xslt;

pub use adapters::{BuildOptions, build, build_with};
pub use attachments::manifest_name;
