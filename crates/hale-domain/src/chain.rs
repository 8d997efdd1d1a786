//! The tamper-evident hash chain over each tenant's event log.
//!
//! Each tenant has its own chain (sequence numbers 1, 2, 3, …), so one tenant's writes never
//! wait on another's. An entry's hash covers every stored field and the previous entry's hash;
//! changing, deleting, inserting or reordering any entry breaks the chain at that entry.

use sha2::{Digest, Sha256};

use crate::event::RecordedEvent;

/// The hash before the first entry of every chain.
pub const GENESIS: [u8; 32] = [0; 32];

/// Hashes one entry. Every field is length-prefixed so that no two different entries encode to
/// the same bytes.
pub fn entry_hash(event: &RecordedEvent) -> [u8; 32] {
    let mut hasher = Sha256::new();
    hasher.update(b"hale.event.v1");
    hasher.update(event.prev_hash);
    hasher.update(event.tenant_id.as_uuid().as_bytes());
    hasher.update(event.seq.to_be_bytes());
    for field in [
        event.stream_kind.as_bytes(),
        event.stream_id.as_bytes(),
        event.event_type.as_bytes(),
        event.actor.as_bytes(),
        event.payload.as_bytes(),
    ] {
        hasher.update((field.len() as u64).to_be_bytes());
        hasher.update(field);
    }
    hasher.update(event.stream_version.to_be_bytes());
    hasher.update(event.recorded_at.as_micros().to_be_bytes());
    hasher.finalize().into()
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
pub struct ChainVerifier {
    expected_seq: i64,
    prev_hash: [u8; 32],
}

impl Default for ChainVerifier {
    fn default() -> Self {
        Self {
            expected_seq: 1,
            prev_hash: GENESIS,
        }
    }
}

impl ChainVerifier {
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
        if entry_hash(event) != event.hash {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::Timestamp;
    use crate::ids::TenantId;

    fn chain(len: usize) -> Vec<RecordedEvent> {
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
                event.hash = entry_hash(&event);
                prev = event.hash;
                event
            })
            .collect()
    }

    fn verify(events: &[RecordedEvent]) -> Result<(), ChainBreak> {
        let mut verifier = ChainVerifier::default();
        events.iter().try_for_each(|event| verifier.check(event))
    }

    #[test]
    fn an_untouched_chain_verifies() {
        assert_eq!(verify(&chain(5)), Ok(()));
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
        events[1].hash = entry_hash(&events[1]);
        assert_eq!(verify(&events), Err(ChainBreak::BrokenLink { seq: 3 }));
    }

    proptest::proptest! {
        #[test]
        fn any_single_field_change_is_detected(index in 0usize..6, byte in 0u8..=255) {
            let mut events = chain(6);
            let original = events[index].actor.clone();
            events[index].actor.push(char::from(byte));
            proptest::prop_assert_ne!(&events[index].actor, &original);
            proptest::prop_assert!(verify(&events).is_err());
        }
    }
}
