//! The WebSocket wire protocol (RFC 6455), server side, as the live channel uses it.
//!
//! Delivery is the hot path: one message goes to thousands of connections. So an outgoing
//! frame is a 2–10 byte header written together with the payload bytes that every recipient
//! shares (one vectored write per batch of frames): nothing is copied or re-validated per
//! recipient, and a connection keeps no write buffer of its own. Incoming client frames are
//! small; the read buffer starts tiny and is given back after a large message, so an idle
//! connection costs a few hundred bytes here.
//!
//! No extension is negotiated (no compression), so reserved bits are always an error.

use std::io::{self, IoSlice};

use bytes::{Buf, Bytes, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub const OP_CONTINUATION: u8 = 0x0;
pub const OP_TEXT: u8 = 0x1;
pub const OP_BINARY: u8 = 0x2;
pub const OP_CLOSE: u8 = 0x8;
pub const OP_PING: u8 = 0x9;
pub const OP_PONG: u8 = 0xA;

/// Close codes (RFC 6455 §7.4.1).
pub const CLOSE_NORMAL: u16 = 1000;
pub const CLOSE_GOING_AWAY: u16 = 1001;
pub const CLOSE_PROTOCOL_ERROR: u16 = 1002;
pub const CLOSE_INVALID_DATA: u16 = 1007;
pub const CLOSE_POLICY: u16 = 1008;
pub const CLOSE_TOO_BIG: u16 = 1009;

/// What an idle connection's read buffer holds on to.
const IDLE_READ_CAPACITY: usize = 256;
/// Frames written per vectored write (two slices each; well under IOV_MAX).
pub const WRITE_BATCH: usize = 64;
/// A batch stops growing past this many bytes: a connection being closed says goodbye after
/// the batch in flight, so that batch must stay small enough for a slow reader to take quickly.
pub const WRITE_BATCH_BYTES: usize = 256 * 1024;

/// The `Sec-WebSocket-Accept` value for a client's `Sec-WebSocket-Key`.
pub fn accept_key(key: &[u8]) -> String {
    tokio_tungstenite::tungstenite::handshake::derive_accept_key(key)
}

/// The header of an unmasked server frame with FIN set: its bytes and length.
pub fn header(opcode: u8, len: usize) -> ([u8; 10], usize) {
    let mut h = [0u8; 10];
    h[0] = 0x80 | opcode;
    if len < 126 {
        h[1] = len as u8;
        (h, 2)
    } else if len <= u16::MAX as usize {
        h[1] = 126;
        h[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        (h, 4)
    } else {
        h[1] = 127;
        h[2..10].copy_from_slice(&(len as u64).to_be_bytes());
        (h, 10)
    }
}

/// Writes text frames, each from its shared payload, in one vectored write per batch.
/// `frames` holds at most [`WRITE_BATCH`] frames.
pub async fn write_text_frames<W: AsyncWrite + Unpin>(w: &mut W, frames: &[Bytes]) -> io::Result<()> {
    debug_assert!(frames.len() <= WRITE_BATCH);
    let headers: Vec<([u8; 10], usize)> = frames.iter().map(|f| header(OP_TEXT, f.len())).collect();
    let mut slices: Vec<IoSlice<'_>> = Vec::with_capacity(frames.len() * 2);
    for ((h, n), f) in headers.iter().zip(frames) {
        slices.push(IoSlice::new(&h[..*n]));
        slices.push(IoSlice::new(f));
    }
    write_all_vectored(w, &mut slices).await
}

/// Writes one control or text frame (`closing`, pong, close).
pub async fn write_frame<W: AsyncWrite + Unpin>(w: &mut W, opcode: u8, payload: &[u8]) -> io::Result<()> {
    let (h, n) = header(opcode, payload.len());
    write_all_vectored(w, &mut [IoSlice::new(&h[..n]), IoSlice::new(payload)]).await
}

/// A close frame's payload: the code, then a reason of at most 123 bytes.
pub fn close_payload(code: u16, reason: &str) -> Vec<u8> {
    let mut p = code.to_be_bytes().to_vec();
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    p.extend_from_slice(&reason.as_bytes()[..end]);
    p
}

async fn write_all_vectored<W: AsyncWrite + Unpin>(w: &mut W, mut slices: &mut [IoSlice<'_>]) -> io::Result<()> {
    while !slices.is_empty() {
        let n = w.write_vectored(slices).await?;
        if n == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        IoSlice::advance_slices(&mut slices, n);
    }
    Ok(())
}

/// A complete message or control frame from the client.
#[derive(Debug, PartialEq, Eq)]
pub enum Incoming {
    Text(String),
    Binary,
    Ping(Bytes),
    Pong,
    /// The close code, if the client gave one.
    Close(Option<u16>),
}

/// Why reading stopped. Every variant but `Io` is the client's fault and has a close code.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    /// The frames broke RFC 6455 (unmasked, reserved bits, bad opcode, bad fragmentation).
    Protocol(&'static str),
    /// A message longer than the reader's limit.
    TooLarge,
    /// A text message that is not UTF-8.
    InvalidUtf8,
}

impl ReadError {
    pub fn close_code(&self) -> Option<u16> {
        match self {
            ReadError::Io(_) => None,
            ReadError::Protocol(_) => Some(CLOSE_PROTOCOL_ERROR),
            ReadError::TooLarge => Some(CLOSE_TOO_BIG),
            ReadError::InvalidUtf8 => Some(CLOSE_INVALID_DATA),
        }
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "read failed: {e}"),
            ReadError::Protocol(why) => write!(f, "protocol error: {why}"),
            ReadError::TooLarge => f.write_str("message too large"),
            ReadError::InvalidUtf8 => f.write_str("text message is not UTF-8"),
        }
    }
}

/// Reads client frames (masked, as RFC 6455 requires) and reassembles fragmented messages.
pub struct FrameReader<R> {
    io: R,
    buf: BytesMut,
    /// A fragmented message in progress: its opcode and the payload so far.
    partial: Option<(u8, Vec<u8>)>,
    max_message: usize,
}

struct FrameHead {
    fin: bool,
    opcode: u8,
    mask: [u8; 4],
    header_len: usize,
    len: usize,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    pub fn new(io: R, max_message: usize) -> FrameReader<R> {
        FrameReader { io, buf: BytesMut::new(), partial: None, max_message }
    }

    /// The next message or control frame; `Ok(None)` when the client closed the stream.
    pub async fn next(&mut self) -> Result<Option<Incoming>, ReadError> {
        loop {
            let Some(head) = self.parse_head()? else {
                if !self.fill().await? {
                    return Ok(None);
                }
                continue;
            };
            let total = head.header_len + head.len;
            while self.buf.len() < total {
                self.buf.reserve(total - self.buf.len());
                if !self.fill().await? {
                    return Ok(None);
                }
            }
            self.buf.advance(head.header_len);
            let mut payload = self.buf.split_to(head.len);
            for (i, b) in payload.iter_mut().enumerate() {
                *b ^= head.mask[i & 3];
            }
            let message = self.frame(head, payload.freeze())?;
            self.release_if_idle();
            if let Some(m) = message {
                return Ok(Some(m));
            }
        }
    }

    /// Reads more bytes; false at the end of the stream.
    async fn fill(&mut self) -> Result<bool, ReadError> {
        if self.buf.capacity() == self.buf.len() {
            self.buf.reserve(IDLE_READ_CAPACITY);
        }
        let n = self.io.read_buf(&mut self.buf).await.map_err(ReadError::Io)?;
        Ok(n > 0)
    }

    /// After a large message, give the memory back: idle connections are the many.
    fn release_if_idle(&mut self) {
        if self.buf.is_empty() && self.buf.capacity() > 4 * IDLE_READ_CAPACITY {
            self.buf = BytesMut::new();
        }
    }

    fn parse_head(&self) -> Result<Option<FrameHead>, ReadError> {
        let b = &self.buf[..];
        if b.len() < 2 {
            return Ok(None);
        }
        let (fin, rsv, opcode) = (b[0] & 0x80 != 0, b[0] & 0x70, b[0] & 0x0F);
        if rsv != 0 {
            return Err(ReadError::Protocol("reserved bits set without an extension"));
        }
        if b[1] & 0x80 == 0 {
            return Err(ReadError::Protocol("client frames must be masked"));
        }
        let (len, at) = match b[1] & 0x7F {
            126 if b.len() < 4 => return Ok(None),
            126 => (u16::from_be_bytes([b[2], b[3]]) as u64, 4),
            127 if b.len() < 10 => return Ok(None),
            127 => (u64::from_be_bytes(b[2..10].try_into().unwrap_or_default()), 10),
            n => (n as u64, 2),
        };
        let control = opcode & 0x8 != 0;
        match opcode {
            OP_CONTINUATION | OP_TEXT | OP_BINARY | OP_CLOSE | OP_PING | OP_PONG => {}
            _ => return Err(ReadError::Protocol("unknown opcode")),
        }
        if control && (!fin || len > 125) {
            return Err(ReadError::Protocol("control frames must be whole and at most 125 bytes"));
        }
        let so_far = self.partial.as_ref().map(|(_, p)| p.len() as u64).unwrap_or(0);
        if !control && so_far + len > self.max_message as u64 {
            return Err(ReadError::TooLarge);
        }
        if b.len() < at + 4 {
            return Ok(None);
        }
        let mask = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        Ok(Some(FrameHead { fin, opcode, mask, header_len: at + 4, len: len as usize }))
    }

    /// One frame's meaning: a whole message, a control frame, or part of a message.
    fn frame(&mut self, head: FrameHead, payload: Bytes) -> Result<Option<Incoming>, ReadError> {
        match head.opcode {
            OP_PING => Ok(Some(Incoming::Ping(payload))),
            OP_PONG => Ok(Some(Incoming::Pong)),
            OP_CLOSE => match payload.len() {
                0 => Ok(Some(Incoming::Close(None))),
                1 => Err(ReadError::Protocol("a close payload has a two-byte code")),
                _ => Ok(Some(Incoming::Close(Some(u16::from_be_bytes([payload[0], payload[1]]))))),
            },
            OP_CONTINUATION => {
                let Some((_, so_far)) = self.partial.as_mut() else {
                    return Err(ReadError::Protocol("a continuation frame without a message to continue"));
                };
                so_far.extend_from_slice(&payload);
                if !head.fin {
                    return Ok(None);
                }
                let (opcode, whole) = self.partial.take().unwrap_or_default();
                message(opcode, whole)
            }
            opcode => {
                if self.partial.is_some() {
                    return Err(ReadError::Protocol("a new message began before the last one ended"));
                }
                if head.fin {
                    return message(opcode, payload.to_vec());
                }
                self.partial = Some((opcode, payload.to_vec()));
                Ok(None)
            }
        }
    }
}

fn message(opcode: u8, payload: Vec<u8>) -> Result<Option<Incoming>, ReadError> {
    if opcode == OP_BINARY {
        return Ok(Some(Incoming::Binary));
    }
    String::from_utf8(payload).map(|t| Some(Incoming::Text(t))).map_err(|_| ReadError::InvalidUtf8)
}

/// Writes a masked client frame (for tests of the reader).
#[cfg(test)]
fn client_frame(fin: bool, opcode: u8, payload: &[u8], mask: [u8; 4]) -> Vec<u8> {
    let (h, n) = header(opcode, payload.len());
    let mut f = h[..n].to_vec();
    if !fin {
        f[0] &= 0x7F;
    }
    f[1] |= 0x80;
    f.extend_from_slice(&mask);
    f.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i & 3]));
    f
}

#[cfg(test)]
mod tests {
    use super::*;

    const MASK: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

    async fn read_all(bytes: Vec<u8>, max: usize) -> (Vec<Incoming>, Option<ReadError>) {
        let mut r = FrameReader::new(&bytes[..], max);
        let mut got = vec![];
        loop {
            match r.next().await {
                Ok(Some(m)) => got.push(m),
                Ok(None) => return (got, None),
                Err(e) => return (got, Some(e)),
            }
        }
    }

    #[tokio::test]
    async fn reads_text_of_every_length_encoding() {
        for len in [0usize, 1, 125, 126, 65_535, 65_536, 200_000] {
            let text = "é".repeat(len / 2) + &"x".repeat(len % 2);
            let (got, err) = read_all(client_frame(true, OP_TEXT, text.as_bytes(), MASK), 1 << 20).await;
            assert!(err.is_none(), "{len}: {err:?}");
            assert_eq!(got, vec![Incoming::Text(text)], "{len}");
        }
    }

    #[tokio::test]
    async fn reassembles_fragments_with_control_frames_between() {
        let mut bytes = client_frame(false, OP_TEXT, b"{\"type\":", MASK);
        bytes.extend(client_frame(true, OP_PING, b"are you there", MASK));
        bytes.extend(client_frame(false, OP_CONTINUATION, b"\"ping\",", MASK));
        bytes.extend(client_frame(true, OP_CONTINUATION, b"\"id\":\"k\"}", MASK));
        bytes.extend(client_frame(true, OP_CLOSE, &close_payload(CLOSE_NORMAL, "bye"), MASK));
        let (got, err) = read_all(bytes, 1024).await;
        assert!(err.is_none(), "{err:?}");
        assert_eq!(
            got,
            vec![
                Incoming::Ping(Bytes::from_static(b"are you there")),
                Incoming::Text("{\"type\":\"ping\",\"id\":\"k\"}".into()),
                Incoming::Close(Some(CLOSE_NORMAL)),
            ]
        );
    }

    #[tokio::test]
    async fn refuses_what_rfc_6455_forbids() {
        let unmasked = {
            let (h, n) = header(OP_TEXT, 2);
            let mut f = h[..n].to_vec();
            f.extend_from_slice(b"hi");
            f
        };
        let mut rsv = client_frame(true, OP_TEXT, b"hi", MASK);
        rsv[0] |= 0x40;
        let cases: Vec<(&str, Vec<u8>, u16)> = vec![
            ("unmasked", unmasked, CLOSE_PROTOCOL_ERROR),
            ("reserved bit", rsv, CLOSE_PROTOCOL_ERROR),
            ("opcode 3", client_frame(true, 0x3, b"", MASK), CLOSE_PROTOCOL_ERROR),
            ("fragmented ping", client_frame(false, OP_PING, b"", MASK), CLOSE_PROTOCOL_ERROR),
            ("long ping", client_frame(true, OP_PING, &[0; 126], MASK), CLOSE_PROTOCOL_ERROR),
            ("lone continuation", client_frame(true, OP_CONTINUATION, b"x", MASK), CLOSE_PROTOCOL_ERROR),
            ("not UTF-8", client_frame(true, OP_TEXT, &[0xff, 0xfe], MASK), CLOSE_INVALID_DATA),
            ("too large", client_frame(true, OP_TEXT, &[b'x'; 1025], MASK), CLOSE_TOO_BIG),
            (
                "too large in fragments",
                [
                    client_frame(false, OP_TEXT, &[b'x'; 1000], MASK),
                    client_frame(true, OP_CONTINUATION, &[b'x'; 25], MASK),
                ]
                .concat(),
                CLOSE_TOO_BIG,
            ),
            (
                "interleaved messages",
                [client_frame(false, OP_TEXT, b"a", MASK), client_frame(true, OP_TEXT, b"b", MASK)].concat(),
                CLOSE_PROTOCOL_ERROR,
            ),
        ];
        for (name, bytes, code) in cases {
            let (_, err) = read_all(bytes, 1024).await;
            let err = err.unwrap_or_else(|| panic!("{name}: accepted"));
            assert_eq!(err.close_code(), Some(code), "{name}: {err}");
        }
    }

    #[tokio::test]
    async fn a_frame_split_across_reads_is_whole_and_the_buffer_shrinks_after() {
        let big = "y".repeat(50_000);
        let bytes =
            [client_frame(true, OP_TEXT, big.as_bytes(), MASK), client_frame(true, OP_TEXT, b"s", MASK)].concat();
        // A reader that hands out 7 bytes at a time.
        let (mut tx, rx) = tokio::io::duplex(7);
        let writer = tokio::spawn(async move { tx.write_all(&bytes).await });
        let mut r = FrameReader::new(rx, 1 << 20);
        assert_eq!(r.next().await.ok().flatten(), Some(Incoming::Text(big)));
        assert_eq!(r.next().await.ok().flatten(), Some(Incoming::Text("s".into())));
        assert!(r.buf.capacity() <= 4 * IDLE_READ_CAPACITY, "{}", r.buf.capacity());
        writer.await.ok();
        assert!(matches!(r.next().await, Ok(None)));
    }

    #[tokio::test]
    async fn writes_frames_a_client_reads_back() {
        let frames: Vec<Bytes> = [0usize, 125, 126, 70_000].iter().map(|n| Bytes::from("z".repeat(*n))).collect();
        let mut out = vec![];
        write_text_frames(&mut out, &frames).await.ok();
        // Decode as a client would (unmasked server frames).
        let mut at = 0;
        for f in &frames {
            assert_eq!(out[at], 0x81);
            let (len, hl) = match out[at + 1] {
                126 => (u16::from_be_bytes([out[at + 2], out[at + 3]]) as usize, 4),
                127 => (u64::from_be_bytes(out[at + 2..at + 10].try_into().unwrap_or_default()) as usize, 10),
                n => (n as usize, 2),
            };
            assert_eq!(&out[at + hl..at + hl + len], &f[..]);
            at += hl + len;
        }
        assert_eq!(at, out.len());
    }
}
