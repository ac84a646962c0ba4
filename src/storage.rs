//! File storage for uploads and exports, behind a trait so a deployment can swap the local
//! directory for an object store without touching callers.

use std::path::{Path, PathBuf};

use bytes::Bytes;
use futures::future::BoxFuture;

pub trait Store: Send + Sync {
    fn put<'a>(&'a self, key: &'a str, bytes: Bytes) -> BoxFuture<'a, std::io::Result<()>>;
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, std::io::Result<Bytes>>;
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, std::io::Result<()>>;
    /// Stores a finished local file under `key` (large files: exports), consuming the file.
    fn put_file<'a>(&'a self, key: &'a str, file: &'a Path) -> BoxFuture<'a, std::io::Result<()>>;
    /// Reads `key` as a stream of chunks, so large files are never held in memory whole.
    fn stream<'a>(&'a self, key: &'a str) -> BoxFuture<'a, std::io::Result<ByteStream>>;
    /// A local directory for files being built before `put_file` (same filesystem when local).
    fn scratch_dir(&self) -> PathBuf;
}

pub type ByteStream = futures::stream::BoxStream<'static, std::io::Result<Bytes>>;

/// Files under a root directory (`uploads/` by default).
pub struct LocalStore {
    root: PathBuf,
}

impl LocalStore {
    pub fn new(root: impl Into<PathBuf>) -> LocalStore {
        LocalStore { root: root.into() }
    }

    /// Keys are ours (`<user>/<uuid>.png`), but are still checked so that no key can leave the root.
    fn path(&self, key: &str) -> std::io::Result<PathBuf> {
        let safe = !key.is_empty()
            && key
                .split('/')
                .all(|part| !part.is_empty() && part != "." && part != "..")
            && key
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'/' | b'-' | b'_' | b'.'));
        if !safe {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "bad storage key",
            ));
        }
        Ok(self.root.join(Path::new(key)))
    }
}

impl Store for LocalStore {
    fn put<'a>(&'a self, key: &'a str, bytes: Bytes) -> BoxFuture<'a, std::io::Result<()>> {
        Box::pin(async move {
            let path = self.path(key)?;
            if let Some(dir) = path.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            // Write then rename, so a reader never sees half a file.
            let tmp = path.with_extension(format!("tmp-{}", uuid::Uuid::new_v4().simple()));
            tokio::fs::write(&tmp, &bytes).await?;
            tokio::fs::rename(&tmp, &path).await
        })
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, std::io::Result<Bytes>> {
        Box::pin(async move { tokio::fs::read(self.path(key)?).await.map(Bytes::from) })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, std::io::Result<()>> {
        Box::pin(async move {
            match tokio::fs::remove_file(self.path(key)?).await {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                other => other,
            }
        })
    }

    fn put_file<'a>(&'a self, key: &'a str, file: &'a Path) -> BoxFuture<'a, std::io::Result<()>> {
        Box::pin(async move {
            let path = self.path(key)?;
            if let Some(dir) = path.parent() {
                tokio::fs::create_dir_all(dir).await?;
            }
            // The scratch directory is under the root: a rename, atomic and instant.
            tokio::fs::rename(file, &path).await
        })
    }

    fn stream<'a>(&'a self, key: &'a str) -> BoxFuture<'a, std::io::Result<ByteStream>> {
        Box::pin(async move {
            let file = tokio::fs::File::open(self.path(key)?).await?;
            let s: ByteStream = Box::pin(tokio_util::io::ReaderStream::new(file));
            Ok(s)
        })
    }

    fn scratch_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn round_trip_and_no_escape() {
        let dir = std::env::temp_dir().join(format!("qrsaas-store-{}", uuid::Uuid::new_v4()));
        let store = LocalStore::new(&dir);
        store
            .put("u1/a.png", Bytes::from_static(b"abc"))
            .await
            .unwrap();
        assert_eq!(
            store.get("u1/a.png").await.unwrap(),
            Bytes::from_static(b"abc")
        );
        store.delete("u1/a.png").await.unwrap();
        assert!(store.get("u1/a.png").await.is_err());
        for bad in ["../x", "/etc/passwd", "a//b", "a/./b", ""] {
            assert!(store.put(bad, Bytes::new()).await.is_err(), "{bad}");
        }
        let _ = std::fs::remove_dir_all(dir);
    }
}
