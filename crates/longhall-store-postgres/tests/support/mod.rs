//! A scratch PostgreSQL database per test, on the server named by `LONGHALL_TEST_PG_URL`.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU64, Ordering};

use longhall_store_postgres::PgStore;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The URL of the server's maintenance database, where scratch databases are created.
pub fn admin_url() -> String {
    std::env::var("LONGHALL_TEST_PG_URL").unwrap_or_else(|_| DEFAULT_URL.to_owned())
}

/// `url` with its database name replaced.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let server = match base.rsplit_once('/') {
        Some((server, _)) if server.contains("//") && !server.ends_with('/') => server,
        _ => base.trim_end_matches('/'),
    };
    format!("{server}/{name}{query}")
}

async fn admin() -> tokio_postgres::Client {
    let url = admin_url();
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls).await.unwrap_or_else(|e| {
        panic!(
            "PostgreSQL is not reachable at {url}: {e}. The PostgreSQL backend's tests need a server: \
             ./scripts/test starts the local one, or set LONGHALL_TEST_PG_URL to another."
        )
    });
    tokio::spawn(connection);
    client
}

/// A database created for one test and dropped (with its connections) when this is dropped.
pub struct ScratchDb {
    pub name: String,
    pub url: String,
}

impl ScratchDb {
    pub async fn create() -> ScratchDb {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
        let name = format!("longhall_test_{}_{nanos}_{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        admin()
            .await
            .batch_execute(&format!("CREATE DATABASE {name} ENCODING 'UTF8'"))
            .await
            .unwrap_or_else(|e| panic!("cannot create the scratch database {name}: {e:?}"));
        let url = with_database(&admin_url(), &name);
        ScratchDb { name, url }
    }
}

impl Drop for ScratchDb {
    fn drop(&mut self) {
        // Drop runs inside the test's runtime, which can't be blocked on: a thread of its own.
        let name = self.name.clone();
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
            rt.block_on(async move {
                admin().await.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the scratch database {}: {dropped:?}", self.name);
        }
    }
}

/// A fresh store in a fresh database.
pub async fn fresh_store() -> (PgStore, ScratchDb) {
    let db = ScratchDb::create().await;
    let store = PgStore::open(&db.url).await.unwrap_or_else(|e| panic!("open the store in {}: {e}", db.name));
    (store, db)
}
