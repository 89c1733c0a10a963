//! Content search: the index in its own file (`search.db`), written by a thread of its own,
//! off the commit path.
//!
//! A post's commit writes the message and its compliance record, nothing for search. The
//! indexer thread, woken after each commit, indexes the messages past its mark (message ids
//! follow commit order) and applies the entries of chat.db's `search_queue` (messages replaced
//! or deleted, named there in the same transaction as the change), then records the new mark
//! and the last queue entry applied in the same transaction as the index rows: after a crash it
//! resumes exactly where its last committed round ended.
//!
//! A search reads the index up to its mark, and scans the messages past the mark (the tail the
//! indexer has not reached yet) and those named in the queue since its last round; the three
//! are merged newest first. So a message is found from the moment its write is acknowledged,
//! whatever the indexer's lag; the lag only decides how much is scanned.
//!
//! Matching is a case-insensitive substring in any script: the text and the query are folded
//! the same way ([`fold`]), the index gives candidates (trigrams for three characters or more,
//! character unigrams and bigrams for one or two characters that are not all ASCII), and every
//! candidate's text is checked.

use std::collections::HashSet;
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use longhall_core::model::{SearchQuery, StoredMessage};
use longhall_core::{StoreError, StoreResult};
use rusqlite::{Connection, OptionalExtension, params};

use crate::conv::*;

/// Messages one indexing round takes: big enough that a bulk (an import, a rebuild) is written
/// in few large segments, small enough that a round's memory (FTS5's buffer of pending entries,
/// up to the `hashsize` of migration 001) stays a few tens of MiB.
const CHUNK: i64 = 100_000;

/// Queue entries one round applies.
const QUEUE_CHUNK: i64 = 100_000;

/// After a wake-up from idle, how long the indexer lets commits gather before a round: under a
/// stream of posts one round (one transaction, one new index segment) covers this many
/// milliseconds of posts instead of one commit's. Search does not wait for it (the tail is
/// scanned); it bounds how many messages a search scans.
const GATHER: Duration = Duration::from_millis(50);

/// After a failed round (a full disk), the pause before the next try.
const RETRY: Duration = Duration::from_secs(1);

/// At most this many trigrams of a long query are asked of the index (spread over the query);
/// the candidates' text is checked anyway.
const MAX_TRIGRAMS: usize = 24;

// ---- folding and grams

/// The text as the index and the checks see it: each character lower-cased on its own (kept
/// as it is when its lower case is more than one character), so positions and lengths match.
pub(crate) fn fold(text: &str) -> String {
    text.chars().map(fold_char).collect()
}

fn fold_char(c: char) -> char {
    if c.is_ascii() {
        return c.to_ascii_lowercase();
    }
    let mut lower = c.to_lowercase();
    match (lower.next(), lower.next()) {
        (Some(l), None) => l,
        _ => c,
    }
}

/// The gram text of a folded text: each non-ASCII character, and each pair of neighbouring
/// characters of which one is non-ASCII, as the hex of its UTF-8, each once, space-separated.
fn grams(folded: &str) -> String {
    if folded.is_ascii() {
        return String::new();
    }
    let chars: Vec<char> = folded.chars().collect();
    let mut seen = HashSet::new();
    let mut out = String::new();
    let mut push = |gram: &[char]| {
        let token = hex(gram);
        if seen.insert(token.clone()) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&token);
        }
    };
    for (i, &c) in chars.iter().enumerate() {
        if !c.is_ascii() {
            push(&chars[i..=i]);
        }
        if let Some(&d) = chars.get(i + 1)
            && (!c.is_ascii() || !d.is_ascii())
        {
            push(&chars[i..=i + 1]);
        }
    }
    out
}

fn hex(gram: &[char]) -> String {
    let mut buf = [0u8; 4];
    let mut out = String::with_capacity(gram.len() * 6);
    for c in gram {
        for b in c.encode_utf8(&mut buf).as_bytes() {
            out.push_str(&format!("{b:02x}"));
        }
    }
    out
}

/// Which index answers a folded query, and the FTS5 query that asks it.
enum IndexQuery {
    Trigrams(String),
    Grams(String),
}

fn index_query(needle: &str) -> Option<IndexQuery> {
    let chars: Vec<char> = needle.chars().collect();
    if chars.len() >= 3 {
        let mut all: Vec<String> = Vec::new();
        for w in chars.windows(3) {
            let t: String = w.iter().collect();
            if !all.contains(&t) {
                all.push(t);
            }
        }
        // Each trigram a one-token string of its own (the index keeps no positions, so no
        // phrases); quotes double inside one, so any text is a plain string.
        let step = all.len().div_ceil(MAX_TRIGRAMS).max(1);
        let terms: Vec<String> = all.iter().step_by(step).map(|t| format!("\"{}\"", t.replace('"', "\"\""))).collect();
        return Some(IndexQuery::Trigrams(terms.join(" AND ")));
    }
    if !needle.is_ascii() {
        return Some(IndexQuery::Grams(hex(&chars)));
    }
    None
}

// ---- the indexer thread

#[derive(Default)]
struct Signal {
    /// Bumped by every commit and every wait for the index to catch up.
    wanted: u64,
    /// The `wanted` that the last round which found nothing left to do started from.
    caught_up: u64,
    stop: bool,
}

#[derive(Default)]
pub(crate) struct Shared {
    signal: Mutex<Signal>,
    cond: Condvar,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Signal> {
        self.signal.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Tells the indexer that messages were committed.
    pub(crate) fn notify(&self) {
        self.lock().wanted += 1;
        self.cond.notify_all();
    }

    /// Blocks until the index holds every message committed before the call (or the indexer
    /// stopped).
    pub(crate) fn wait_caught_up(&self) -> StoreResult<()> {
        let mut s = self.lock();
        s.wanted += 1;
        let target = s.wanted;
        self.cond.notify_all();
        while s.caught_up < target {
            if s.stop {
                return Err(StoreError::Unavailable("the search indexer stopped".into()));
            }
            s = self.cond.wait(s).unwrap_or_else(|e| e.into_inner());
        }
        Ok(())
    }
}

/// The indexer thread and its connections (`search.db`, and `chat.db` to read the messages).
pub(crate) struct Indexer {
    shared: Arc<Shared>,
    thread: Option<JoinHandle<()>>,
}

impl Indexer {
    pub(crate) fn start(chat: Connection, search: Connection) -> std::io::Result<Indexer> {
        let shared = Arc::new(Shared::default());
        let s = shared.clone();
        let thread =
            std::thread::Builder::new().name("longhall-sqlite-indexer".into()).spawn(move || run(chat, search, &s))?;
        Ok(Indexer { shared, thread: Some(thread) })
    }

    pub(crate) fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Stops after the round in progress; what is left is indexed at the next start.
    pub(crate) fn stop(&mut self) {
        self.shared.lock().stop = true;
        self.shared.cond.notify_all();
        if let Some(t) = self.thread.take()
            && t.join().is_err()
        {
            tracing::error!("the sqlite search indexer thread panicked");
        }
    }
}

impl Drop for Indexer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(chat: Connection, search: Connection, shared: &Shared) {
    let mut seen = None;
    loop {
        let target = {
            let mut s = shared.lock();
            while seen == Some(s.wanted) && !s.stop {
                s = shared.cond.wait(s).unwrap_or_else(|e| e.into_inner());
            }
            if s.stop {
                break;
            }
            if seen.is_some() {
                drop(s);
                std::thread::sleep(GATHER);
                s = shared.lock();
            }
            s.wanted
        };
        seen = Some(target);
        loop {
            match round(&chat, &search) {
                Ok(true) => {
                    if shared.lock().stop {
                        break;
                    }
                }
                Ok(false) => {
                    let mut s = shared.lock();
                    s.caught_up = s.caught_up.max(target);
                    shared.cond.notify_all();
                    break;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "search indexing failed; trying again");
                    std::thread::sleep(RETRY);
                    if shared.lock().stop {
                        break;
                    }
                }
            }
        }
    }
    if let Err(e) = search.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)") {
        tracing::warn!(error = %e, "checkpoint of search.db at shutdown failed");
    }
}

/// One indexing round in one transaction of `search.db`, reading one snapshot of `chat.db`.
/// Returns whether more is left to do.
fn round(chat: &Connection, search: &Connection) -> StoreResult<bool> {
    search.execute_batch("BEGIN IMMEDIATE").db()?;
    chat.execute_batch("BEGIN").db()?;
    let result = round_in(chat, search);
    let _ = chat.execute_batch("COMMIT");
    let (more, pruned) = match result {
        Ok(v) => v,
        Err(e) => {
            let _ = search.execute_batch("ROLLBACK");
            return Err(e);
        }
    };
    search.execute_batch("COMMIT").db()?;
    if let Some(done) = pruned {
        // Applied and committed above; a prune lost to a crash is done by a later round.
        chat.execute("DELETE FROM search_queue WHERE qid <= ?1", [done]).db()?;
    }
    Ok(more)
}

/// Returns whether more is left, and the last queue entry applied if the queue can be pruned.
fn round_in(chat: &Connection, search: &Connection) -> StoreResult<(bool, Option<i64>)> {
    let (mark, done): (i64, i64) =
        search.query_row("SELECT mark, done FROM state WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?))).db()?;
    let queue: Vec<(i64, i64)> = chat
        .prepare_cached("SELECT qid, message_id FROM search_queue WHERE qid > ?1 ORDER BY qid LIMIT ?2")
        .db()?
        .query_map(params![done, QUEUE_CHUNK], |r| Ok((r.get(0)?, r.get(1)?)))
        .db()?
        .collect::<rusqlite::Result<_>>()
        .db()?;
    let queue_full = queue.len() as i64 == QUEUE_CHUNK;
    let mut put_tri = search.prepare_cached("INSERT INTO trigrams (rowid, text) VALUES (?1, ?2)").db()?;
    let mut put_grams = search.prepare_cached("INSERT INTO grams (rowid, g) VALUES (?1, ?2)").db()?;
    let mut put = |id: i64, text: &str| -> StoreResult<()> {
        let folded = fold(text);
        put_tri.execute(params![id, folded]).db()?;
        let g = grams(&folded);
        if !g.is_empty() {
            put_grams.execute(params![id, g]).db()?;
        }
        Ok(())
    };
    // Replaced and deleted messages first: out of the index, and back with their text if they
    // are still there and below the mark (those above it are indexed by the walk below).
    let mut ids: Vec<i64> = queue.iter().map(|&(_, id)| id).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut text_of = chat.prepare_cached("SELECT text FROM messages WHERE id = ?1").db()?;
    for &id in &ids {
        search.execute("DELETE FROM trigrams WHERE rowid = ?1", [id]).db()?;
        search.execute("DELETE FROM grams WHERE rowid = ?1", [id]).db()?;
        if id <= mark
            && let Some(text) = text_of.query_row([id], |r| r.get::<_, String>(0)).optional().db()?
        {
            put(id, &text)?;
        }
    }
    let done = queue.last().map_or(done, |&(qid, _)| qid);
    let mut new_mark = mark;
    let mut walk_full = false;
    // The walk needs every queue entry of this snapshot applied first (a deleted id above the
    // new mark may come back).
    if !queue_full {
        let mut rows = chat.prepare_cached("SELECT id, text FROM messages WHERE id > ?1 ORDER BY id LIMIT ?2").db()?;
        let mut rows = rows.query(params![mark, CHUNK]).db()?;
        let mut n = 0;
        let mut last = mark;
        while let Some(r) = rows.next().db()? {
            let id: i64 = r.get(0).db()?;
            let text: String = r.get(1).db()?;
            put(id, &text)?;
            last = id;
            n += 1;
        }
        walk_full = n == CHUNK;
        new_mark = if walk_full {
            last
        } else {
            // Everything is indexed: the mark is the newest message, lower than before if the
            // newest were deleted (a new message may take a deleted one's id).
            chat.query_row("SELECT coalesce(max(id), 0) FROM messages", [], |r| r.get(0)).db()?
        };
    }
    search.execute("UPDATE state SET mark = ?1, done = ?2 WHERE id = 1", params![new_mark, done]).db()?;
    let pruned = (!queue.is_empty()).then_some(done);
    Ok((queue_full || walk_full, pruned))
}

// ---- search

/// The message columns of `message_row`, then the message's id.
macro_rules! hit_columns {
    () => {
        "SELECT m.room_id, m.seq, m.ts, m.author, m.text, m.alert, m.story_title, m.replaced, \
         f.id, f.name, f.size, f.content_type, m.id "
    };
}

/// The filters of a query other than its text: rooms ?1 (JSON array), author ?2, from ?3, to ?4.
const FILTERS: &str = "m.room_id IN (SELECT value FROM json_each(?1)) \
     AND (?2 IS NULL OR m.author = ?2) AND (?3 IS NULL OR m.ts >= ?3) AND (?4 IS NULL OR m.ts <= ?4)";

/// The same for a walk of the messages by id, newest first: the room list is only checked,
/// never used to pick the rows (a walk of the tail must not turn into one of every room).
const WALK_FILTERS: &str = "+m.room_id IN (SELECT value FROM json_each(?1)) \
     AND (?2 IS NULL OR m.author = ?2) AND (?3 IS NULL OR m.ts >= ?3) AND (?4 IS NULL OR m.ts <= ?4)";

pub(crate) fn search(c: &Connection, q: &SearchQuery) -> StoreResult<Vec<StoredMessage>> {
    if q.rooms.is_empty() || q.limit == 0 {
        return Ok(Vec::new());
    }
    let rooms = serde_json::Value::from(q.rooms.clone()).to_string();
    let limit = q.limit as usize;
    let Some(text) = q.text.as_deref().filter(|t| !t.is_empty()) else {
        return c
            .prepare_cached(&format!(
                concat!(
                    hit_columns!(),
                    "FROM messages m LEFT JOIN files f ON f.id = m.file_id WHERE {} ORDER BY m.id DESC LIMIT ?5"
                ),
                FILTERS
            ))
            .db()?
            .query_map(params![rooms, q.author, q.from_ts, q.to_ts, q.limit], message_row)
            .db()?
            .collect::<rusqlite::Result<Vec<_>>>()
            .db();
    };
    let needle = fold(text);
    let filters = (rooms.as_str(), q.author, q.from_ts, q.to_ts);
    c.execute_batch("BEGIN").db()?;
    let result = match index_query(&needle) {
        Some(iq) => indexed(c, &iq, &needle, filters, limit),
        // Short ASCII texts match most messages: newest first, the scan stops early.
        None => scan_above(c, 0, &needle, filters, limit),
    };
    let _ = c.execute_batch("COMMIT");
    result
}

type Filters<'a> = (&'a str, Option<i64>, Option<i64>, Option<i64>);

fn matches(m: &StoredMessage, needle: &str) -> bool {
    fold(&m.text).contains(needle)
}

/// Messages with an id above `above` that match, newest first, up to `limit`.
fn scan_above(
    c: &Connection,
    above: i64,
    needle: &str,
    (rooms, author, from, to): Filters<'_>,
    limit: usize,
) -> StoreResult<Vec<StoredMessage>> {
    let mut stmt = c
        .prepare_cached(&format!(
            concat!(
                hit_columns!(),
                "FROM messages m LEFT JOIN files f ON f.id = m.file_id WHERE m.id > ?5 AND {} ORDER BY m.id DESC"
            ),
            if above > 0 { WALK_FILTERS } else { FILTERS }
        ))
        .db()?;
    let mut rows = stmt.query(params![rooms, author, from, to, above]).db()?;
    let mut out = Vec::new();
    while out.len() < limit
        && let Some(r) = rows.next().db()?
    {
        let m = message_row(r).db()?;
        if matches(&m, needle) {
            out.push(m);
        }
    }
    Ok(out)
}

fn indexed(
    c: &Connection,
    iq: &IndexQuery,
    needle: &str,
    filters: Filters<'_>,
    limit: usize,
) -> StoreResult<Vec<StoredMessage>> {
    // chat.db's snapshot first, then the index's: the index is never older than the messages
    // and queue read here, so every message of this snapshot is below the mark (and indexed,
    // or named in the queue since the index's last round) or above it (in the tail).
    let _: i64 = c.query_row("SELECT coalesce(max(qid), 0) FROM main.search_queue", [], |r| r.get(0)).db()?;
    let (mark, done): (i64, i64) =
        c.query_row("SELECT mark, done FROM search.state WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?))).db()?;
    let mut out = scan_above(c, mark, needle, filters, limit)?;
    if out.len() >= limit {
        return Ok(out);
    }
    let (rooms, author, from, to) = filters;
    // Messages changed since the index's last round: checked here, skipped in the index.
    let dirty: Vec<i64> = c
        .prepare_cached("SELECT DISTINCT message_id FROM main.search_queue WHERE qid > ?1 AND message_id <= ?2")
        .db()?
        .query_map(params![done, mark], |r| r.get(0))
        .db()?
        .collect::<rusqlite::Result<_>>()
        .db()?;
    let dirty_json = serde_json::Value::from(dirty.clone()).to_string();
    let mut changed: Vec<(i64, StoredMessage)> = Vec::new();
    if !dirty.is_empty() {
        let mut stmt = c
            .prepare_cached(&format!(
                concat!(
                    hit_columns!(),
                    "FROM messages m LEFT JOIN files f ON f.id = m.file_id \
                     WHERE m.id IN (SELECT value FROM json_each(?5)) AND {} ORDER BY m.id DESC"
                ),
                FILTERS
            ))
            .db()?;
        let mut rows = stmt.query(params![rooms, author, from, to, dirty_json]).db()?;
        while let Some(r) = rows.next().db()? {
            let m = message_row(r).db()?;
            if matches(&m, needle) {
                changed.push((r.get(12).db()?, m));
            }
        }
    }
    let (table, fts) = match iq {
        IndexQuery::Trigrams(q) => ("trigrams", q.as_str()),
        IndexQuery::Grams(q) => ("grams", q.as_str()),
    };
    let mut stmt = c
        .prepare_cached(&format!(
            concat!(
                hit_columns!(),
                "FROM search.{t} x JOIN messages m ON m.id = x.rowid LEFT JOIN files f ON f.id = m.file_id \
                 WHERE x.{t} MATCH ?5 AND x.rowid <= ?6 AND x.rowid NOT IN (SELECT value FROM json_each(?7)) \
                 AND {f} ORDER BY x.rowid DESC"
            ),
            t = table,
            f = FILTERS
        ))
        .db()?;
    let mut rows = stmt.query(params![rooms, author, from, to, fts, mark, dirty_json]).db()?;
    let mut changed = changed.into_iter().peekable();
    while out.len() < limit {
        let Some(r) = rows.next().db()? else { break };
        let id: i64 = r.get(12).db()?;
        while out.len() < limit
            && let Some((_, m)) = changed.next_if(|(cid, _)| *cid > id)
        {
            out.push(m);
        }
        let m = message_row(r).db()?;
        if out.len() < limit && matches(&m, needle) {
            out.push(m);
        }
    }
    out.extend(changed.map(|(_, m)| m).take(limit - out.len().min(limit)));
    Ok(out)
}
