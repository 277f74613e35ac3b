//! The on-disk spool: every observation is numbered and made durable here before it is sent, and
//! stays until the planner acknowledges it.
//!
//! Layout of the spool directory:
//! - `spool.log`: append-only records `[len: u32 LE][fnv1a32(payload): u32 LE][payload]`, payload
//!   an encoded `fleet.v1.Observation`; each append is followed by `fsync`. A torn last record
//!   (crash mid-write) fails its length or checksum and is cut off on open.
//! - `spool.state`: JSON `{node_id, next_seq, acked_through_seq}`, replaced atomically (write
//!   temp, fsync, rename, fsync directory). It keeps `next_seq` across restarts once the log has
//!   been compacted away.
//!
//! - `lock`: held with an exclusive file lock by the process that owns the spool (released by
//!   the OS if it dies), so two agents never number observations of one node at once.
//! - `inbox/`: files of unnumbered records (same format) left by `fleet-agent probe` while an
//!   agent owns the spool; the owner numbers them into the log and deletes the file. A crash
//!   between the two would number that file's records twice: the one window where an
//!   observation can be doubled.
//!
//! - `parked.log`: records the planner refused as invalid (same format), set aside for a person
//!   to inspect: resending one would fail forever and hold back every later window.
//!
//! Acknowledged records are dropped from memory at once and from disk by compaction (rewrite the
//! log with what is still pending, atomically), which runs when nothing is pending, when the log
//! holds mostly acknowledged records, and on shutdown.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use fleet_proto::v1::Observation;
use prost::Message;
use serde::{Deserialize, Serialize};

const LOG_FILE: &str = "spool.log";
const STATE_FILE: &str = "spool.state";
const LOCK_FILE: &str = "lock";
/// Records the log must hold before an empty-queue compaction is worth its fsyncs.
const COMPACT_MIN_RECORDS: usize = 64;
const INBOX_DIR: &str = "inbox";
const PARKED_FILE: &str = "parked.log";
const RECORD_HEADER_BYTES: usize = 8;
/// Largest record accepted when reading; an observation is a few hundred bytes.
const MAX_RECORD_BYTES: u32 = 1 << 20;

/// Errors of the spool.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// A file operation failed.
    #[error("spool {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The state file is not valid.
    #[error("spool state {path} is unreadable: {reason}")]
    State {
        /// The state file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Another process owns the spool.
    #[error("spool {path} is in use by another fleet-agent process")]
    Locked {
        /// The spool directory.
        path: PathBuf,
    },
    /// The spool belongs to another node id.
    #[error("spool {path} belongs to node {found}, not {expected}; use another --spool-dir")]
    WrongNode {
        /// The spool directory.
        path: PathBuf,
        /// The node id in the state file.
        found: String,
        /// The configured node id.
        expected: String,
    },
}

#[derive(Debug, Serialize, Deserialize)]
struct SpoolState {
    node_id: String,
    next_seq: u64,
    acked_through_seq: u64,
}

/// The durable queue of unacknowledged observations of one node.
#[derive(Debug)]
pub struct Spool {
    dir: PathBuf,
    node_id: String,
    log: File,
    pending: BTreeMap<u64, Observation>,
    next_seq: u64,
    acked_through_seq: u64,
    log_records: usize,
    fresh: bool,
    /// Holds the directory lock for the spool's lifetime.
    _lock: File,
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io {
        path: path.to_owned(),
        source,
    }
}

/// FNV-1a, 32 bits: enough to tell a torn record from a whole one.
fn checksum(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0x811c_9dc5_u32, |hash, &byte| {
        (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
    })
}

fn encode_record(observation: &Observation, out: &mut Vec<u8>) {
    let payload = observation.encode_to_vec();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&checksum(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
}

fn sync_dir(dir: &Path) -> Result<(), SpoolError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))
}

/// Writes `bytes` to `dir/name` atomically: temp file, fsync, rename, fsync the directory.
fn write_atomically(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), SpoolError> {
    let path = dir.join(name);
    let temp = dir.join(format!("{name}.tmp"));
    let mut file = File::create(&temp).map_err(io_error(&temp))?;
    file.write_all(bytes).map_err(io_error(&temp))?;
    file.sync_all().map_err(io_error(&temp))?;
    drop(file);
    fs::rename(&temp, &path).map_err(io_error(&path))?;
    sync_dir(dir)
}

/// Decodes whole records from the start of `bytes`; returns them and the offset where the
/// whole records end (a torn or corrupt record stops the scan).
fn decode_records(bytes: &[u8]) -> (Vec<Observation>, usize) {
    let mut records = Vec::new();
    let mut offset = 0usize;
    while let Some(header) = bytes.get(offset..offset + RECORD_HEADER_BYTES) {
        let length = u32::from_le_bytes(header[..4].try_into().expect("4 bytes"));
        let expected = u32::from_le_bytes(header[4..].try_into().expect("4 bytes"));
        if length > MAX_RECORD_BYTES {
            break;
        }
        let start = offset + RECORD_HEADER_BYTES;
        let Some(payload) = bytes.get(start..start + length as usize) else {
            break;
        };
        if checksum(payload) != expected {
            break;
        }
        let Ok(observation) = Observation::decode(payload) else {
            break;
        };
        records.push(observation);
        offset = start + length as usize;
    }
    (records, offset)
}

/// Leaves unnumbered `observations` in the inbox of the spool in `dir` for the agent that owns
/// it to number and send; used by `fleet-agent probe` when [`Spool::open`] reports
/// [`SpoolError::Locked`]. Returns the file written.
pub fn write_inbox(dir: &Path, observations: &[Observation]) -> Result<PathBuf, SpoolError> {
    let inbox = dir.join(INBOX_DIR);
    fs::create_dir_all(&inbox).map_err(io_error(&inbox))?;
    let mut bytes = Vec::new();
    for observation in observations {
        encode_record(observation, &mut bytes);
    }
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let name = format!("probe-{stamp:032}-{}.log", std::process::id());
    write_atomically(&inbox, &name, &bytes)?;
    Ok(inbox.join(name))
}

impl Spool {
    /// Opens (or creates) the spool in `dir` for `node_id`, reading back every record not yet
    /// acknowledged. A torn final record is cut off with a warning.
    pub fn open(dir: &Path, node_id: &str) -> Result<Self, SpoolError> {
        fs::create_dir_all(dir).map_err(io_error(dir))?;
        let lock_path = dir.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(io_error(&lock_path))?;
        // A child forked by this process (the power command) briefly shares the descriptor until
        // it execs, so a lock we just released can look held for a moment: retry a little.
        let mut attempts = 0;
        loop {
            match lock.try_lock() {
                Ok(()) => break,
                Err(fs::TryLockError::WouldBlock) if attempts < 20 => {
                    attempts += 1;
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(SpoolError::Locked {
                        path: dir.to_owned(),
                    });
                }
                Err(fs::TryLockError::Error(source)) => {
                    return Err(SpoolError::Io {
                        path: lock_path,
                        source,
                    });
                }
            }
        }
        let state_path = dir.join(STATE_FILE);
        let state =
            match fs::read(&state_path) {
                Ok(bytes) => Some(serde_json::from_slice::<SpoolState>(&bytes).map_err(
                    |error| SpoolError::State {
                        path: state_path.clone(),
                        reason: error.to_string(),
                    },
                )?),
                Err(error) if error.kind() == io::ErrorKind::NotFound => None,
                Err(source) => {
                    return Err(SpoolError::Io {
                        path: state_path,
                        source,
                    });
                }
            };
        if let Some(state) = &state
            && state.node_id != node_id
        {
            return Err(SpoolError::WrongNode {
                path: dir.to_owned(),
                found: state.node_id.clone(),
                expected: node_id.to_owned(),
            });
        }
        let acked_through_seq = state.as_ref().map_or(0, |s| s.acked_through_seq);
        let log_path = dir.join(LOG_FILE);
        let mut bytes = Vec::new();
        match File::open(&log_path) {
            Ok(mut file) => {
                file.read_to_end(&mut bytes).map_err(io_error(&log_path))?;
            }
            Err(error) if error.kind() == io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(SpoolError::Io {
                    path: log_path,
                    source,
                });
            }
        }
        let mut pending = BTreeMap::new();
        let (records, offset) = decode_records(&bytes);
        let log_records = records.len();
        let mut max_seq = 0u64;
        for observation in records {
            max_seq = max_seq.max(observation.seq);
            if observation.seq > acked_through_seq {
                pending.insert(observation.seq, observation);
            }
        }
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io_error(&log_path))?;
        if offset < bytes.len() {
            tracing::warn!(
                path = %log_path.display(),
                kept_bytes = offset,
                dropped_bytes = bytes.len() - offset,
                "spool log ends in a torn record, cutting it off"
            );
            log.set_len(offset as u64).map_err(io_error(&log_path))?;
            log.sync_all().map_err(io_error(&log_path))?;
        }
        let next_seq = state
            .as_ref()
            .map_or(1, |s| s.next_seq)
            .max(max_seq + 1)
            .max(acked_through_seq + 1);
        let fresh = state.is_none() && log_records == 0;
        Ok(Self {
            dir: dir.to_owned(),
            node_id: node_id.to_owned(),
            log,
            pending,
            next_seq,
            acked_through_seq,
            log_records,
            fresh,
            _lock: lock,
        })
    }

    /// Numbers and appends every observation waiting in `inbox/` (left by `fleet-agent probe`),
    /// deleting each file once its records are durable. Returns how many it took.
    pub fn adopt_inbox(&mut self) -> Result<usize, SpoolError> {
        let inbox = self.dir.join(INBOX_DIR);
        let entries = match fs::read_dir(&inbox) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(0),
            Err(source) => {
                return Err(SpoolError::Io {
                    path: inbox,
                    source,
                });
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "log"))
            .collect();
        files.sort();
        let mut adopted = 0;
        for path in files {
            let bytes = fs::read(&path).map_err(io_error(&path))?;
            let (records, offset) = decode_records(&bytes);
            if offset < bytes.len() {
                tracing::warn!(path = %path.display(), "inbox file has a torn record, taking the whole ones");
            }
            for observation in records {
                self.append(observation)?;
                adopted += 1;
            }
            fs::remove_file(&path).map_err(io_error(&path))?;
            sync_dir(&inbox)?;
        }
        Ok(adopted)
    }

    /// Returns true when the spool has never numbered an observation nor heard from the planner:
    /// the agent must then learn the planner's `acked_through_seq` before numbering any, or a
    /// lost spool directory would reuse sequence numbers.
    pub fn is_fresh(&self) -> bool {
        self.fresh
    }

    /// Numbers `observation` with the next seq, appends it durably and returns the seq.
    pub fn append(&mut self, mut observation: Observation) -> Result<u64, SpoolError> {
        let seq = self.next_seq;
        observation.seq = seq;
        observation.node_id.clone_from(&self.node_id);
        let mut record = Vec::with_capacity(256);
        encode_record(&observation, &mut record);
        let log_path = self.dir.join(LOG_FILE);
        self.log.write_all(&record).map_err(io_error(&log_path))?;
        self.log.sync_data().map_err(io_error(&log_path))?;
        self.next_seq += 1;
        self.log_records += 1;
        self.fresh = false;
        self.pending.insert(seq, observation);
        Ok(seq)
    }

    /// Applies the planner's acknowledgement: drops every seq ≤ `acked_through_seq` and each of
    /// `acked_seqs`. Returns how many pending observations it dropped. Compacts the log when
    /// nothing is pending (and the log holds at least 64 records) or it holds mostly
    /// acknowledged records.
    pub fn acknowledge(
        &mut self,
        acked_through_seq: u64,
        acked_seqs: &[u64],
    ) -> Result<usize, SpoolError> {
        let before = self.pending.len();
        if acked_through_seq > self.acked_through_seq {
            self.acked_through_seq = acked_through_seq;
            self.pending = self.pending.split_off(&acked_through_seq.saturating_add(1));
        }
        for seq in acked_seqs {
            self.pending.remove(seq);
        }
        let dropped = before - self.pending.len();
        // Compaction costs three fsyncs; batching it keeps the steady state (one ack per window)
        // cheap. Acknowledged records left in the log are harmless: `open` skips those at or below
        // the persisted acked_through_seq, and RegisterNode prunes the rest before any resend.
        if dropped > 0
            && ((self.pending.is_empty() && self.log_records >= COMPACT_MIN_RECORDS)
                || self.log_records >= 2 * self.pending.len() + 256)
        {
            self.compact()?;
        }
        Ok(dropped)
    }

    /// Reconciles with the planner's view at registration: acknowledges through its
    /// `acked_through_seq`, and if the planner has seen seqs this spool never numbered (spool
    /// directory lost, or restored from an old backup) moves `next_seq` past them so no seq is
    /// reused. Persists the state.
    pub fn reconcile(&mut self, planner_acked_through_seq: u64) -> Result<(), SpoolError> {
        if planner_acked_through_seq >= self.next_seq {
            tracing::warn!(
                planner_acked_through_seq,
                spool_next_seq = self.next_seq,
                "planner has seqs this spool never issued, skipping past them"
            );
            self.next_seq = planner_acked_through_seq.saturating_add(1);
        }
        self.acknowledge(planner_acked_through_seq, &[])?;
        self.fresh = false;
        self.write_state()
    }

    /// Sets pending observation `seq` aside for good, because the planner refused it as invalid
    /// data: appended durably to `parked.log`, then compacted out of the log, so neither this
    /// session nor a restart resends it. Returns whether it was pending.
    pub fn park(&mut self, seq: u64) -> Result<bool, SpoolError> {
        let Some(observation) = self.pending.get(&seq) else {
            return Ok(false);
        };
        let path = self.dir.join(PARKED_FILE);
        let mut record = Vec::with_capacity(256);
        encode_record(observation, &mut record);
        let mut parked = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .map_err(io_error(&path))?;
        parked.write_all(&record).map_err(io_error(&path))?;
        parked.sync_data().map_err(io_error(&path))?;
        self.pending.remove(&seq);
        self.compact()?;
        Ok(true)
    }

    /// Returns up to `limit` pending observations with seq > `after`, in seq order.
    pub fn pending_after(&self, after: u64, limit: usize) -> Vec<Observation> {
        self.pending
            .range(after.saturating_add(1)..)
            .take(limit)
            .map(|(_, observation)| observation.clone())
            .collect()
    }

    /// Returns the number of observations waiting for an acknowledgement.
    pub fn depth(&self) -> usize {
        self.pending.len()
    }

    /// Returns the seq the next observation will get.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Returns the highest seq known to be stored with every seq below it.
    pub fn acked_through_seq(&self) -> u64 {
        self.acked_through_seq
    }

    /// Persists the state and compacts the log; called on shutdown.
    pub fn flush(&mut self) -> Result<(), SpoolError> {
        self.compact()
    }

    fn write_state(&self) -> Result<(), SpoolError> {
        let state = SpoolState {
            node_id: self.node_id.clone(),
            next_seq: self.next_seq,
            acked_through_seq: self.acked_through_seq,
        };
        let bytes = serde_json::to_vec(&state).expect("state serializes");
        write_atomically(&self.dir, STATE_FILE, &bytes)
    }

    /// Rewrites the log with only the pending records. The state goes first, so a crash between
    /// the two leaves acknowledged records in the log that `open` then skips.
    fn compact(&mut self) -> Result<(), SpoolError> {
        self.write_state()?;
        let mut bytes = Vec::with_capacity(self.pending.len() * 256);
        for observation in self.pending.values() {
            encode_record(observation, &mut bytes);
        }
        write_atomically(&self.dir, LOG_FILE, &bytes)?;
        let log_path = self.dir.join(LOG_FILE);
        self.log = OpenOptions::new()
            .append(true)
            .open(&log_path)
            .map_err(io_error(&log_path))?;
        self.log_records = self.pending.len();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observation(model: &str) -> Observation {
        Observation {
            model: model.into(),
            predicted_tokens: 64,
            ..Observation::default()
        }
    }

    #[test]
    fn a_parked_observation_is_kept_aside_and_never_pending_again() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), "node-a").unwrap();
        for model in ["m1", "m2", "m3"] {
            spool.append(observation(model)).unwrap();
        }
        assert!(spool.park(2).unwrap());
        assert!(!spool.park(2).unwrap(), "parked once");
        assert!(!spool.park(99).unwrap(), "never numbered");
        let seqs = |spool: &Spool| -> Vec<u64> {
            spool.pending_after(0, 10).iter().map(|o| o.seq).collect()
        };
        assert_eq!(seqs(&spool), vec![1, 3]);
        drop(spool);
        let spool = Spool::open(dir.path(), "node-a").unwrap();
        assert_eq!(seqs(&spool), vec![1, 3], "a restart does not resend it");
        let (parked, _) = decode_records(&fs::read(dir.path().join(PARKED_FILE)).unwrap());
        assert_eq!(parked.len(), 1);
        assert_eq!((parked[0].seq, parked[0].model.as_str()), (2, "m2"));
    }

    #[test]
    fn numbers_from_one_and_survives_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), "node-a").unwrap();
        assert!(spool.is_fresh());
        assert_eq!(spool.append(observation("m1")).unwrap(), 1);
        assert_eq!(spool.append(observation("m2")).unwrap(), 2);
        assert_eq!(spool.append(observation("m3")).unwrap(), 3);
        drop(spool);
        let mut spool = Spool::open(dir.path(), "node-a").unwrap();
        assert!(!spool.is_fresh());
        assert_eq!(spool.depth(), 3);
        let pending = spool.pending_after(1, 10);
        assert_eq!(
            pending
                .iter()
                .map(|o| (o.seq, o.model.as_str(), o.node_id.as_str()))
                .collect::<Vec<_>>(),
            vec![(2, "m2", "node-a"), (3, "m3", "node-a")]
        );
        assert_eq!(spool.append(observation("m4")).unwrap(), 4);
    }

    #[test]
    fn acknowledged_records_are_gone_and_seq_continues_after_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), "node-a").unwrap();
        for n in 0..5 {
            spool.append(observation(&format!("m{n}"))).unwrap();
        }
        // Through 2, plus 4 beyond the gap at 3.
        assert_eq!(spool.acknowledge(2, &[4]).unwrap(), 3);
        assert_eq!(
            spool
                .pending_after(0, 10)
                .iter()
                .map(|o| o.seq)
                .collect::<Vec<_>>(),
            vec![3, 5]
        );
        assert_eq!(spool.acknowledge(5, &[]).unwrap(), 2);
        // A crash before any compaction: acknowledged records come back (for a resend the
        // planner deduplicates, after RegisterNode prunes them), never fewer.
        drop(spool);
        let mut spool = Spool::open(dir.path(), "node-a").unwrap();
        assert_eq!((spool.depth(), spool.next_seq()), (5, 6));
        spool.acknowledge(5, &[]).unwrap();
        spool.flush().unwrap();
        assert_eq!(
            fs::metadata(dir.path().join(LOG_FILE)).unwrap().len(),
            0,
            "compacted"
        );
        drop(spool);
        let mut spool = Spool::open(dir.path(), "node-a").unwrap();
        assert_eq!(
            (spool.depth(), spool.next_seq(), spool.acked_through_seq()),
            (0, 6, 5)
        );
        assert_eq!(spool.append(observation("m6")).unwrap(), 6);
    }

    #[test]
    fn a_torn_last_record_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), "node-a").unwrap();
        spool.append(observation("m1")).unwrap();
        spool.append(observation("m2")).unwrap();
        drop(spool);
        let log_path = dir.path().join(LOG_FILE);
        let length = fs::metadata(&log_path).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&log_path)
            .unwrap()
            .set_len(length - 3)
            .unwrap();
        let mut spool = Spool::open(dir.path(), "node-a").unwrap();
        assert_eq!(
            spool
                .pending_after(0, 10)
                .iter()
                .map(|o| o.seq)
                .collect::<Vec<_>>(),
            vec![1]
        );
        // seq 2 never became durable, so it is issued again: nobody can have acknowledged it.
        assert_eq!(spool.append(observation("m2b")).unwrap(), 2);
        drop(spool);
        assert_eq!(Spool::open(dir.path(), "node-a").unwrap().depth(), 2);
    }

    #[test]
    fn reconcile_prunes_and_never_reuses_seqs() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), "node-a").unwrap();
        spool.reconcile(41).unwrap();
        assert!(!spool.is_fresh());
        assert_eq!(spool.append(observation("m")).unwrap(), 42);
        spool.append(observation("m")).unwrap();
        spool.reconcile(42).unwrap();
        assert_eq!(
            spool
                .pending_after(0, 10)
                .iter()
                .map(|o| o.seq)
                .collect::<Vec<_>>(),
            vec![43]
        );
        drop(spool);
        let spool = Spool::open(dir.path(), "node-a").unwrap();
        assert_eq!((spool.next_seq(), spool.depth()), (44, 1));
    }

    #[test]
    fn a_second_owner_is_refused_and_uses_the_inbox() {
        let dir = tempfile::tempdir().unwrap();
        let mut owner = Spool::open(dir.path(), "node-a").unwrap();
        owner.append(observation("passive")).unwrap();
        assert!(matches!(
            Spool::open(dir.path(), "node-a"),
            Err(SpoolError::Locked { .. })
        ));
        write_inbox(
            dir.path(),
            &[observation("probe-1"), observation("probe-2")],
        )
        .unwrap();
        assert_eq!(owner.adopt_inbox().unwrap(), 2);
        assert_eq!(owner.adopt_inbox().unwrap(), 0);
        let pending = owner.pending_after(0, 10);
        assert_eq!(
            pending
                .iter()
                .map(|o| (o.seq, o.model.as_str()))
                .collect::<Vec<_>>(),
            vec![(1, "passive"), (2, "probe-1"), (3, "probe-2")]
        );
        drop(owner);
        assert_eq!(Spool::open(dir.path(), "node-a").unwrap().depth(), 3);
    }

    #[test]
    fn refuses_another_nodes_spool() {
        let dir = tempfile::tempdir().unwrap();
        let mut spool = Spool::open(dir.path(), "node-a").unwrap();
        spool.flush().unwrap();
        drop(spool);
        let error = Spool::open(dir.path(), "node-b").unwrap_err();
        assert!(
            error.to_string().contains("belongs to node node-a"),
            "{error}"
        );
    }
}
