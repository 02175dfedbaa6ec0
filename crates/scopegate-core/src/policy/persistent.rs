//! A persistent hash map: what lets every policy snapshot share all it did not change with
//! the one before.
//!
//! The entries are split by hash into shards, each behind its own `Arc`, and the shard list
//! is behind one more. Cloning the map (taking a snapshot) copies one pointer; changing one
//! entry of a shared map copies the shard list (a few thousand pointers at most) and the one
//! shard the entry is in (a few hundred entries at most), never the rest. The number of
//! shards grows with the map, about the square root of its length, so that both copies stay
//! small whatever the size: at 100,000 entries, 512 shards of about 200 entries.
//!
//! A shard is one allocation of slots, each an entry and its hash, probed linearly from the
//! slot the hash names (at most half full, and an entry removed pulls the ones after it
//! back, so a probe ends at the first empty slot). A lookup reads the shard list, then the
//! slot: on a large policy, where every level is a cache miss, that is two misses where a
//! `hashbrown` table behind an `Arc` costs four (the list, the table's header, its control
//! bytes, the entry), and at a million bindings a decision makes several such lookups.

use hashbrown::Equivalent;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

/// foldhash, as everywhere keys come from requests: fast, with a per-process random seed.
type Hasher = foldhash::fast::RandomState;

/// The process's hasher: foldhash with a seed drawn once per process, shared by every map
/// so that a map carries no hasher of its own.
fn hasher() -> &'static Hasher {
    static HASHER: std::sync::OnceLock<Hasher> = std::sync::OnceLock::new();
    HASHER.get_or_init(Hasher::default)
}

/// The hash of `value` under the process's hasher.
#[inline]
pub(crate) fn hash_of<T: Hash + ?Sized>(value: &T) -> u64 {
    hasher().hash_one(value)
}

/// Entries per shard before the map asks for more shards.
const SHARD_FILL: usize = 32;
/// At most this many shards (about 130 million entries at the fill above).
const MAX_SHARDS: usize = 4096;
/// The fewest slots a shard with entries has.
const MIN_SLOTS: usize = 8;

/// One slot of a shard: empty, or an entry and the hash of its key.
#[derive(Clone)]
struct Slot<K, V> {
    hash: u64,
    entry: Option<(K, V)>,
}

impl<K, V> Slot<K, V> {
    const EMPTY: Self = Slot {
        hash: 0,
        entry: None,
    };
}

/// One shard: a power of two of slots (none while the shard is empty), shared until written.
type Shard<K, V> = Arc<[Slot<K, V>]>;

/// Where a probe for `hash` starts among `slots` slots (a power of two). The shard was
/// chosen by other bits of the hash (see [`PersistentMap::shard_index`]).
#[inline]
fn home(hash: u64, slots: usize) -> usize {
    hash as usize & (slots - 1)
}

/// The slot of the entry whose key `is_key` accepts, if any.
#[inline]
fn find<K, V>(slots: &[Slot<K, V>], hash: u64, is_key: impl Fn(&K) -> bool) -> Option<usize> {
    if slots.is_empty() {
        return None;
    }
    let mask = slots.len() - 1;
    let mut at = home(hash, slots.len());
    // At most half the slots are full: the probe meets an empty one.
    for _ in 0..slots.len() {
        let slot = &slots[at];
        match &slot.entry {
            None => return None,
            Some((k, _)) if slot.hash == hash && is_key(k) => return Some(at),
            Some(_) => at = (at + 1) & mask,
        }
    }
    None
}

/// The slot a new entry of `hash` goes in: the first empty one of its probe. `slots` has
/// one (at most half full).
fn vacant_for<K, V>(slots: &[Slot<K, V>], hash: u64) -> usize {
    let mask = slots.len() - 1;
    let mut at = home(hash, slots.len());
    while slots[at].entry.is_some() {
        at = (at + 1) & mask;
    }
    at
}

/// Empties slot `at`, pulling back the entries after it that their probes would no longer
/// reach (so that a probe may stop at the first empty slot); gives back the entry.
fn take_at<K, V>(slots: &mut [Slot<K, V>], at: usize) -> Option<(K, V)> {
    let mask = slots.len() - 1;
    let taken = slots[at].entry.take();
    let mut hole = at;
    let mut next = (at + 1) & mask;
    while let Some(hash) = slots[next].entry.as_ref().map(|_| slots[next].hash) {
        // The entry at `next` can fill the hole if its probe passes the hole before `next`.
        let from_home = next.wrapping_sub(home(hash, slots.len())) & mask;
        let from_hole = next.wrapping_sub(hole) & mask;
        if from_home >= from_hole {
            slots.swap(hole, next);
            hole = next;
        }
        next = (next + 1) & mask;
    }
    taken
}

/// `entries` (with their hashes) in a fresh shard of `count` slots.
fn shard_of<K, V>(count: usize, entries: impl Iterator<Item = (u64, (K, V))>) -> Shard<K, V> {
    let mut slots: Vec<Slot<K, V>> = (0..count).map(|_| Slot::EMPTY).collect();
    for (hash, entry) in entries {
        let at = vacant_for(&slots, hash);
        slots[at] = Slot {
            hash,
            entry: Some(entry),
        };
    }
    slots.into()
}

/// The entries of `shard` and their hashes: moved out when this map is its only holder
/// (the shard is then left empty), copied when a snapshot shares it.
fn take_or_clone<K: Clone, V: Clone>(shard: &mut Shard<K, V>) -> Vec<(u64, (K, V))> {
    match Arc::get_mut(shard) {
        Some(slots) => slots
            .iter_mut()
            .filter_map(|slot| slot.entry.take().map(|entry| (slot.hash, entry)))
            .collect(),
        None => shard
            .iter()
            .filter_map(|slot| slot.entry.clone().map(|entry| (slot.hash, entry)))
            .collect(),
    }
}

/// The slot count for a shard of `len` entries: a power of two, at least twice `len`.
fn slots_for(len: usize) -> usize {
    (2 * len).next_power_of_two().max(MIN_SLOTS)
}

/// A hash map whose clones share their shards; see the module documentation.
#[derive(Clone)]
pub(crate) struct PersistentMap<K, V> {
    /// A power of two of shards; entry `(k, v)` is in shard `shard_of(hash(k))`.
    shards: Arc<[Shard<K, V>]>,
    /// Entries per shard (read only by changes, so lookups do not load it).
    shard_lens: Arc<[u32]>,
    len: usize,
}

impl<K, V> Default for PersistentMap<K, V> {
    fn default() -> Self {
        PersistentMap {
            shards: Arc::from(vec![Arc::from(Vec::new())]),
            shard_lens: Arc::from(vec![0]),
            len: 0,
        }
    }
}

impl<K, V> std::fmt::Debug for PersistentMap<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PersistentMap")
            .field("len", &self.len)
            .field("shards", &self.shards.len())
            .finish()
    }
}

/// The shard count a map of `len` entries should have.
fn shards_for(len: usize) -> usize {
    if len <= SHARD_FILL {
        return 1;
    }
    len.isqrt().next_power_of_two().clamp(1, MAX_SHARDS)
}

impl<K, V> PersistentMap<K, V> {
    /// Every entry, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.shards.iter().flat_map(|shard| {
            shard
                .iter()
                .filter_map(|slot| slot.entry.as_ref().map(|(k, v)| (k, v)))
        })
    }

    #[inline]
    fn shard_index(&self, hash: u64) -> usize {
        // A shard's slots are chosen by the low bits: take the shard from higher ones.
        (hash >> 32) as usize & (self.shards.len() - 1)
    }
}

impl<K: Hash + Eq, V> PersistentMap<K, V> {
    /// The entry under `key`, if any.
    pub(crate) fn get_key_value<Q>(&self, key: &Q) -> Option<(&K, &V)>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let hash = hash_of(key);
        let shard = &self.shards[self.shard_index(hash)];
        let at = find(shard, hash, |k| key.equivalent(k))?;
        shard[at].entry.as_ref().map(|(k, v)| (k, v))
    }

    /// The value under `key`, if any.
    #[inline]
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.get_key_value(key).map(|(_, v)| v)
    }
}

impl<K: Hash + Eq + Clone, V: Clone> PersistentMap<K, V> {
    /// The slots of shard `index`, made exclusive to this map (copied if a snapshot shares
    /// them), for a change that keeps the entry count.
    fn slots_mut(&mut self, index: usize) -> &mut [Slot<K, V>] {
        Arc::make_mut(&mut Arc::make_mut(&mut self.shards)[index])
    }

    /// Shard `index`, made exclusive to this map (copied if a snapshot shares it), and its
    /// entry count, for a change that adds or removes an entry.
    fn shard_mut(&mut self, index: usize) -> (&mut [Slot<K, V>], &mut u32) {
        let shards = Arc::make_mut(&mut self.shards);
        let lens = Arc::make_mut(&mut self.shard_lens);
        (Arc::make_mut(&mut shards[index]), &mut lens[index])
    }

    /// The value under `key`, to change in place.
    pub(crate) fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let hash = hash_of(key);
        let index = self.shard_index(hash);
        // Look first, so that a miss copies nothing.
        let at = find(&self.shards[index], hash, |k| key.equivalent(k))?;
        self.slots_mut(index)[at].entry.as_mut().map(|(_, v)| v)
    }

    /// Inserts `value` under `key`; gives back the value it replaces.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        let hash = hash_of(&key);
        let index = self.shard_index(hash);
        if let Some(at) = find(&self.shards[index], hash, |k| *k == key) {
            return self.slots_mut(index)[at]
                .entry
                .as_mut()
                .map(|(_, v)| std::mem::replace(v, value));
        }
        self.grow_for_one_more();
        self.len += 1;
        let index = self.shard_index(hash);
        let wanted = slots_for(self.shard_lens[index] as usize + 1);
        if wanted > self.shards[index].len() {
            let shard = &mut Arc::make_mut(&mut self.shards)[index];
            *shard = shard_of(wanted, take_or_clone(shard).into_iter());
        }
        let (slots, len) = self.shard_mut(index);
        let at = vacant_for(slots, hash);
        slots[at] = Slot {
            hash,
            entry: Some((key, value)),
        };
        *len += 1;
        None
    }

    /// Adds shards when one more entry would make them too full.
    fn grow_for_one_more(&mut self) {
        let wanted = shards_for(self.len + 1);
        if wanted >= 2 * self.shards.len() {
            self.reshard(wanted);
        }
    }

    /// Removes the entry under `key`; gives back its value.
    pub(crate) fn remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.remove_entry(key).map(|(_, v)| v)
    }

    /// Removes the entry under `key`; gives it back.
    pub(crate) fn remove_entry<Q>(&mut self, key: &Q) -> Option<(K, V)>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let hash = hash_of(key);
        let index = self.shard_index(hash);
        let at = find(&self.shards[index], hash, |k| key.equivalent(k))?;
        let (slots, len) = self.shard_mut(index);
        let entry = take_at(slots, at)?;
        *len -= 1;
        self.len -= 1;
        Some(entry)
    }

    /// Spreads the entries over `count` shards (a power of two).
    fn reshard(&mut self, count: usize) {
        let mut spread: Vec<Vec<(u64, (K, V))>> = (0..count).map(|_| Vec::new()).collect();
        for shard in Arc::make_mut(&mut self.shards).iter_mut() {
            for (hash, entry) in take_or_clone(shard) {
                spread[(hash >> 32) as usize & (count - 1)].push((hash, entry));
            }
        }
        self.shard_lens = spread
            .iter()
            .map(|entries| u32::try_from(entries.len()).unwrap_or(u32::MAX))
            .collect();
        self.shards = spread
            .into_iter()
            .map(|entries| {
                if entries.is_empty() {
                    Arc::from(Vec::new())
                } else {
                    shard_of(slots_for(entries.len()), entries.into_iter())
                }
            })
            .collect();
    }
}

impl<K: Hash + Eq + Clone, V: Clone> FromIterator<(K, V)> for PersistentMap<K, V> {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut map = PersistentMap::default();
        for (k, v) in iter {
            map.insert(k, v);
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use super::PersistentMap;
    use proptest::prelude::*;
    use std::collections::HashMap;

    /// One change or snapshot, on keys from a small set so that they collide and are
    /// removed from the middle of probes.
    #[derive(Clone, Debug)]
    enum Op {
        Insert(u16, u32),
        Remove(u16),
        Change(u16, u32),
        Snapshot,
    }

    fn op(keys: u16) -> impl Strategy<Value = Op> {
        prop_oneof![
            4 => (0..keys, any::<u32>()).prop_map(|(k, v)| Op::Insert(k, v)),
            3 => (0..keys).prop_map(Op::Remove),
            1 => (0..keys, any::<u32>()).prop_map(|(k, v)| Op::Change(k, v)),
            1 => Just(Op::Snapshot),
        ]
    }

    /// The map holds exactly the model's entries, found by key and by iteration.
    fn assert_same(map: &PersistentMap<String, u32>, model: &HashMap<String, u32>, keys: u16) {
        assert_eq!(map.len, model.len());
        for k in 0..keys {
            let key = format!("k{k}");
            assert_eq!(map.get(key.as_str()), model.get(&key), "{key}");
        }
        let mut listed: Vec<(String, u32)> = map.iter().map(|(k, v)| (k.clone(), *v)).collect();
        listed.sort();
        let mut expected: Vec<(String, u32)> = model.iter().map(|(k, v)| (k.clone(), *v)).collect();
        expected.sort();
        assert_eq!(listed, expected);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(96))]

        /// Any sequence of inserts, removals and in-place changes leaves the map equal to a
        /// `HashMap` given the same sequence, and every snapshot taken on the way keeps
        /// what it held then.
        #[test]
        fn the_map_and_its_snapshots_behave_as_hash_maps(
            (keys, ops) in (1u16..1000).prop_flat_map(|keys| (Just(keys), prop::collection::vec(op(keys), 1..1500)))
        ) {
            let mut map: PersistentMap<String, u32> = PersistentMap::default();
            let mut model: HashMap<String, u32> = HashMap::new();
            let mut snapshots = Vec::new();
            for op in ops {
                match op {
                    Op::Insert(k, v) => {
                        let key = format!("k{k}");
                        prop_assert_eq!(map.insert(key.clone(), v), model.insert(key, v));
                    }
                    Op::Remove(k) => {
                        let key = format!("k{k}");
                        prop_assert_eq!(map.remove(key.as_str()), model.remove(&key));
                    }
                    Op::Change(k, v) => {
                        let key = format!("k{k}");
                        let changed = map.get_mut(key.as_str()).map(|old| *old = v);
                        prop_assert_eq!(changed, model.get_mut(&key).map(|old| *old = v));
                    }
                    Op::Snapshot => snapshots.push((map.clone(), model.clone())),
                }
            }
            assert_same(&map, &model, keys);
            for (snapshot, then) in &snapshots {
                assert_same(snapshot, then, keys);
            }
        }
    }

    #[test]
    fn a_clone_keeps_its_entries_whatever_the_original_does() {
        let mut map: PersistentMap<String, usize> = PersistentMap::default();
        for i in 0..5_000 {
            map.insert(format!("k{i}"), i);
        }
        let snapshot = map.clone();
        for i in 0..2_500 {
            map.remove(&format!("k{i}"));
        }
        map.insert("new".into(), 1);
        *map.get_mut("k4999").expect("present") = 0;
        assert_eq!(snapshot.len, 5_000);
        assert_eq!(snapshot.get("k0"), Some(&0));
        assert_eq!(snapshot.get("k4999"), Some(&4999));
        assert_eq!(snapshot.get("new"), None);
        assert_eq!(map.len, 2_501);
        assert_eq!(map.get("k0"), None);
        assert_eq!(map.get("k4999"), Some(&0));
        assert_eq!(map.iter().count(), 2_501);
    }

    #[test]
    fn grows_its_shards_with_its_length() {
        let mut map: PersistentMap<u32, u32> = PersistentMap::default();
        for i in 0..100_000 {
            map.insert(i, i);
        }
        assert!(map.shards.len() >= 256, "{} shards", map.shards.len());
        assert!((0..100_000).all(|i| map.get(&i) == Some(&i)));
        assert_eq!(map.insert(7, 0), Some(7));
        assert_eq!(map.insert(100_001, 3), None);
        assert_eq!(map.get(&7), Some(&0));
        assert_eq!(map.len, 100_001);
    }
}
