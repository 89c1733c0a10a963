//! The PostgreSQL backend of Longhall.
//!
//! One database holds both stores, each in its own schema: `chat` (catalog, messages, follows,
//! invitations, tokens, file records) and `compliance` (the compliance archive and its
//! processing state). Each schema has its own migrations and version table, applied at open.
//! Being one database, a change and its compliance record commit in one transaction.
//!
//! All writes go through one writer task per store that commits whatever is queued in one
//! transaction ("group commit"), like the SQLite backend's writer thread; every write
//! transaction takes the database's advisory write lock first, so writers (the servers of a
//! pool) commit one at a time and ids become visible in increasing order. Reads use a
//! small pool of connections and see every committed write.
//!
//! Search uses `pg_trgm`: a GIN trigram index over the text lower-cased with the ICU root
//! collation (so case folding is Unicode's whatever the database's locale), serving any
//! substring of three or more characters in any script; shorter texts scan the newest
//! messages, as in the SQLite backend.

mod bus;
mod conn;
mod conv;
mod ops;
mod pool;
mod processing;
mod reads;
mod schema;
mod snapshot;
mod store;
mod writer;

pub use bus::PgBus;
pub use pool::{PoolChangeRecord, RegisteredServer, check_writable, find_token_at};
pub use store::PgStore;
