//! The digest a key is stored under: SHA-256 over the policy name and the caller's key, cut to
//! 128 bits, so identifiers never leave the process (Redis sees hex) nor sit in its memory, and
//! every stored key has the same small size whatever the caller passed.

use sha2::{Digest, Sha256};

use crate::policy::PolicyName;

/// 128 bits of SHA-256 over `policy name ‖ 0x00 ‖ key` (a name never holds a NUL byte, so two
/// pairs never share an input). A collision would merge two keys' quotas; at 2^-64 per pair of
/// a billion keys it is not a concern.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct KeyDigest(pub(crate) [u8; 16]);

impl KeyDigest {
    pub(crate) fn new(policy: &PolicyName, key: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(policy.as_str().as_bytes());
        hasher.update([0]);
        hasher.update(key.as_bytes());
        let digest = hasher.finalize();
        let mut truncated = [0; 16];
        truncated.copy_from_slice(&digest[..16]);
        Self(truncated)
    }

    /// Which of `shards` shards holds this key (digest bits are uniform).
    pub(crate) fn shard(&self, shards: usize) -> usize {
        let mut first = [0; 8];
        first.copy_from_slice(&self.0[..8]);
        (u64::from_le_bytes(first) % shards as u64) as usize
    }

    pub(crate) fn hex(&self) -> String {
        hex::encode(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn name(text: &str) -> PolicyName {
        PolicyName::parse(text).unwrap()
    }

    #[test]
    fn the_digest_separates_policies_and_keys_and_hides_both() {
        let digest = KeyDigest::new(&name("patient"), "tenant:account");
        assert_eq!(digest, KeyDigest::new(&name("patient"), "tenant:account"));
        assert_ne!(digest, KeyDigest::new(&name("patient"), "tenant:other"));
        assert_ne!(digest, KeyDigest::new(&name("sign-in"), "tenant:account"));
        // The boundary between name and key is not movable.
        assert_ne!(
            KeyDigest::new(&name("ab"), "c"),
            KeyDigest::new(&name("a"), "bc")
        );
        let hex = digest.hex();
        assert_eq!(hex.len(), 32);
        assert!(!hex.contains("account") && !hex.contains("patient"));
    }

    #[test]
    fn shards_stay_in_range() {
        for key in 0..1000 {
            let digest = KeyDigest::new(&name("p"), &key.to_string());
            assert!(digest.shard(7) < 7);
        }
    }
}
