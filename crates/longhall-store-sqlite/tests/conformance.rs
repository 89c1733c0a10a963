//! The shared backend conformance suite, run against a fresh SQLite store per case.

use longhall_store_sqlite::{DirFileStore, SqliteStore};
use tempfile::TempDir;

async fn fresh_store() -> (SqliteStore, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = SqliteStore::open(dir.path()).expect("open store");
    (store, dir)
}

async fn fresh_files() -> (DirFileStore, TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    (DirFileStore::new(dir.path().join("files")), dir)
}

longhall_store_tests::conformance_suite!(fresh_store);

mod files {
    use super::fresh_files;
    longhall_store_tests::file_store_suite!(fresh_files);
}
