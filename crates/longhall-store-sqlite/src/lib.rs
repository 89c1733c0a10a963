//! The embedded SQLite backend of Longhall.
//!
//! A deployment directory holds two database files: `chat.db` (catalog, messages, follows,
//! invitations, tokens, file records) and `compliance.db` (the compliance archive), kept apart
//! so the archive can be shipped, backed up and pruned on its own schedule; and a third,
//! `search.db`, the search index, rebuilt from `chat.db` whenever it is missing. The index is
//! written by a thread of its own, off the commit path (see `search.rs`).
//!
//! All writes go through one writer thread that commits whatever is queued in one transaction
//! per file ("group commit"): one fsync covers many posts, and there is never a second writer
//! to wait on. Reads use a small pool of read-only connections; WAL lets them run beside the
//! writer and see every committed write.

mod conv;
mod files;
mod ops;
mod processing;
mod reads;
mod schema;
mod search;
mod snapshot;
mod store;
mod writer;

pub use files::DirFileStore;
pub use store::SqliteStore;
