//! The tamper-evident hash chain over each tenant's event log.
//!
//! Each tenant has its own chain (sequence numbers 1, 2, 3, …), so one tenant's writes never
//! wait on another's. An entry's hash is an HMAC-SHA256, under a chain key kept outside the
//! database, over every stored field and the previous entry's hash: without the key nobody can
//! compute a valid entry, so changing, deleting, inserting or reordering any entry breaks the
//! chain at that entry even for someone who can rewrite the whole table and its head.
//!
//! Heads committed by a writer are also sealed into checkpoints ([`checkpoint_mac`]) kept next
//! to the key, so that a rolled-back (truncated) chain is found too.

use std::fmt;

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::event::RecordedEvent;
use crate::ids::TenantId;

type HmacSha256 = Hmac<Sha256>;

/// The hash before the first entry of every chain.
pub const GENESIS: [u8; 32] = [0; 32];

/// The domain tag of an entry; a new format gets a new tag, and entries of another format never
/// verify (no silent downgrade to the unkeyed `hale.event.v1`).
const ENTRY_TAG: &[u8] = b"hale.event.v2";

/// The domain tag of a checkpointed head.
const CHECKPOINT_TAG: &[u8] = b"hale.checkpoint.v1";

/// The domain tag of a whole checkpoint file.
const CHECKPOINT_FILE_TAG: &[u8] = b"hale.checkpoints.v1";

/// The secret that authenticates every chain entry: 32 random bytes held outside the database.
/// Never printed, and wiped from memory when dropped.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ChainKey([u8; 32]);

impl ChainKey {
    pub const LENGTH: usize = 32;

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    fn mac(&self) -> HmacSha256 {
        // HMAC pads a short key with zeros to the hash's block size; padding it here gives the
        // same MAC through the constructor that cannot fail.
        let mut block = [0u8; 64];
        block[..Self::LENGTH].copy_from_slice(&self.0);
        let mac = <HmacSha256 as KeyInit>::new(&block.into());
        block.zeroize();
        mac
    }
}

impl fmt::Debug for ChainKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ChainKey([redacted])")
    }
}

/// Authenticates one entry. Every variable-length field is length-prefixed so that no two
/// different entries encode to the same bytes.
pub fn entry_hash(key: &ChainKey, event: &RecordedEvent) -> [u8; 32] {
    let mut mac = key.mac();
    entry_input(&mut mac, event);
    mac.finalize().into_bytes().into()
}

fn entry_input(mac: &mut HmacSha256, event: &RecordedEvent) {
    mac.update(ENTRY_TAG);
    mac.update(&event.prev_hash);
    mac.update(event.tenant_id.as_uuid().as_bytes());
    mac.update(&event.seq.to_be_bytes());
    for field in [
        event.stream_kind.as_bytes(),
        event.stream_id.as_bytes(),
        event.event_type.as_bytes(),
        event.actor.as_bytes(),
        event.payload.as_bytes(),
    ] {
        mac.update(&(field.len() as u64).to_be_bytes());
        mac.update(field);
    }
    mac.update(&event.stream_version.to_be_bytes());
    mac.update(&event.recorded_at.as_micros().to_be_bytes());
}

/// Whether `event.hash` authenticates the entry under `key`, compared in constant time.
pub fn entry_is_authentic(key: &ChainKey, event: &RecordedEvent) -> bool {
    let mut mac = key.mac();
    entry_input(&mut mac, event);
    mac.verify_slice(&event.hash).is_ok()
}

fn checkpoint_input(mac: &mut HmacSha256, tenant: TenantId, seq: i64, hash: &[u8; 32]) {
    mac.update(CHECKPOINT_TAG);
    mac.update(tenant.as_uuid().as_bytes());
    mac.update(&seq.to_be_bytes());
    mac.update(hash);
}

/// Seals one committed head (tenant, sequence number, entry hash) for the checkpoint file.
pub fn checkpoint_mac(key: &ChainKey, tenant: TenantId, seq: i64, hash: &[u8; 32]) -> [u8; 32] {
    let mut mac = key.mac();
    checkpoint_input(&mut mac, tenant, seq, hash);
    mac.finalize().into_bytes().into()
}

/// Whether `seal` is the checkpoint MAC of the head, compared in constant time.
pub fn checkpoint_is_authentic(
    key: &ChainKey,
    tenant: TenantId,
    seq: i64,
    hash: &[u8; 32],
    seal: &[u8],
) -> bool {
    let mut mac = key.mac();
    checkpoint_input(&mut mac, tenant, seq, hash);
    mac.verify_slice(seal).is_ok()
}

/// Seals the whole body of a checkpoint file, so that dropping a line from it is noticed.
pub fn checkpoint_file_mac(key: &ChainKey, body: &[u8]) -> [u8; 32] {
    let mut mac = key.mac();
    mac.update(CHECKPOINT_FILE_TAG);
    mac.update(body);
    mac.finalize().into_bytes().into()
}

/// Whether `seal` is the MAC of a checkpoint file's body, compared in constant time.
pub fn checkpoint_file_is_authentic(key: &ChainKey, body: &[u8], seal: &[u8]) -> bool {
    let mut mac = key.mac();
    mac.update(CHECKPOINT_FILE_TAG);
    mac.update(body);
    mac.verify_slice(seal).is_ok()
}

/// Where and why a chain stops verifying.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChainBreak {
    /// The entry's stored hash is not the hash of its contents: it was modified.
    HashMismatch { seq: i64 },
    /// The entry does not point at the previous entry's hash: something before it was
    /// removed, inserted or reordered.
    BrokenLink { seq: i64 },
    /// Sequence numbers skip or repeat.
    Gap { expected: i64, found: i64 },
}

impl ChainBreak {
    pub fn seq(&self) -> i64 {
        match self {
            ChainBreak::HashMismatch { seq } | ChainBreak::BrokenLink { seq } => *seq,
            ChainBreak::Gap { found, .. } => *found,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            ChainBreak::HashMismatch { .. } => "stored hash does not match the entry's contents",
            ChainBreak::BrokenLink { .. } => "entry does not link to the previous entry's hash",
            ChainBreak::Gap { .. } => "sequence numbers are not consecutive",
        }
    }
}

/// Verifies a chain incrementally, one entry at a time, in sequence order.
#[derive(Debug)]
pub struct ChainVerifier<'key> {
    key: &'key ChainKey,
    expected_seq: i64,
    prev_hash: [u8; 32],
}

impl<'key> ChainVerifier<'key> {
    pub fn new(key: &'key ChainKey) -> Self {
        Self {
            key,
            expected_seq: 1,
            prev_hash: GENESIS,
        }
    }

    pub fn check(&mut self, event: &RecordedEvent) -> Result<(), ChainBreak> {
        if event.seq != self.expected_seq {
            return Err(ChainBreak::Gap {
                expected: self.expected_seq,
                found: event.seq,
            });
        }
        if event.prev_hash != self.prev_hash {
            return Err(ChainBreak::BrokenLink { seq: event.seq });
        }
        if !entry_is_authentic(self.key, event) {
            return Err(ChainBreak::HashMismatch { seq: event.seq });
        }
        self.expected_seq += 1;
        self.prev_hash = event.hash;
        Ok(())
    }

    /// Number of entries verified so far.
    pub fn verified(&self) -> i64 {
        self.expected_seq - 1
    }

    /// The hash of the last verified entry (the genesis hash before the first).
    pub fn last_hash(&self) -> [u8; 32] {
        self.prev_hash
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::ids::TenantId;

    fn key() -> ChainKey {
        ChainKey::from_bytes([7; 32])
    }

    fn chain(len: usize) -> Vec<RecordedEvent> {
        let key = key();
        let mut prev = GENESIS;
        (1..=len as i64)
            .map(|seq| {
                let mut event = RecordedEvent {
                    tenant_id: TenantId::from_uuid(uuid::Uuid::from_u128(9)),
                    seq,
                    stream_kind: "subject".into(),
                    stream_id: format!("s{seq}"),
                    stream_version: 1,
                    event_type: "subject_registered".into(),
                    payload: format!("{{\"n\":{seq}}}"),
                    actor: "a".into(),
                    recorded_at: Timestamp::from_micros(seq * 1000),
                    prev_hash: prev,
                    hash: [0; 32],
                };
                event.hash = entry_hash(&key, &event);
                prev = event.hash;
                event
            })
            .collect()
    }

    fn verify_with(key: &ChainKey, events: &[RecordedEvent]) -> Result<(), ChainBreak> {
        let mut verifier = ChainVerifier::new(key);
        events.iter().try_for_each(|event| verifier.check(event))
    }

    fn verify(events: &[RecordedEvent]) -> Result<(), ChainBreak> {
        verify_with(&key(), events)
    }

    #[test]
    fn an_untouched_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(()));
    }

    #[test]
    fn the_verifier_reports_the_head_it_reached() {
        let key = key();
        let events = chain(3);
        let mut verifier = ChainVerifier::new(&key);
        assert_eq!((verifier.verified(), verifier.last_hash()), (0, GENESIS));
        for event in &events {
            verifier.check(event).unwrap();
        }
        assert_eq!(verifier.verified(), 3);
        assert_eq!(verifier.last_hash(), events[2].hash);
    }

    #[test]
    fn a_modified_payload_is_named() {
        let mut events = chain(5);
        events[2].payload = "{\"n\":99}".into();
        assert_eq!(verify(&events), Err(ChainBreak::HashMismatch { seq: 3 }));
    }

    #[test]
    fn a_deleted_entry_is_found() {
        let mut events = chain(5);
        events.remove(1);
        assert_eq!(
            verify(&events),
            Err(ChainBreak::Gap {
                expected: 2,
                found: 3
            })
        );
    }

    #[test]
    fn a_rehashed_forgery_breaks_the_next_link() {
        let mut events = chain(5);
        events[1].payload = "{\"n\":42}".into();
        events[1].hash = entry_hash(&key(), &events[1]);
        assert_eq!(verify(&events), Err(ChainBreak::BrokenLink { seq: 3 }));
    }

    #[test]
    fn a_chain_under_another_key_does_not_verify() {
        let events = chain(3);
        let other = ChainKey::from_bytes([8; 32]);
        assert_eq!(
            verify_with(&other, &events),
            Err(ChainBreak::HashMismatch { seq: 1 })
        );
    }

    /// What someone without the key can do at best: rewrite a tail entry and recompute every
    /// hash from it with plain SHA-256 in the old format.
    #[test]
    fn a_tail_rewritten_with_plain_sha256_is_found() {
        use sha2::Digest;
        let mut events = chain(4);
        let last = &mut events[3];
        last.actor = "mallory".into();
        let mut hasher = sha2::Sha256::new();
        hasher.update(b"hale.event.v1");
        hasher.update(last.prev_hash);
        hasher.update(last.actor.as_bytes());
        last.hash = hasher.finalize().into();
        assert_eq!(verify(&events), Err(ChainBreak::HashMismatch { seq: 4 }));
    }

    /// The padded-key constructor computes standard HMAC-SHA256 (RFC 2104 pads short keys).
    #[test]
    fn the_padded_key_gives_the_standard_hmac() {
        let key = ChainKey::from_bytes(core::array::from_fn(|index| index as u8));
        let mut standard = <HmacSha256 as Mac>::new_from_slice(&key.0).unwrap_or_else(|_| {
            unreachable!("HMAC accepts keys of every length");
        });
        standard.update(b"hale");
        let mut ours = key.mac();
        ours.update(b"hale");
        assert_eq!(
            standard.finalize().into_bytes(),
            ours.finalize().into_bytes()
        );
    }

    #[test]
    fn the_key_is_never_printed() {
        assert_eq!(format!("{:?}", key()), "ChainKey([redacted])");
    }

    #[test]
    fn checkpoints_are_sealed_by_the_key() {
        let tenant = TenantId::from_uuid(uuid::Uuid::from_u128(9));
        let seal = checkpoint_mac(&key(), tenant, 4, &[1; 32]);
        assert!(checkpoint_is_authentic(&key(), tenant, 4, &[1; 32], &seal));
        assert!(!checkpoint_is_authentic(&key(), tenant, 3, &[1; 32], &seal));
        assert!(!checkpoint_is_authentic(&key(), tenant, 4, &[2; 32], &seal));
        let other = ChainKey::from_bytes([8; 32]);
        assert!(!checkpoint_is_authentic(&other, tenant, 4, &[1; 32], &seal));
        let body = b"line\n";
        let file_seal = checkpoint_file_mac(&key(), body);
        assert!(checkpoint_file_is_authentic(&key(), body, &file_seal));
        assert!(!checkpoint_file_is_authentic(&key(), b"", &file_seal));
    }

    /// Changes one stored field of an entry; every field the log stores is one of these.
    fn change(event: &mut RecordedEvent, field: usize, byte: u8) {
        let text = char::from(byte);
        let number = i64::from(byte) + 1;
        match field {
            0 => event.seq += number,
            1 => {
                let tenant = event.tenant_id.as_uuid().as_u128() ^ (u128::from(byte) + 1);
                event.tenant_id = TenantId::from_uuid(uuid::Uuid::from_u128(tenant));
            }
            2 => event.stream_kind.push(text),
            3 => event.stream_id.push(text),
            4 => event.stream_version += number,
            5 => event.event_type.push(text),
            6 => event.actor.push(text),
            7 => event.payload.push(text),
            8 => event.recorded_at = Timestamp::from_micros(event.recorded_at.as_micros() + number),
            9 => event.prev_hash[usize::from(byte) % 32] ^= 1,
            _ => event.hash[usize::from(byte) % 32] ^= 1,
        }
    }

    proptest::proptest! {
        #[test]
        fn any_single_field_change_is_detected(
            index in 0usize..6,
            field in 0usize..11,
            byte in 0u8..=255,
        ) {
            let mut events = chain(6);
            let original = events[index].clone();
            change(&mut events[index], field, byte);
            proptest::prop_assert_ne!(&events[index], &original);
            proptest::prop_assert!(verify(&events).is_err());
        }

        #[test]
        fn a_changed_entry_resealed_with_another_key_is_detected(
            index in 0usize..6,
            field in 0usize..10,
            byte in 0u8..=255,
        ) {
            let mut events = chain(6);
            change(&mut events[index], field, byte);
            // Any key but the chain's own ([7; 32]): its last byte always differs.
            let mut other = [byte; 32];
            other[31] = !7;
            events[index].hash = entry_hash(&ChainKey::from_bytes(other), &events[index]);
            proptest::prop_assert!(verify(&events).is_err());
        }
    }
}
