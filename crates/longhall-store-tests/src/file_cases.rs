//! Cases for `FileStore` implementations.

use bytes::Bytes;
use futures_util::StreamExt;
use longhall_core::ports::{ByteStream, FileStore, FileStoreError};

fn body(chunks: Vec<Vec<u8>>) -> ByteStream {
    Box::pin(futures_util::stream::iter(chunks.into_iter().map(|c| Ok(Bytes::from(c)))))
}

/// Bytes that differ at every position, so a reordered or dropped chunk shows.
fn pattern(len: usize, seed: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed)).collect()
}

async fn read_all<F: FileStore>(f: &F, key: &str) -> std::io::Result<Vec<u8>> {
    let mut stream = f.read(key.to_owned()).await?;
    let mut out = Vec::new();
    while let Some(chunk) = stream.next().await {
        out.extend_from_slice(&chunk?);
    }
    Ok(out)
}

pub async fn write_then_read_back<F: FileStore>(f: &F) {
    let chunks = vec![pattern(10, 1), pattern(150_000, 2), Vec::new(), pattern(70_001, 3)];
    let all: Vec<u8> = chunks.concat();
    let size = f.write("file-1".into(), body(chunks), 1 << 20).await.unwrap();
    assert_eq!(size, all.len() as u64);
    assert_eq!(read_all(f, "file-1").await.unwrap(), all);

    let empty = f.write("empty_1".into(), body(vec![]), 10).await.unwrap();
    assert_eq!(empty, 0);
    assert!(read_all(f, "empty_1").await.unwrap().is_empty());
}

pub async fn exactly_the_limit_is_accepted<F: FileStore>(f: &F) {
    let size = f.write("at-limit".into(), body(vec![pattern(600, 1), pattern(424, 2)]), 1024).await.unwrap();
    assert_eq!(size, 1024);
}

pub async fn too_large_keeps_nothing<F: FileStore>(f: &F) {
    let r = f.write("big".into(), body(vec![pattern(1000, 1), pattern(1000, 2)]), 1500).await;
    assert!(matches!(r, Err(FileStoreError::TooLarge { limit: 1500 })), "{r:?}");
    assert!(read_all(f, "big").await.is_err(), "nothing stored under the key");
    // The key is still usable.
    f.write("big".into(), body(vec![pattern(10, 1)]), 1500).await.unwrap();
    assert_eq!(read_all(f, "big").await.unwrap(), pattern(10, 1));
}

pub async fn failing_body_keeps_nothing<F: FileStore>(f: &F) {
    let items: Vec<std::io::Result<Bytes>> =
        vec![Ok(Bytes::from(pattern(100, 1))), Err(std::io::Error::other("client went away"))];
    let r = f.write("broken".into(), Box::pin(futures_util::stream::iter(items)), 1 << 20).await;
    assert!(matches!(r, Err(FileStoreError::Io(_))), "{r:?}");
    assert!(read_all(f, "broken").await.is_err());
}

pub async fn remove_deletes_the_object<F: FileStore>(f: &F) {
    f.write("gone".into(), body(vec![pattern(5, 1)]), 100).await.unwrap();
    f.write("kept".into(), body(vec![pattern(5, 2)]), 100).await.unwrap();
    f.remove("gone".into()).await.unwrap();
    assert!(read_all(f, "gone").await.is_err());
    assert_eq!(read_all(f, "kept").await.unwrap(), pattern(5, 2));
    f.remove("gone".into()).await.unwrap();
}

/// Keys are path components; anything that could escape the store is refused.
pub async fn unsafe_keys_are_refused<F: FileStore>(f: &F) {
    for key in ["", "../escape", "a/b", "..", ".tmp-x", "a b", "a\0b", "/etc/passwd", "C:\\x", "é"] {
        let r = f.write(key.into(), body(vec![pattern(5, 1)]), 100).await;
        assert!(matches!(r, Err(FileStoreError::Io(_))), "write {key:?}: {r:?}");
        assert!(f.read(key.into()).await.is_err(), "read {key:?}");
        assert!(f.remove(key.into()).await.is_err(), "remove {key:?}");
    }
}
