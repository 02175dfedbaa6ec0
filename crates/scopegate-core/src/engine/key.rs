//! Cache keys: one hashing pass over a request gives both the subject's key (L2) and the
//! request's key (L1), and an L1 entry keeps the request it answers packed in one
//! allocation, compared field by field on a hit without building anything.
//!
//! The hashes only choose where to look; an entry answers a request only if every field the
//! decision depends on (user, groups in order, and the whole action) is equal, so a hash
//! collision can cost a miss but never a wrong answer.

use crate::request::{Action, Request};
use std::hash::{BuildHasher, Hash, Hasher};

/// The seeded hasher the keys are computed with (one random seed per engine).
pub(super) type KeyHasher = foldhash::fast::RandomState;

/// The two keys of a request, from one pass over its fields.
#[derive(Clone, Copy, Debug)]
pub(super) struct RequestHashes {
    /// User and groups: the L2 key.
    pub(super) subject: u64,
    /// User, groups and action: the L1 key.
    pub(super) request: u64,
}

impl RequestHashes {
    /// Hashes the fields of `request` the decision depends on (not uid, not extra).
    pub(super) fn of(request: &Request, seed: &KeyHasher) -> Self {
        let mut h = seed.build_hasher();
        h.write(request.user.as_bytes());
        h.write_usize(request.groups.len());
        for group in &request.groups {
            h.write(group.as_bytes());
        }
        let subject = h.clone().finish();
        let action = action_fields(&request.action);
        h.write_u8(action.tag());
        for field in action.iter() {
            h.write(field.as_bytes());
        }
        RequestHashes {
            subject,
            request: h.finish(),
        }
    }
}

/// The action as a tag and its string fields, in a fixed order.
fn action_fields(action: &Action) -> ActionFields<'_> {
    match action {
        Action::Resource(r) => ActionFields::Resource([
            &r.verb,
            &r.group,
            &r.version,
            &r.resource,
            &r.subresource,
            &r.name,
            &r.namespace,
        ]),
        Action::NonResource(n) => ActionFields::NonResource([&n.verb, &n.path]),
    }
}

enum ActionFields<'a> {
    Resource([&'a String; 7]),
    NonResource([&'a String; 2]),
}

impl<'a> ActionFields<'a> {
    fn tag(&self) -> u8 {
        match self {
            ActionFields::Resource(_) => 0,
            ActionFields::NonResource(_) => 1,
        }
    }

    fn iter(&self) -> std::slice::Iter<'_, &'a String> {
        match self {
            ActionFields::Resource(f) => f.iter(),
            ActionFields::NonResource(f) => f.iter(),
        }
    }
}

/// An L1 entry's key: its hash, and the request it answers packed as length-prefixed
/// fields (user, group count, groups, action tag, action fields), one allocation instead of
/// the ten or so a clone of the request would take.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct PackedRequest {
    hash: u64,
    bytes: Box<[u8]>,
}

impl PackedRequest {
    /// Packs `request`; `None` if a field is too long to pack (over 4 GiB: never cached).
    pub(super) fn new(hash: u64, request: &Request) -> Option<Self> {
        let action = action_fields(&request.action);
        let strings = 1 + request.groups.len() + action.iter().len();
        let payload = request.user.len()
            + request.groups.iter().map(String::len).sum::<usize>()
            + action.iter().map(|s| s.len()).sum::<usize>();
        let mut bytes = Vec::with_capacity(payload + 4 * (strings + 1) + 1);
        push_str(&mut bytes, &request.user)?;
        bytes.extend_from_slice(&u32::try_from(request.groups.len()).ok()?.to_le_bytes());
        for group in &request.groups {
            push_str(&mut bytes, group)?;
        }
        bytes.push(action.tag());
        for field in action.iter() {
            push_str(&mut bytes, field)?;
        }
        Some(PackedRequest {
            hash,
            bytes: bytes.into_boxed_slice(),
        })
    }

    /// Whether this is exactly `request` (as far as a decision goes).
    pub(super) fn is(&self, request: &Request) -> bool {
        let mut rest: &[u8] = &self.bytes;
        let action = action_fields(&request.action);
        take_str(&mut rest, &request.user)
            && take_u32(&mut rest) == u32::try_from(request.groups.len()).ok()
            && request.groups.iter().all(|g| take_str(&mut rest, g))
            && take_u8(&mut rest) == Some(action.tag())
            && action.iter().all(|f| take_str(&mut rest, f))
            && rest.is_empty()
    }
}

fn push_str(bytes: &mut Vec<u8>, s: &str) -> Option<()> {
    bytes.extend_from_slice(&u32::try_from(s.len()).ok()?.to_le_bytes());
    bytes.extend_from_slice(s.as_bytes());
    Some(())
}

fn take_u8(rest: &mut &[u8]) -> Option<u8> {
    let (&first, tail) = rest.split_first()?;
    *rest = tail;
    Some(first)
}

fn take_u32(rest: &mut &[u8]) -> Option<u32> {
    let (len, tail) = rest.split_first_chunk::<4>()?;
    *rest = tail;
    Some(u32::from_le_bytes(*len))
}

fn take_str(rest: &mut &[u8], expected: &str) -> bool {
    let Some(len) = take_u32(rest) else {
        return false;
    };
    if usize::try_from(len).ok() != Some(expected.len()) {
        return false;
    }
    match rest.split_at_checked(expected.len()) {
        Some((field, tail)) if field == expected.as_bytes() => {
            *rest = tail;
            true
        }
        _ => false,
    }
}

impl Hash for PackedRequest {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

/// A lookup of a request in L1 without packing it: hashes as the [`PackedRequest`] of the
/// same request does, and is equivalent to it exactly when [`PackedRequest::is`] says so.
pub(super) struct RequestLookup<'r> {
    pub(super) hash: u64,
    pub(super) request: &'r Request,
}

impl Hash for RequestLookup<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl quick_cache::Equivalent<PackedRequest> for RequestLookup<'_> {
    fn equivalent(&self, key: &PackedRequest) -> bool {
        self.hash == key.hash && key.is(self.request)
    }
}

/// The caches' `BuildHasher`: keys arrive already hashed with a seeded foldhash
/// ([`RequestHashes`]), so hashing them again would only cost time. Anything else written
/// is folded in, so the hasher stays correct (if slower) for any key.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct PrehashedKeys;

/// The [`Hasher`] of [`PrehashedKeys`].
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9E37_79B9_7F4A_7C15);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 ^= n;
    }
}

impl BuildHasher for PrehashedKeys {
    type Hasher = PrehashedHasher;

    fn build_hasher(&self) -> PrehashedHasher {
        PrehashedHasher(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::request::ResourceAttributes;

    fn pods(user: &str, groups: &[&str], ns: &str) -> Request {
        Request::resource(
            user,
            ResourceAttributes {
                verb: "get".into(),
                resource: "pods".into(),
                namespace: ns.into(),
                ..Default::default()
            },
        )
        .with_groups(groups.iter().copied())
    }

    #[test]
    fn a_packed_request_is_exactly_its_request() {
        let r = pods("alice", &["dev", "ops"], "team-a");
        let packed = PackedRequest::new(1, &r).unwrap();
        assert!(packed.is(&r));
        let mut with_uid = r.clone();
        with_uid.uid = "u-1".into();
        assert!(packed.is(&with_uid), "uid does not decide anything");
        for other in [
            pods("alice", &["dev"], "team-a"),
            pods("alice", &["ops", "dev"], "team-a"),
            pods("alice", &["dev", "ops", ""], "team-a"),
            pods("alic", &["edev", "ops"], "team-a"),
            pods("alice", &["dev", "ops"], "team-b"),
            Request::non_resource("alice", "get", "pods").with_groups(["dev", "ops"]),
        ] {
            assert!(!packed.is(&other), "{other:?}");
        }
    }

    #[test]
    fn fields_shifted_between_neighbours_are_different_requests() {
        let a = Request::non_resource("ab", "c", "/x");
        let b = Request::non_resource("a", "bc", "/x");
        assert!(!PackedRequest::new(0, &a).unwrap().is(&b));
    }

    #[test]
    fn the_subject_hash_ignores_the_action_and_the_request_hash_does_not() {
        let seed = KeyHasher::default();
        let a = RequestHashes::of(&pods("alice", &["dev"], "team-a"), &seed);
        let b = RequestHashes::of(&pods("alice", &["dev"], "team-b"), &seed);
        assert_eq!(a.subject, b.subject);
        assert_ne!(a.request, b.request);
    }
}
