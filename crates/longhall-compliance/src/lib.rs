//! Longhall's compliance output. The processing cycle (in `longhall-core`) reads recorded
//! events, groups them into conversations (one per room per run) and hands each batch to the
//! configured adapter through the [`adapter::Adapter`] trait.
//!
//! Layout: `batch` (what an adapter receives), `adapter` (the trait, its configuration, and
//! `Output`, which stages files so a batch is published all at once).

pub mod adapter;
pub mod batch;
