//! `NatsBus`: the bus of a Longhall pool over a NATS server, the option beside PostgreSQL's
//! LISTEN/NOTIFY. It speaks the NATS client protocol's text form (`CONNECT`, `SUB`, `PUB`,
//! `MSG`, `PING`/`PONG`) over one plain TCP connection: each server publishes its notes on the
//! subject `longhall` after their commits and subscribes to it, so it hears every server, itself
//! included. The connection is checked every few seconds and re-established (with a growing
//! pause, at most 5 s) when lost; every (re)connection is signalled, so the server catches up
//! from the store on notes lost meanwhile. Notes published while disconnected are dropped for
//! the same reason.

use std::sync::Arc;
use std::time::Duration;

use longhall_core::ports::{BoxFuture, Bus, BusSignal, Note};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::sync::{Mutex, mpsc};

/// The subject every server of a pool publishes and subscribes to.
pub const SUBJECT: &str = "longhall";
/// How often the client pings the server; a connection silent for three times this is lost.
const PING_EVERY: Duration = Duration::from_secs(5);
/// Largest message accepted from the server (a note is a few dozen bytes).
const MAX_PAYLOAD: usize = 64 * 1024;

/// A NATS connection shared by the publisher and the subscriber.
pub struct NatsBus {
    address: String,
    writer: Arc<Mutex<Option<OwnedWriteHalf>>>,
}

impl NatsBus {
    /// A bus on the NATS server at `url` (`nats://host:port`; the port defaults to 4222).
    /// Connects when subscribed.
    pub fn new(url: &str) -> NatsBus {
        NatsBus { address: address_of(url), writer: Arc::new(Mutex::new(None)) }
    }
}

/// `host:port` of a `nats://` URL (user information and paths are not supported).
fn address_of(url: &str) -> String {
    let rest = url.trim().trim_start_matches("nats://");
    let host = rest.split('/').next().unwrap_or(rest);
    if host.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        host.to_owned()
    } else {
        format!("{host}:4222")
    }
}

impl std::fmt::Debug for NatsBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsBus").field("address", &self.address).finish_non_exhaustive()
    }
}

impl Bus for NatsBus {
    fn publish(&self, note: Note) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let payload = note.to_text();
            let frame = format!("PUB {SUBJECT} {}\r\n{payload}\r\n", payload.len());
            let mut slot = self.writer.lock().await;
            if let Some(w) = slot.as_mut()
                && w.write_all(frame.as_bytes()).await.is_err()
            {
                // The reader notices too and reconnects; the note's change is caught up then.
                *slot = None;
            }
        })
    }

    fn subscribe(&self) -> mpsc::UnboundedReceiver<BusSignal> {
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(self.address.clone(), self.writer.clone(), tx));
        rx
    }
}

async fn run(address: String, writer: Arc<Mutex<Option<OwnedWriteHalf>>>, tx: mpsc::UnboundedSender<BusSignal>) {
    let mut pause = Duration::from_millis(100);
    while !tx.is_closed() {
        let result = session(&address, &writer, &tx).await;
        *writer.lock().await = None;
        match result {
            Ok(()) => return,
            Err(why) => {
                tracing::warn!(address = %address, error = %why, "the pool's bus (NATS) is not connected; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// One connection: handshake, subscription, then notes until it is lost (`Err`) or nobody
/// listens any more (`Ok`).
async fn session(
    address: &str,
    writer: &Mutex<Option<OwnedWriteHalf>>,
    tx: &mpsc::UnboundedSender<BusSignal>,
) -> Result<(), String> {
    let stream = tokio::time::timeout(PING_EVERY, TcpStream::connect(address))
        .await
        .map_err(|_| "connecting timed out".to_owned())?
        .map_err(|e| format!("cannot connect: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (read, mut write) = stream.into_split();
    let mut read = BufReader::new(read);
    let mut line = String::new();
    // The server speaks first.
    read_line(&mut read, &mut line).await?;
    if !line.starts_with("INFO ") {
        return Err(format!("not a NATS server (it said {:?})", line.trim_end()));
    }
    let hello = format!(
        "CONNECT {{\"verbose\":false,\"pedantic\":false,\"name\":\"longhall\",\"lang\":\"rust\",\"version\":\"{}\",\"protocol\":0}}\r\nSUB {SUBJECT} 1\r\nPING\r\n",
        env!("CARGO_PKG_VERSION")
    );
    write.write_all(hello.as_bytes()).await.map_err(|e| e.to_string())?;
    // The PONG to that PING means the subscription is in place.
    loop {
        read_line(&mut read, &mut line).await?;
        match line.trim_end() {
            "PONG" => break,
            "+OK" => {}
            "PING" => write.write_all(b"PONG\r\n").await.map_err(|e| e.to_string())?,
            other if other.starts_with("-ERR") => return Err(format!("the server refused: {other}")),
            _ => {}
        }
    }
    *writer.lock().await = Some(write);
    if tx.send(BusSignal::Connected).is_err() {
        return Ok(());
    }
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.tick().await;
    let mut payload = Vec::new();
    loop {
        tokio::select! {
            _ = ping.tick() => {
                if tx.is_closed() {
                    return Ok(());
                }
                send(writer, b"PING\r\n").await?;
            }
            read_result = tokio::time::timeout(PING_EVERY * 3, read_line(&mut read, &mut line)) => {
                read_result.map_err(|_| "the server went silent".to_owned())??;
                let words: Vec<&str> = line.split_ascii_whitespace().collect();
                match words.first().copied() {
                    Some("MSG") => {
                        // MSG <subject> <sid> [reply-to] <bytes>
                        let len: usize = words.last().and_then(|n| n.parse().ok()).ok_or("a malformed MSG")?;
                        if len > MAX_PAYLOAD {
                            return Err(format!("a message of {len} bytes (at most {MAX_PAYLOAD})"));
                        }
                        payload.resize(len + 2, 0);
                        read.read_exact(&mut payload).await.map_err(|e| e.to_string())?;
                        if let Some(note) = std::str::from_utf8(&payload[..len]).ok().and_then(Note::from_text) {
                            let _ = tx.send(BusSignal::Note(note));
                        }
                    }
                    Some("PING") => send(writer, b"PONG\r\n").await?,
                    Some("-ERR") => return Err(format!("the server said {}", line.trim_end())),
                    _ => {} // PONG, +OK, INFO
                }
            }
        }
    }
}

async fn send(writer: &Mutex<Option<OwnedWriteHalf>>, bytes: &[u8]) -> Result<(), String> {
    match writer.lock().await.as_mut() {
        Some(w) => w.write_all(bytes).await.map_err(|e| e.to_string()),
        None => Err("the connection failed while publishing".to_owned()),
    }
}

/// Reads one protocol line (bounded, so a broken peer can't grow it without limit).
async fn read_line(read: &mut BufReader<tokio::net::tcp::OwnedReadHalf>, line: &mut String) -> Result<(), String> {
    line.clear();
    let n = (&mut *read).take(MAX_PAYLOAD as u64).read_line(line).await.map_err(|e| e.to_string())?;
    if n == 0 {
        return Err("the connection closed".to_owned());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::address_of;

    #[test]
    fn the_address_is_taken_from_the_url() {
        assert_eq!(address_of("nats://127.0.0.1:4222"), "127.0.0.1:4222");
        assert_eq!(address_of("nats://nats.example.org"), "nats.example.org:4222");
        assert_eq!(address_of("nats://[::1]:4333/"), "[::1]:4333");
    }
}
