//! A connection with its prepared statements, and PostgreSQL errors as `StoreError`s.

use std::collections::HashMap;
use std::sync::Mutex;

use longhall_core::StoreError;
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, NoTls, Row, Statement};

/// Parameters of a statement, as tokio-postgres takes them.
pub(crate) type Params<'a> = &'a [&'a (dyn ToSql + Sync)];

/// One database connection. Statements are prepared once per connection and kept: most
/// store calls are a few small statements, and preparing each would double the round trips.
pub(crate) struct Conn {
    pub client: Client,
    statements: Mutex<HashMap<&'static str, Statement>>,
}

impl Conn {
    /// Connects and starts the connection's I/O task on the current runtime.
    pub(crate) async fn connect(url: &str) -> Result<Conn, StoreError> {
        let (client, connection) = tokio_postgres::connect(url, NoTls)
            .await
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL: {}", describe(&e))))?;
        tokio::spawn(async move {
            if let Err(e) = connection.await {
                tracing::warn!(error = %describe(&e), "a PostgreSQL connection ended");
            }
        });
        Ok(Conn { client, statements: Mutex::new(HashMap::new()) })
    }

    /// Connects the writer: its commits must be durable when they return, whatever the
    /// database's default says (`synchronous_commit = off` would acknowledge a post that a
    /// crash can still lose).
    pub(crate) async fn connect_writer(url: &str) -> Result<Conn, StoreError> {
        let c = Conn::connect(url).await?;
        let row = c
            .client
            .query_one("SELECT current_setting('synchronous_commit'), current_setting('fsync')", &[])
            .await
            .db()?;
        let (sync, fsync): (String, String) = (row.get(0), row.get(1));
        if sync == "off" {
            c.batch("SET synchronous_commit = on").await?;
        }
        if fsync == "off" {
            tracing::warn!("PostgreSQL runs with fsync = off: a crash of its machine can lose acknowledged posts");
        }
        Ok(c)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    async fn statement(&self, sql: &'static str) -> Result<Statement, tokio_postgres::Error> {
        if let Some(s) = self.statements.lock().unwrap_or_else(|e| e.into_inner()).get(sql) {
            return Ok(s.clone());
        }
        let s = self.client.prepare(sql).await?;
        self.statements.lock().unwrap_or_else(|e| e.into_inner()).insert(sql, s.clone());
        Ok(s)
    }

    pub(crate) async fn query(&self, sql: &'static str, p: Params<'_>) -> Result<Vec<Row>, tokio_postgres::Error> {
        let s = self.statement(sql).await?;
        self.client.query(&s, p).await
    }

    pub(crate) async fn query_opt(
        &self,
        sql: &'static str,
        p: Params<'_>,
    ) -> Result<Option<Row>, tokio_postgres::Error> {
        let s = self.statement(sql).await?;
        self.client.query_opt(&s, p).await
    }

    pub(crate) async fn query_one(&self, sql: &'static str, p: Params<'_>) -> Result<Row, tokio_postgres::Error> {
        let s = self.statement(sql).await?;
        self.client.query_one(&s, p).await
    }

    pub(crate) async fn execute(&self, sql: &'static str, p: Params<'_>) -> Result<u64, tokio_postgres::Error> {
        let s = self.statement(sql).await?;
        self.client.execute(&s, p).await
    }

    pub(crate) async fn batch(&self, sql: &str) -> Result<(), StoreError> {
        self.client.batch_execute(sql).await.db()
    }
}

/// The server's message when there is one (tokio-postgres' own `Display` says only "db error").
pub(crate) fn describe(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

pub(crate) fn unavailable(e: tokio_postgres::Error) -> StoreError {
    StoreError::Unavailable(format!("postgresql: {}", describe(&e)))
}

/// Whether the server refused the statement (the transaction is intact up to its savepoint),
/// as opposed to a lost connection, where nothing is known.
pub(crate) fn is_db_error(e: &tokio_postgres::Error) -> bool {
    e.as_db_error().is_some()
}

/// Adds `?`-friendly conversions of tokio-postgres results into store results.
pub(crate) trait DbResult<T> {
    /// Any failure is an outage (`Unavailable`).
    fn db(self) -> Result<T, StoreError>;
    /// A uniqueness failure is `Conflict(what)`.
    fn unique(self, what: impl FnOnce() -> String) -> Result<T, StoreError>;
    /// A foreign-key failure (a referenced row is missing) is `missing()`.
    fn missing(self, missing: impl FnOnce() -> StoreError) -> Result<T, StoreError>;
}

fn sqlstate(e: &tokio_postgres::Error) -> Option<&tokio_postgres::error::SqlState> {
    e.code()
}

impl<T> DbResult<T> for Result<T, tokio_postgres::Error> {
    fn db(self) -> Result<T, StoreError> {
        self.map_err(unavailable)
    }

    fn unique(self, what: impl FnOnce() -> String) -> Result<T, StoreError> {
        self.map_err(|e| match sqlstate(&e) {
            Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => StoreError::Conflict(what()),
            _ => unavailable(e),
        })
    }

    fn missing(self, missing: impl FnOnce() -> StoreError) -> Result<T, StoreError> {
        self.map_err(|e| match sqlstate(&e) {
            Some(&tokio_postgres::error::SqlState::FOREIGN_KEY_VIOLATION) => missing(),
            _ => unavailable(e),
        })
    }
}
