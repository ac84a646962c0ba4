//! A ZIP file written on a blocking thread while async code produces its entries: the producer
//! sends pieces through a small channel (back-pressure), so memory stays flat whatever the size
//! of the archive. Used by the code exports and by the account data export.

use std::io::Write;
use std::path::PathBuf;

use bytes::Bytes;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// How an entry is stored: images are compressed already, text is not.
#[derive(Debug, Clone, Copy)]
pub enum Packing {
    Stored,
    Deflated,
}

enum Piece {
    Start(String, Packing),
    Data(Bytes),
}

pub struct ZipSink {
    tx: mpsc::Sender<Piece>,
    writer: JoinHandle<anyhow::Result<u64>>,
}

/// Pieces queued between the producer and the writer.
const QUEUED: usize = 16;

impl ZipSink {
    /// Starts writing a new archive at `path` (created, or truncated).
    pub fn create(path: PathBuf) -> ZipSink {
        let (tx, mut rx) = mpsc::channel::<Piece>(QUEUED);
        let writer = tokio::task::spawn_blocking(move || -> anyhow::Result<u64> {
            let file = std::io::BufWriter::new(std::fs::File::create(&path)?);
            let mut zip = zip::ZipWriter::new(file);
            while let Some(piece) = rx.blocking_recv() {
                match piece {
                    Piece::Start(name, packing) => {
                        let method = match packing {
                            Packing::Stored => zip::CompressionMethod::Stored,
                            Packing::Deflated => zip::CompressionMethod::Deflated,
                        };
                        let options = zip::write::SimpleFileOptions::default()
                            .compression_method(method)
                            .large_file(false);
                        zip.start_file(name, options)?;
                    }
                    Piece::Data(bytes) => zip.write_all(&bytes)?,
                }
            }
            let mut file = zip.finish()?;
            file.flush()?;
            Ok(file.get_ref().metadata()?.len())
        });
        ZipSink { tx, writer }
    }

    /// Begins the next entry; what is written until the next `start` goes into it.
    pub async fn start(&self, name: impl Into<String>, packing: Packing) -> anyhow::Result<()> {
        self.send(Piece::Start(name.into(), packing)).await
    }

    pub async fn write(&self, bytes: impl Into<Bytes>) -> anyhow::Result<()> {
        self.send(Piece::Data(bytes.into())).await
    }

    /// A whole entry at once.
    pub async fn entry(
        &self,
        name: impl Into<String>,
        packing: Packing,
        bytes: impl Into<Bytes>,
    ) -> anyhow::Result<()> {
        self.start(name, packing).await?;
        self.write(bytes).await
    }

    /// Closes the archive; answers its size in bytes, or the writer's error.
    pub async fn finish(self) -> anyhow::Result<u64> {
        drop(self.tx);
        self.writer.await?
    }

    async fn send(&self, piece: Piece) -> anyhow::Result<()> {
        // A closed channel means the writer failed; `finish` reports why.
        self.tx
            .send(piece)
            .await
            .map_err(|_| anyhow::anyhow!("the ZIP writer stopped (see finish)"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn entries_round_trip_in_order() {
        let path = std::env::temp_dir().join(format!("qrsaas-zip-{}.zip", uuid::Uuid::now_v7()));
        let zip = ZipSink::create(path.clone());
        zip.entry("a.png", Packing::Stored, &b"\x89PNG"[..])
            .await
            .unwrap();
        zip.start("b.json", Packing::Deflated).await.unwrap();
        for _ in 0..1000 {
            zip.write(&b"{\"k\": \"value\"},\n"[..]).await.unwrap();
        }
        let size = zip.finish().await.unwrap();
        let mut archive = zip::ZipArchive::new(std::fs::File::open(&path).unwrap()).unwrap();
        assert_eq!(archive.file_names().count(), 2);
        assert_eq!(archive.by_index(0).unwrap().name(), "a.png");
        let b = archive.by_name("b.json").unwrap();
        assert_eq!(b.size(), 16_000);
        assert!(b.compressed_size() < 1_000, "text is deflated");
        drop(b);
        assert_eq!(size, std::fs::metadata(&path).unwrap().len());
        std::fs::remove_file(&path).unwrap();
    }
}
