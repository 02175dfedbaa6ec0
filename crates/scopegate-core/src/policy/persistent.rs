//! A persistent hash map: what lets every policy snapshot share all it did not change with
//! the one before.
//!
//! The entries are split by hash into shards, each behind its own `Arc`, and the shard list
//! is behind one more. Cloning the map (taking a snapshot) copies one pointer; changing one
//! entry of a shared map copies the shard list (a few hundred pointers at most) and the one
//! shard the entry is in (a few hundred entries at most), never the rest. The number of
//! shards grows with the map, about the square root of its length, so that both copies stay
//! small whatever the size: at 100,000 entries, 512 shards of about 200 entries.
//!
//! Looking an entry up costs one hash, as in a plain map, plus two pointer loads to reach the
//! shard. This is the structure the brief preferred over a crate like `imbl`: plain
//! `hashbrown` tables, so a lookup probes exactly as a `HashMap` does.

use hashbrown::hash_table::Entry;
use hashbrown::{Equivalent, HashTable};
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

/// One shard: a plain table, shared until written.
type Shard<K, V> = Arc<HashTable<(K, V)>>;

/// A hash map whose clones share their shards; see the module documentation.
#[derive(Clone)]
pub(crate) struct PersistentMap<K, V> {
    /// A power of two of shards; entry `(k, v)` is in shard `shard_of(hash(k))`.
    shards: Arc<[Shard<K, V>]>,
    len: usize,
}

impl<K, V> Default for PersistentMap<K, V> {
    fn default() -> Self {
        PersistentMap {
            shards: Arc::from(vec![Arc::new(HashTable::new())]),
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
        self.shards
            .iter()
            .flat_map(|shard| shard.iter().map(|(k, v)| (k, v)))
    }

    fn shard_index(&self, hash: u64) -> usize {
        // hashbrown places entries by the low bits and tags them with the top seven: take
        // the shard from bits in between.
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
        shard
            .find(hash, |(k, _)| key.equivalent(k))
            .map(|(k, v)| (k, v))
    }

    /// The value under `key`, if any.
    #[inline]
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let hash = hash_of(key);
        let shard = &self.shards[self.shard_index(hash)];
        shard.find(hash, |(k, _)| key.equivalent(k)).map(|(_, v)| v)
    }
}

impl<K: Hash + Eq + Clone, V: Clone> PersistentMap<K, V> {
    /// The shard for `hash`, made exclusive to this map (copied if a snapshot shares it).
    fn shard_mut(&mut self, hash: u64) -> &mut HashTable<(K, V)> {
        let index = self.shard_index(hash);
        let shards = Arc::make_mut(&mut self.shards);
        Arc::make_mut(&mut shards[index])
    }

    /// The value under `key`, to change in place.
    pub(crate) fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        let hash = hash_of(key);
        // Look first, so that a miss copies nothing.
        self.shards[self.shard_index(hash)].find(hash, |(k, _)| key.equivalent(k))?;
        self.shard_mut(hash)
            .find_mut(hash, |(k, _)| key.equivalent(k))
            .map(|(_, v)| v)
    }

    /// Inserts `value` under `key`; gives back the value it replaces.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        let hash = hash_of(&key);
        let present = self.shards[self.shard_index(hash)]
            .find(hash, |(k, _)| *k == key)
            .is_some();
        if !present {
            self.grow_for_one_more();
            self.len += 1;
        }
        match self
            .shard_mut(hash)
            .entry(hash, |(k, _)| *k == key, |(k, _)| hash_of(k))
        {
            Entry::Occupied(mut slot) => Some(std::mem::replace(&mut slot.get_mut().1, value)),
            Entry::Vacant(slot) => {
                slot.insert((key, value));
                None
            }
        }
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
        self.shards[self.shard_index(hash)].find(hash, |(k, _)| key.equivalent(k))?;
        let entry = self
            .shard_mut(hash)
            .find_entry(hash, |(k, _)| key.equivalent(k))
            .ok()?;
        let (entry, _) = entry.remove();
        self.len -= 1;
        Some(entry)
    }

    /// Spreads the entries over `count` shards (a power of two).
    fn reshard(&mut self, count: usize) {
        let mut shards: Vec<HashTable<(K, V)>> = (0..count)
            .map(|_| HashTable::with_capacity(self.len / count + 1))
            .collect();
        for shard in self.shards.iter() {
            for (k, v) in shard.iter() {
                let hash = hash_of(k);
                let index = (hash >> 32) as usize & (count - 1);
                shards[index].insert_unique(hash, (k.clone(), v.clone()), |(k, _)| hash_of(k));
            }
        }
        self.shards = shards.into_iter().map(Arc::new).collect();
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
