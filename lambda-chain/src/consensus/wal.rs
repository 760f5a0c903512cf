//! The write-ahead log of what this validator signed.
//!
//! An append-only file of records `len (u32 BE) ‖ crc32 (u32 BE) ‖ payload`,
//! where the payload is a protobuf `lambda.chain.v1.WalEntry`. Every append
//! is followed by `fsync` before the driver sends the message, so after any
//! crash the log holds every signature that may have left the process. On
//! open the log is replayed; a torn tail (a record cut short or failing its
//! checksum, as a crash mid-append leaves) ends the replay and is truncated
//! away. Once a height is committed, [`Wal::prune_below`] rewrites the file
//! without the older records (write a temporary file, fsync, rename, fsync
//! the directory), so it stays small.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use prost::Message as _;

use super::io::WalEntry;
use crate::network::codec::{CodecError, wal_entry_from_pb, wal_entry_to_pb};
use crate::types::Height;

const HEADER: usize = 8;
/// Largest record accepted on replay (a 32 MB block plus framing).
const MAX_RECORD: usize = 64 << 20;

/// Why the log failed.
#[derive(Debug, thiserror::Error)]
pub enum WalError {
    /// An I/O operation on the log failed.
    #[error("write-ahead log {path}: {op}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What was being done.
        op: &'static str,
        /// The error.
        source: std::io::Error,
    },
    /// A record passed its checksum but does not decode: the file was
    /// written by something else.
    #[error("write-ahead log {path}: record at byte {offset} is corrupt: {source}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// Where the record starts.
        offset: u64,
        /// Why it does not decode.
        source: CodecError,
    },
}

/// The log file.
#[derive(Debug)]
pub struct Wal {
    path: PathBuf,
    file: File,
    entries: Vec<WalEntry>,
}

impl Wal {
    /// Opens (or creates) `dir/consensus.wal` and replays it.
    pub fn open(dir: &Path) -> Result<Self, WalError> {
        let path = dir.join("consensus.wal");
        let io = |op| io_err(&path, op);
        std::fs::create_dir_all(dir).map_err(io("creating the directory"))?;
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(&path)
            .map_err(io("opening"))?;
        let mut data = Vec::new();
        file.read_to_end(&mut data).map_err(io("reading"))?;
        let (entries, good) = decode_all(&path, &data)?;
        if good < data.len() {
            tracing::warn!(path = %path.display(), torn_bytes = data.len() - good, "truncating a torn tail of the write-ahead log");
            file.set_len(good as u64)
                .map_err(io("truncating a torn tail"))?;
            file.sync_all().map_err(io("syncing"))?;
        }
        file.seek(SeekFrom::End(0)).map_err(io("seeking"))?;
        Ok(Self {
            path,
            file,
            entries,
        })
    }

    /// The records replayed at open, plus those appended since.
    pub fn entries(&self) -> &[WalEntry] {
        &self.entries
    }

    /// Appends a record and syncs it to disk.
    pub fn append(&mut self, entry: &WalEntry) -> Result<(), WalError> {
        let record = frame(entry);
        let io = |op| io_err(&self.path, op);
        self.file.write_all(&record).map_err(io("appending"))?;
        self.file.sync_data().map_err(io("syncing"))?;
        self.entries.push(entry.clone());
        Ok(())
    }

    /// Drops the records of heights below `height` by rewriting the file.
    pub fn prune_below(&mut self, height: Height) -> Result<(), WalError> {
        if self.entries.iter().all(|e| e.message.height() >= height) {
            return Ok(());
        }
        self.entries.retain(|e| e.message.height() >= height);
        let tmp = self.path.with_extension("wal.tmp");
        let io = |op| io_err(&tmp, op);
        let mut f = File::create(&tmp).map_err(io("creating"))?;
        for e in &self.entries {
            f.write_all(&frame(e)).map_err(io("writing"))?;
        }
        f.sync_all().map_err(io("syncing"))?;
        std::fs::rename(&tmp, &self.path).map_err(io("renaming"))?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io("syncing the directory"))?;
        }
        self.file = OpenOptions::new()
            .append(true)
            .open(&self.path)
            .map_err(io("reopening"))?;
        Ok(())
    }
}

fn io_err(path: &Path, op: &'static str) -> impl FnOnce(std::io::Error) -> WalError {
    let path = path.to_path_buf();
    move |source| WalError::Io { path, op, source }
}

fn frame(entry: &WalEntry) -> Vec<u8> {
    let payload = wal_entry_to_pb(entry).encode_to_vec();
    let mut record = Vec::with_capacity(HEADER + payload.len());
    record.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    record.extend_from_slice(&crc32fast::hash(&payload).to_be_bytes());
    record.extend_from_slice(&payload);
    record
}

/// Decodes records until the data ends or a torn record; returns them and
/// the length of the intact prefix.
fn decode_all(path: &Path, data: &[u8]) -> Result<(Vec<WalEntry>, usize), WalError> {
    let mut entries = Vec::new();
    let mut at = 0usize;
    while data.len() - at >= HEADER {
        let word = |i: usize| u32::from_be_bytes([data[i], data[i + 1], data[i + 2], data[i + 3]]);
        let len = word(at) as usize;
        let crc = word(at + 4);
        if len > MAX_RECORD || data.len() - at - HEADER < len {
            break;
        }
        let payload = &data[at + HEADER..at + HEADER + len];
        if crc32fast::hash(payload) != crc {
            break;
        }
        let entry = lambda_proto::chain::v1::WalEntry::decode(payload)
            .map_err(CodecError::from)
            .and_then(wal_entry_from_pb)
            .map_err(|source| WalError::Corrupt {
                path: path.to_path_buf(),
                offset: at as u64,
                source,
            })?;
        entries.push(entry);
        at += HEADER + len;
    }
    Ok((entries, at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::consensus::io::Message;
    use crate::types::{Hash, Vote, VoteType};
    use lambda_common::keys::SigningKey;

    fn entry(h: Height, r: u32) -> WalEntry {
        let k = SigningKey::from_seed([9; 32]);
        WalEntry {
            message: Message::Vote(Vote::new_signed(
                &k,
                "c",
                VoteType::Prevote,
                h,
                r,
                Some(Hash::digest(&r.to_be_bytes())),
            )),
            locked_block: None,
            pol_votes: Vec::new(),
        }
    }

    #[test]
    fn replays_appends_and_tolerates_a_torn_tail() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut w = Wal::open(dir.path()).unwrap();
            w.append(&entry(1, 0)).unwrap();
            w.append(&entry(1, 1)).unwrap();
        }
        let path = dir.path().join("consensus.wal");
        let full = std::fs::read(&path).unwrap();
        // Cut the second record in half, as a crash mid-append would.
        std::fs::write(&path, &full[..full.len() - 10]).unwrap();
        let mut w = Wal::open(dir.path()).unwrap();
        assert_eq!(w.entries(), &[entry(1, 0)]);
        w.append(&entry(2, 0)).unwrap();
        drop(w);
        let w = Wal::open(dir.path()).unwrap();
        assert_eq!(w.entries(), &[entry(1, 0), entry(2, 0)]);
        // A flipped byte fails the checksum: that record and the rest go.
        let mut bytes = std::fs::read(&path).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(&path, &bytes).unwrap();
        let w = Wal::open(dir.path()).unwrap();
        assert_eq!(w.entries(), &[entry(1, 0)]);
    }

    #[test]
    fn prunes_committed_heights() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Wal::open(dir.path()).unwrap();
        for h in 1..=3 {
            w.append(&entry(h, 0)).unwrap();
        }
        w.prune_below(3).unwrap();
        w.append(&entry(3, 1)).unwrap();
        drop(w);
        let w = Wal::open(dir.path()).unwrap();
        assert_eq!(w.entries(), &[entry(3, 0), entry(3, 1)]);
    }
}
