//! Bringing the two schemas up to date at open.
//!
//! The chat store lives in schema `chat`, the compliance store in schema `compliance`, of one
//! database: a change and its compliance record commit in one transaction. Each schema has
//! its own migrations and its own version table, so each can later move on its own.

use longhall_core::StoreError;

use crate::conn::{Conn, DbResult, describe};

/// Migrations of the chat schema, in order; its version is the number applied. Never edit a
/// released one: add the next.
const CHAT_MIGRATIONS: &[&str] = &[
    include_str!("../migrations/chat/001_init.sql"),
    include_str!("../migrations/chat/002_removed_users_and_content_bytes.sql"),
    include_str!("../migrations/chat/003_catalog_changes.sql"),
    include_str!("../migrations/chat/004_pool.sql"),
];
const COMPLIANCE_MIGRATIONS: &[&str] =
    &[include_str!("../migrations/compliance/001_init.sql"), include_str!("../migrations/compliance/002_audit.sql")];

/// The transaction-level advisory lock every write transaction takes first (see `writer`),
/// also held while migrating, so two servers opening one database at once migrate it once.
pub(crate) const WRITE_LOCK: i64 = 0x4c6f_6e67_6861_6c6c; // "Longhall"

/// Applies pending migrations of both schemas in one transaction.
pub(crate) async fn migrate(c: &Conn) -> Result<(), StoreError> {
    c.batch(&format!("BEGIN; SELECT pg_advisory_xact_lock({WRITE_LOCK})")).await?;
    let result = async {
        // pg_trgm is a trusted extension: the database's owner may create it without superuser rights.
        c.client.batch_execute("CREATE EXTENSION IF NOT EXISTS pg_trgm").await.map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot enable the pg_trgm extension (search needs it): {}; \
                 install PostgreSQL's contrib package or have a superuser run CREATE EXTENSION pg_trgm",
                describe(&e)
            ))
        })?;
        migrate_schema(c, "chat", "chat store", CHAT_MIGRATIONS).await?;
        migrate_schema(c, "compliance", "compliance store", COMPLIANCE_MIGRATIONS).await
    }
    .await;
    match result {
        Ok(()) => c.batch("COMMIT").await,
        Err(e) => {
            let _ = c.client.batch_execute("ROLLBACK").await;
            Err(e)
        }
    }
}

async fn migrate_schema(c: &Conn, schema: &str, what: &str, migrations: &[&str]) -> Result<(), StoreError> {
    c.batch(&format!(
        "CREATE SCHEMA IF NOT EXISTS {schema}; \
         CREATE TABLE IF NOT EXISTS {schema}.schema_version (version integer NOT NULL); \
         INSERT INTO {schema}.schema_version SELECT 0 WHERE NOT EXISTS (SELECT 1 FROM {schema}.schema_version);"
    ))
    .await?;
    let version: i32 =
        c.client.query_one(&format!("SELECT version FROM {schema}.schema_version"), &[]).await.db()?.get(0);
    let known = migrations.len() as i32;
    if version > known {
        return Err(StoreError::Unavailable(format!(
            "the {what} has schema version {version}, newer than this server's {known}; run a newer Longhall"
        )));
    }
    for (i, sql) in migrations.iter().enumerate().skip(version as usize) {
        c.client
            .batch_execute(sql)
            .await
            .map_err(|e| StoreError::Unavailable(format!("{what} migration {} failed: {}", i + 1, describe(&e))))?;
        c.client.execute(&format!("UPDATE {schema}.schema_version SET version = $1"), &[&(i as i32 + 1)]).await.db()?;
        tracing::info!(store = what, version = i + 1, "applied schema migration");
    }
    Ok(())
}
