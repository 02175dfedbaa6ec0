//! A name kept as a map key: short names (almost all namespace, node, user and group names)
//! are stored inline in the key itself, longer ones behind an `Arc`.
//!
//! Why: a decision compares a few keys per chain step. With `Arc<str>` keys every
//! comparison first loads the string from wherever the heap put it, one more cache miss per
//! lookup on a large policy; an inline key is compared in the table's own entry, which the
//! probe has loaded already. Copying a key (copying a shard of a persistent map) copies at
//! most 24 bytes and never a string.

use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// The longest name stored inline.
const INLINE: usize = 22;

/// A name; hashes and compares as the `str` it holds, so maps keyed by it are searched with
/// a `&str`. See the module documentation.
#[derive(Clone)]
pub(crate) enum Name {
    /// Up to [`INLINE`] bytes of UTF-8, copied whole from a `&str`.
    Inline { len: u8, bytes: [u8; INLINE] },
    /// A longer name.
    Shared(Arc<str>),
}

impl Name {
    /// The name's bytes (no UTF-8 check: what comparisons need).
    #[inline]
    pub(crate) fn as_bytes(&self) -> &[u8] {
        match self {
            Name::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Name::Shared(s) => s.as_bytes(),
        }
    }

    /// The name.
    #[inline]
    pub(crate) fn as_str(&self) -> &str {
        match self {
            // Always valid: the bytes are a whole `&str`, copied (see `From<&str>`).
            Name::Inline { .. } => std::str::from_utf8(self.as_bytes()).unwrap_or_default(),
            Name::Shared(s) => s,
        }
    }
}

impl From<&str> for Name {
    fn from(name: &str) -> Self {
        if name.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..name.len()].copy_from_slice(name.as_bytes());
            Name::Inline {
                // Cannot truncate: at most INLINE (22).
                len: name.len() as u8,
                bytes,
            }
        } else {
            Name::Shared(name.into())
        }
    }
}

impl PartialEq for Name {
    #[inline]
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes()
    }
}

impl Eq for Name {}

impl Hash for Name {
    /// As the `str` it holds, so that a `&str` finds it.
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_str().hash(state);
    }
}

impl hashbrown::Equivalent<Name> for str {
    #[inline]
    fn equivalent(&self, key: &Name) -> bool {
        self.as_bytes() == key.as_bytes()
    }
}

impl std::fmt::Debug for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.as_str().fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::Name;
    use crate::policy::persistent::{PersistentMap, hash_of};

    #[test]
    fn short_and_long_names_hash_and_compare_as_their_str() {
        for s in [
            "",
            "a",
            "team-a-dev",
            "exactly-twenty-two-byt",
            "a-name-longer-than-22-bytes",
            "é-ünïcode-ñame",
        ] {
            let name = Name::from(s);
            assert_eq!(name.as_str(), s);
            assert_eq!(hash_of(&name), hash_of(s));
            assert!(hashbrown::Equivalent::equivalent(s, &name));
        }
        assert!(matches!(
            Name::from("exactly-twenty-two-byt"),
            Name::Inline { .. }
        ));
        assert!(matches!(
            Name::from("a-name-longer-than-22-bytes"),
            Name::Shared(_)
        ));
        assert_ne!(Name::from("ab"), Name::from("abc"));
    }

    #[test]
    fn a_map_keyed_by_names_is_searched_with_a_str() {
        let map: PersistentMap<Name, usize> = ["ns-1", "a-namespace-with-a-long-name"]
            .into_iter()
            .enumerate()
            .map(|(i, s)| (Name::from(s), i))
            .collect();
        assert_eq!(map.get("ns-1"), Some(&0));
        assert_eq!(map.get("a-namespace-with-a-long-name"), Some(&1));
        assert_eq!(map.get("ns-2"), None);
    }
}
