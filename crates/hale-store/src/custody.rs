//! What the store keeps outside the database to make its log tamper-evident: the chain key
//! (a file of 32 random bytes, created on first start) and the checkpoint file of chain heads
//! this process committed, sealed with that key.
//!
//! The writer only notes each committed head in memory; a background task writes the newest
//! heads at most once a second (and [`crate::Store::checkpoint`] on a clean shutdown), so no
//! submission ever waits for a checkpoint's fsync.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use hale_domain::TenantId;
use hale_domain::chain::{
    ChainKey, checkpoint_file_is_authentic, checkpoint_file_mac, checkpoint_is_authentic,
    checkpoint_mac,
};

use zeroize::Zeroize;

use crate::error::StoreError;
use crate::plan::Head;

/// The chain key and where this process keeps its checkpoints.
#[derive(Clone, Debug)]
pub struct ChainCustody {
    key: ChainKey,
    checkpoints: PathBuf,
}

/// How often noted heads are written to the checkpoint file.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);

/// A checkpoint file larger than this is refused unread: one line per tenant stays far below.
const LARGEST_CHECKPOINT_FILE: u64 = 64 * 1024 * 1024;

impl ChainCustody {
    /// Reads the chain key at `key_file`, or creates it (32 random bytes, mode 0600, in a
    /// directory of mode 0700) with an empty checkpoint file beside it when it does not exist.
    pub fn load_or_create(key_file: &Path) -> Result<Self, StoreError> {
        let checkpoints = key_file.with_extension("checkpoints");
        let key = match read_key(key_file)? {
            Some(key) => key,
            None => {
                let key = create_key(key_file)?;
                write_checkpoints(&key, &checkpoints, &BTreeMap::new())?;
                key
            }
        };
        Ok(Self { key, checkpoints })
    }

    /// A key and checkpoint file chosen by the caller (tests, tools).
    pub fn new(key: ChainKey, checkpoints: PathBuf) -> Self {
        Self { key, checkpoints }
    }

    pub fn key(&self) -> &ChainKey {
        &self.key
    }

    pub fn checkpoint_file(&self) -> &Path {
        &self.checkpoints
    }

    /// The checkpointed heads, each authenticated, from a file whose seal holds.
    pub fn read_checkpoints(&self) -> Result<BTreeMap<TenantId, Head>, CheckpointError> {
        read_checkpoints(&self.key, &self.checkpoints)
    }
}

/// Why the checkpoint file cannot be trusted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckpointError {
    Missing,
    Unreadable,
    Forged,
}

impl CheckpointError {
    pub fn reason(self) -> &'static str {
        match self {
            CheckpointError::Missing => "the checkpoint file is missing",
            CheckpointError::Unreadable => "the checkpoint file cannot be read",
            CheckpointError::Forged => "the checkpoint file's seal does not hold",
        }
    }
}

fn read_key(path: &Path) -> Result<Option<ChainKey>, StoreError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(_) => {
            return Err(StoreError::Config(
                "the chain key file cannot be read".into(),
            ));
        }
    };
    // One byte more than a key, so a longer file is noticed without reading it whole.
    let mut bytes = [0u8; ChainKey::LENGTH + 1];
    let mut length = 0;
    loop {
        let read = file
            .read(&mut bytes[length..])
            .map_err(|_| StoreError::Config("the chain key file cannot be read".into()))?;
        if read == 0 || length + read == bytes.len() {
            length += read;
            break;
        }
        length += read;
    }
    let mut key = [0u8; ChainKey::LENGTH];
    if length != ChainKey::LENGTH {
        return Err(StoreError::Config(
            "the chain key file must hold exactly 32 bytes".into(),
        ));
    }
    key.copy_from_slice(&bytes[..ChainKey::LENGTH]);
    bytes.zeroize();
    let chain_key = ChainKey::from_bytes(key);
    key.zeroize();
    Ok(Some(chain_key))
}

fn create_key(path: &Path) -> Result<ChainKey, StoreError> {
    let refuse = |_| StoreError::Config("the chain key file cannot be created".into());
    if let Some(directory) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        create_private_directory(directory).map_err(refuse)?;
    }
    let mut key = [0u8; ChainKey::LENGTH];
    getrandom::fill(&mut key)
        .map_err(|_| StoreError::Config("no randomness for the chain key".into()))?;
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(refuse)?;
    file.write_all(&key).map_err(refuse)?;
    file.sync_all().map_err(refuse)?;
    let chain_key = ChainKey::from_bytes(key);
    key.zeroize();
    Ok(chain_key)
}

fn create_private_directory(directory: &Path) -> std::io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(directory)
}

/// The file's body: one line per tenant, `tenant seq hash seal`, then `seal <hex>` over the
/// body, so that neither a line nor the set of lines can be changed without the key.
fn encode_checkpoints(key: &ChainKey, heads: &BTreeMap<TenantId, Head>) -> String {
    let mut body = String::from("hale.checkpoints.v1\n");
    for (tenant, (seq, hash)) in heads {
        let seal = checkpoint_mac(key, *tenant, *seq, hash);
        body.push_str(&format!(
            "{tenant} {seq} {} {}\n",
            hex::encode(hash),
            hex::encode(seal)
        ));
    }
    let seal = checkpoint_file_mac(key, body.as_bytes());
    body.push_str(&format!("seal {}\n", hex::encode(seal)));
    body
}

fn decode_checkpoints(
    key: &ChainKey,
    text: &str,
) -> Result<BTreeMap<TenantId, Head>, CheckpointError> {
    let body_end = text
        .trim_end_matches('\n')
        .rfind('\n')
        .map(|end| end + 1)
        .ok_or(CheckpointError::Forged)?;
    let (body, seal_line) = text.split_at(body_end);
    let seal = seal_line
        .trim_end_matches('\n')
        .strip_prefix("seal ")
        .and_then(|seal| hex::decode(seal).ok())
        .ok_or(CheckpointError::Forged)?;
    if !checkpoint_file_is_authentic(key, body.as_bytes(), &seal) {
        return Err(CheckpointError::Forged);
    }
    let mut lines = body.lines();
    if lines.next() != Some("hale.checkpoints.v1") {
        return Err(CheckpointError::Forged);
    }
    let mut heads = BTreeMap::new();
    for line in lines {
        let fields: Vec<&str> = line.split(' ').collect();
        let [tenant, seq, hash, seal] = fields[..] else {
            return Err(CheckpointError::Forged);
        };
        let tenant: TenantId = tenant.parse().map_err(|_| CheckpointError::Forged)?;
        let seq: i64 = seq.parse().map_err(|_| CheckpointError::Forged)?;
        let hash = decode_hash(hash).map_err(|_| CheckpointError::Forged)?;
        let seal = hex::decode(seal).map_err(|_| CheckpointError::Forged)?;
        if !checkpoint_is_authentic(key, tenant, seq, &hash, &seal) {
            return Err(CheckpointError::Forged);
        }
        heads.insert(tenant, (seq, hash));
    }
    Ok(heads)
}

fn read_checkpoints(
    key: &ChainKey,
    path: &Path,
) -> Result<BTreeMap<TenantId, Head>, CheckpointError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(CheckpointError::Missing);
        }
        Err(_) => return Err(CheckpointError::Unreadable),
    };
    let mut text = String::new();
    file.take(LARGEST_CHECKPOINT_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|_| CheckpointError::Unreadable)?;
    if text.len() as u64 > LARGEST_CHECKPOINT_FILE {
        return Err(CheckpointError::Unreadable);
    }
    decode_checkpoints(key, &text)
}

/// Replaces the checkpoint file atomically: a reader sees the old file or the new one.
fn write_checkpoints(
    key: &ChainKey,
    path: &Path,
    heads: &BTreeMap<TenantId, Head>,
) -> Result<(), StoreError> {
    let refuse = |_| StoreError::Config("the checkpoint file cannot be written".into());
    let temporary = path.with_extension("checkpoints.new");
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temporary).map_err(refuse)?;
    file.write_all(encode_checkpoints(key, heads).as_bytes())
        .map_err(refuse)?;
    file.sync_all().map_err(refuse)?;
    fs::rename(&temporary, path).map_err(refuse)?;
    if let Some(directory) = path
        .parent()
        .filter(|parent| !parent.as_os_str().is_empty())
    {
        File::open(directory)
            .and_then(|directory| directory.sync_all())
            .map_err(refuse)?;
    }
    Ok(())
}

/// Heads committed since the last checkpoint, shared by the writer and the checkpoint task.
pub(crate) struct Checkpointer {
    custody: ChainCustody,
    noted: Mutex<BTreeMap<TenantId, Head>>,
    /// Held while the file is rewritten, so two flushes of one process never interleave.
    writing: Mutex<()>,
}

impl Checkpointer {
    pub(crate) fn new(custody: ChainCustody) -> Arc<Self> {
        Arc::new(Self {
            custody,
            noted: Mutex::new(BTreeMap::new()),
            writing: Mutex::new(()),
        })
    }

    pub(crate) fn custody(&self) -> &ChainCustody {
        &self.custody
    }

    /// Notes heads the writer just committed. Costs a map insert; nothing touches the disk.
    pub(crate) fn committed(&self, heads: &[(TenantId, Head)]) {
        if heads.is_empty() {
            return;
        }
        let mut noted = self
            .noted
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for (tenant, head) in heads {
            let newer = noted.get(tenant).is_none_or(|(seq, _)| *seq < head.0);
            if newer {
                noted.insert(*tenant, *head);
            }
        }
    }

    /// Merges the noted heads into the checkpoint file. Another process writing the same file
    /// meanwhile can only lose checkpoints (widening the window), never add a false one.
    pub(crate) fn flush(&self) -> Result<(), StoreError> {
        let _writing = self
            .writing
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let noted = std::mem::take(
            &mut *self
                .noted
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        );
        if noted.is_empty() {
            return Ok(());
        }
        let mut heads = match self.custody.read_checkpoints() {
            Ok(heads) => heads,
            Err(CheckpointError::Missing) => BTreeMap::new(),
            // Rewriting a file that fails its seal would launder the evidence.
            Err(error) => {
                self.committed(&noted.into_iter().collect::<Vec<_>>());
                return Err(StoreError::Corrupt(error.reason().into()));
            }
        };
        for (tenant, head) in &noted {
            let newer = heads.get(tenant).is_none_or(|(seq, _)| *seq < head.0);
            if newer {
                heads.insert(*tenant, *head);
            }
        }
        let written = write_checkpoints(&self.custody.key, &self.custody.checkpoints, &heads);
        if written.is_err() {
            self.committed(&noted.into_iter().collect::<Vec<_>>());
        }
        written
    }

    /// Writes noted heads once a second until the store is dropped.
    pub(crate) fn spawn(checkpointer: &Arc<Self>) {
        let weak: Weak<Self> = Arc::downgrade(checkpointer);
        tokio::spawn(async move {
            let mut every = tokio::time::interval(CHECKPOINT_EVERY);
            every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                every.tick().await;
                let Some(checkpointer) = weak.upgrade() else {
                    return;
                };
                let flushed = tokio::task::spawn_blocking(move || checkpointer.flush()).await;
                if !matches!(flushed, Ok(Ok(()))) {
                    tracing::error!("writing the chain checkpoint file failed; retrying");
                }
            }
        });
    }
}

/// A hash as the checkpoint file writes it: 64 hex digits.
fn decode_hash(text: &str) -> Result<[u8; 32], StoreError> {
    let mut hash = [0u8; 32];
    hex::decode_to_slice(text, &mut hash)
        .map_err(|_| StoreError::Corrupt("a checkpointed hash is not 32 bytes of hex".into()))?;
    Ok(hash)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn heads() -> BTreeMap<TenantId, Head> {
        let mut heads = BTreeMap::new();
        heads.insert(TenantId::from_uuid(uuid::Uuid::from_u128(1)), (4, [1; 32]));
        heads.insert(TenantId::from_uuid(uuid::Uuid::from_u128(2)), (9, [2; 32]));
        heads
    }

    #[test]
    fn checkpoints_read_back_only_under_their_key() {
        let key = ChainKey::from_bytes([3; 32]);
        let text = encode_checkpoints(&key, &heads());
        assert_eq!(decode_checkpoints(&key, &text), Ok(heads()));
        let other = ChainKey::from_bytes([4; 32]);
        assert_eq!(
            decode_checkpoints(&other, &text),
            Err(CheckpointError::Forged)
        );
    }

    #[test]
    fn a_dropped_or_edited_line_breaks_the_seal() {
        let key = ChainKey::from_bytes([3; 32]);
        let text = encode_checkpoints(&key, &heads());
        let lines: Vec<&str> = text.lines().collect();
        let dropped = format!("{}\n{}\n{}\n", lines[0], lines[2], lines[3]);
        assert_eq!(
            decode_checkpoints(&key, &dropped),
            Err(CheckpointError::Forged)
        );
        let edited = text.replacen(" 9 ", " 8 ", 1);
        assert_eq!(
            decode_checkpoints(&key, &edited),
            Err(CheckpointError::Forged)
        );
        assert_eq!(decode_checkpoints(&key, ""), Err(CheckpointError::Forged));
    }

    #[test]
    fn the_key_file_is_created_private_and_read_back() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("keys").join("chain.key");
        let created = ChainCustody::load_or_create(&path).unwrap();
        let loaded = ChainCustody::load_or_create(&path).unwrap();
        let tenant = TenantId::from_uuid(uuid::Uuid::from_u128(1));
        assert_eq!(
            checkpoint_mac(created.key(), tenant, 1, &[0; 32]),
            checkpoint_mac(loaded.key(), tenant, 1, &[0; 32])
        );
        assert_eq!(loaded.read_checkpoints(), Ok(BTreeMap::new()));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        fs::write(&path, [0u8; 31]).unwrap();
        assert!(ChainCustody::load_or_create(&path).is_err());
    }
}
