//! `PgBus`: the pool's bus over PostgreSQL LISTEN/NOTIFY, the default bus of a pool on one
//! database. The store announces its commits itself, with NOTIFY in the committing transaction
//! (`PgStore::announce_commits`), so a note is delivered only if and when its change commits,
//! in commit order; this side listens on one dedicated connection, checks it every few seconds,
//! and reconnects (with a growing pause, at most 5 s) when it is lost, signalling every
//! (re)connection so the server catches up on what it may have missed.

use std::time::Duration;

use futures_util::StreamExt;
use longhall_core::ports::{BoxFuture, Bus, BusSignal, Note};
use tokio::sync::mpsc;
use tokio_postgres::{AsyncMessage, NoTls};

use crate::conn::describe;
use crate::ops::CHANNEL;

/// How often the listening connection is checked (a connection to a database that vanished
/// without closing it would otherwise wait forever).
const CHECK_EVERY: Duration = Duration::from_secs(5);

/// The `application_name` of the listening connection.
pub const APPLICATION_NAME: &str = "longhall-bus";

/// Listens for the notes of the servers of a pool on the database at `url`, and sends the
/// notes the store does not send itself (administrators' content changes).
pub struct PgBus {
    url: String,
    /// The connection notes are sent on, opened at the first.
    sender: tokio::sync::Mutex<Option<tokio_postgres::Client>>,
}

impl PgBus {
    pub fn new(url: &str) -> PgBus {
        PgBus { url: url.to_owned(), sender: tokio::sync::Mutex::new(None) }
    }

    async fn send(&self, text: &str) -> Result<(), String> {
        let mut sender = self.sender.lock().await;
        if sender.as_ref().is_none_or(tokio_postgres::Client::is_closed) {
            let (client, connection) = tokio_postgres::connect(&self.url, NoTls)
                .await
                .map_err(|e| format!("cannot connect: {}", describe(&e)))?;
            tokio::spawn(connection);
            *sender = Some(client);
        }
        let Some(client) = sender.as_ref() else { return Ok(()) };
        client.execute("SELECT pg_notify('longhall', $1)", &[&text]).await.map(drop).map_err(|e| describe(&e))
    }
}

impl std::fmt::Debug for PgBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The URL may hold a password.
        f.debug_struct("PgBus").finish_non_exhaustive()
    }
}

impl Bus for PgBus {
    fn publish(&self, note: Note) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            // The store announced these in the committing transaction.
            if matches!(note, Note::Message { .. } | Note::Catalog { .. }) {
                return;
            }
            if let Err(why) = self.send(&note.to_text()).await {
                tracing::warn!(error = %why, "a note to the pool could not be sent");
            }
        })
    }

    fn subscribe(&self) -> mpsc::UnboundedReceiver<BusSignal> {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(listen(self.url.clone(), tx));
        rx
    }
}

async fn listen(url: String, tx: mpsc::UnboundedSender<BusSignal>) {
    let mut pause = Duration::from_millis(100);
    while !tx.is_closed() {
        match listen_once(&url, &tx).await {
            Ok(()) => return,
            Err(why) => {
                tracing::warn!(error = %why, "the pool's bus (PostgreSQL LISTEN) is not connected; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// Listens until the connection is lost (`Err`) or nobody listens any more (`Ok`).
async fn listen_once(url: &str, tx: &mpsc::UnboundedSender<BusSignal>) -> Result<(), String> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| format!("postgres_url: {}", describe(&e)))?;
    // So operators can tell it apart in pg_stat_activity.
    config.application_name(APPLICATION_NAME);
    let (client, mut connection) =
        config.connect(NoTls).await.map_err(|e| format!("cannot connect: {}", describe(&e)))?;
    let (lost_tx, mut lost) = tokio::sync::oneshot::channel::<String>();
    let notes = tx.clone();
    let driver = tokio::spawn(async move {
        let mut messages = std::pin::pin!(futures_util::stream::poll_fn(move |cx| connection.poll_message(cx)));
        let why = loop {
            match messages.next().await {
                Some(Ok(AsyncMessage::Notification(n))) => {
                    if let Some(note) = Note::from_text(n.payload()) {
                        let _ = notes.send(BusSignal::Note(note));
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => break describe(&e),
                None => break "the connection closed".to_owned(),
            }
        };
        let _ = lost_tx.send(why);
    });
    let result = async {
        client.batch_execute(&format!("LISTEN {CHANNEL}")).await.map_err(|e| describe(&e))?;
        if tx.send(BusSignal::Connected).is_err() {
            return Ok(());
        }
        let mut check = tokio::time::interval(CHECK_EVERY);
        check.tick().await;
        loop {
            tokio::select! {
                why = &mut lost => return Err(why.unwrap_or_else(|_| "the connection closed".to_owned())),
                _ = check.tick() => {
                    if tx.is_closed() {
                        return Ok(());
                    }
                    match tokio::time::timeout(CHECK_EVERY, client.batch_execute("SELECT 1")).await {
                        Ok(Ok(())) => {}
                        Ok(Err(e)) => return Err(describe(&e)),
                        Err(_) => return Err("the database did not answer a check in 5 s".to_owned()),
                    }
                }
            }
        }
    }
    .await;
    driver.abort();
    result
}
