//! The incremental policy store: every object the policy is built from, keyed by where it
//! came from ([`Origin`]) and which object it is ([`ObjectRef`]), kept compiled as changes
//! arrive one object at a time, so that a watch event on a 100,000-binding policy costs tens
//! of microseconds instead of a full compile.
//!
//! A source (file reloads, a Kubernetes watch) feeds [`Change`]s, re-lists or whole origins;
//! after each, [`PolicyStore::policy`] hands out an immutable [`Policy`] snapshot that shares
//! everything unchanged with the previous one. Whatever sequence of changes led there, the
//! snapshot decides, explains and diagnoses exactly as [`Policy::compile`] of
//! [`PolicyStore::objects`] would: [`Policy::compile`] itself is a store fed once.

mod compiled;
mod stored;

use crate::objects::{ObjectKind, ObjectRef, PolicyObject, PolicyObjects, Source};
use crate::policy::{Policy, PolicyOptions};
use compiled::{Compiled, HeldObjects, Touched};
use stored::Stored;

/// Where an object came from. Files and a cluster can feed one store; the same object from
/// both is a duplicate, exactly as two copies in one [`PolicyObjects`] are: the copy from the
/// first origin in this order counts, the other is reported and grants nothing.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// Manifest files.
    Files,
    /// The cluster's API server (a watch).
    Cluster,
}

/// One change to one object, as a watch event carries it.
#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // moved, not stored: the store keeps objects in an Arc
pub enum Change {
    /// The object was created or updated: it replaces whatever this origin held under its
    /// [`ObjectRef`].
    Apply(PolicyObject),
    /// The object was deleted.
    Delete(ObjectRef),
}

/// What a change did, for metrics and logs.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ChangeEffect {
    /// Whether anything held changed (an `Apply` of an identical object does not).
    pub changed: bool,
    /// How many bindings were compiled again because of it.
    pub bindings_recompiled: usize,
    /// How many objects were created, updated or deleted.
    pub objects_changed: usize,
}

/// The copies held under one [`ObjectRef`], in the order compilation sees them: by origin,
/// then as given. More than one copy is a duplicate the policy reports.
#[derive(Clone, Debug, Default)]
struct Held {
    copies: Vec<(Origin, Stored)>,
    sources: Sources,
}

/// Where each origin's copy of an object was read, if known. Two slots, one per
/// [`Origin`], rather than a map: a map allocates a node of several hundred bytes for each
/// object, about as much as the object itself.
#[derive(Clone, Debug, Default)]
struct Sources {
    files: Option<Source>,
    cluster: Option<Source>,
}

impl Sources {
    fn slot(&mut self, origin: Origin) -> &mut Option<Source> {
        match origin {
            Origin::Files => &mut self.files,
            Origin::Cluster => &mut self.cluster,
        }
    }

    /// The source of `origin`'s copy.
    fn get(&self, origin: Origin) -> Option<&Source> {
        match origin {
            Origin::Files => self.files.as_ref(),
            Origin::Cluster => self.cluster.as_ref(),
        }
    }

    /// The source reported for the object: that of the first origin that has one, in
    /// [`Origin`] order (the order copies count in).
    fn first(&self) -> Option<&Source> {
        self.files.as_ref().or(self.cluster.as_ref())
    }
}

/// How a change sets an object's source.
#[derive(Debug)]
enum SourceUpdate {
    /// Unknown (a watch event): the one held stays if the object did not change.
    Keep,
    /// Known (a file reload): this one.
    Set(Option<Source>),
}

/// Per ref: the copies one origin now holds, and their source. Objects are held as the
/// store keeps them from the start, never as a [`PolicyObject`] (sized for a Node).
type Batch =
    std::collections::HashMap<ObjectRef, (Vec<Stored>, SourceUpdate), foldhash::fast::RandomState>;

/// Every object a policy is built from, kept compiled. See the module documentation.
///
/// Not thread-safe by itself (`&mut self` to change): one task owns it, applies changes and
/// publishes each [`PolicyStore::policy`] (e.g. through [`crate::Engine::replace`]).
#[derive(Debug)]
pub struct PolicyStore {
    options: PolicyOptions,
    held: HeldObjects,
    len: usize,
    compiled: Compiled,
}

impl PolicyStore {
    /// An empty store building policies with `options`.
    pub fn new(options: PolicyOptions) -> Self {
        PolicyStore {
            compiled: Compiled::new(&options.cluster_name),
            options,
            held: HeldObjects::default(),
            len: 0,
        }
    }

    /// Applies one watch event from `origin`.
    pub fn apply(&mut self, origin: Origin, change: Change) -> ChangeEffect {
        let (object_ref, copies) = match change {
            Change::Apply(object) => (object.object_ref(), vec![Stored::from(object)]),
            Change::Delete(object_ref) => (object_ref, Vec::new()),
        };
        let mut batch = Batch::default();
        batch.insert(object_ref, (copies, SourceUpdate::Keep));
        self.set_copies(origin, batch)
    }

    /// A re-list of one kind from `origin`: the objects held from there of that kind become
    /// exactly `objects` (those not among them are deleted). An object of another kind in
    /// `objects` is applied as by [`PolicyStore::apply`].
    pub fn replace_kind(
        &mut self,
        origin: Origin,
        kind: ObjectKind,
        objects: Vec<PolicyObject>,
    ) -> ChangeEffect {
        let mut batch = self.deletions(origin, |r| r.kind == kind);
        add_to_batch(&mut batch, objects.into_iter().map(Stored::from));
        self.set_copies(origin, batch)
    }

    /// Everything from `origin` becomes `objects` (a file reload): only what differs is
    /// compiled again. Their sources replace the ones held from that origin.
    ///
    /// Borrows the objects and copies each once, into what the store keeps: a caller keeps
    /// its set (to put back, to write to disk) without a second copy of it in memory.
    pub fn replace_origin(&mut self, origin: Origin, objects: &PolicyObjects) -> ChangeEffect {
        let mut batch = self.deletions(origin, |_| true);
        add_to_batch(&mut batch, Stored::copies_of(objects));
        for (object_ref, entry) in &mut batch {
            entry.1 = SourceUpdate::Set(objects.sources.get(object_ref).cloned());
        }
        self.set_copies(origin, batch)
    }

    /// Everything from `origin` becomes `objects`, as [`PolicyStore::replace_origin`], but
    /// taking them: nothing is copied. For a caller done with its set, e.g. a store fed once
    /// from files, where a copy of every object would add to the peak memory of the load.
    pub fn replace_origin_with(
        &mut self,
        origin: Origin,
        mut objects: PolicyObjects,
    ) -> ChangeEffect {
        let mut sources = std::mem::take(&mut objects.sources);
        let mut batch = self.deletions(origin, |_| true);
        add_to_batch(&mut batch, objects.into_objects().map(Stored::from));
        for (object_ref, entry) in &mut batch {
            entry.1 = SourceUpdate::Set(sources.remove(object_ref));
        }
        self.set_copies(origin, batch)
    }

    /// What `origin` holds now, shared with the store (reference counts, no copy): what
    /// [`PolicyStore::restore_origin`] puts back, e.g. when a file reload is refused.
    pub fn origin_objects(&self, origin: Origin) -> OriginObjects {
        let held = self
            .held
            .iter()
            .filter_map(|(object_ref, held)| {
                let copies: Vec<Stored> = held
                    .copies
                    .iter()
                    .filter(|(o, _)| *o == origin)
                    .map(|(_, copy)| copy.clone())
                    .collect();
                let source = held.sources.get(origin).cloned();
                (!copies.is_empty()).then(|| (object_ref.clone(), copies, source))
            })
            .collect();
        OriginObjects { origin, held }
    }

    /// Everything from the saved origin becomes what it held when it was saved
    /// ([`PolicyStore::origin_objects`]), sources included; only what differs is compiled
    /// again.
    pub fn restore_origin(&mut self, saved: &OriginObjects) -> ChangeEffect {
        let mut batch = self.deletions(saved.origin, |_| true);
        for (object_ref, copies, source) in &saved.held {
            batch.insert(
                object_ref.clone(),
                (copies.clone(), SourceUpdate::Set(source.clone())),
            );
        }
        self.set_copies(saved.origin, batch)
    }

    /// Deletions of everything held from `origin` that `which` selects, as a batch.
    fn deletions(&self, origin: Origin, which: impl Fn(&ObjectRef) -> bool) -> Batch {
        self.held
            .iter()
            .filter(|(r, h)| which(r) && h.copies.iter().any(|(o, _)| *o == origin))
            .map(|(r, _)| (r.clone(), (Vec::new(), SourceUpdate::Keep)))
            .collect()
    }

    /// Sets, for each ref of `batch`, the copies `origin` holds (and their source), then
    /// compiles again what that can affect.
    fn set_copies(&mut self, origin: Origin, batch: Batch) -> ChangeEffect {
        let mut effect = ChangeEffect::default();
        let mut touched = Vec::new();
        for (object_ref, (copies, source)) in batch {
            let held = self.held.entry(object_ref.clone()).or_default();
            let old: Vec<&Stored> = held
                .copies
                .iter()
                .filter(|(o, _)| *o == origin)
                .map(|(_, c)| c)
                .collect();
            let same_objects =
                old.len() == copies.len() && old.iter().zip(&copies).all(|(a, b)| a.same(b));
            let old_source = held.sources.get(origin).cloned();
            let new_source = match source {
                _ if copies.is_empty() => None,
                SourceUpdate::Set(s) => s,
                SourceUpdate::Keep if same_objects => old_source.clone(),
                SourceUpdate::Keep => None,
            };
            if same_objects && new_source == old_source {
                if held.copies.is_empty() {
                    self.held.remove(&object_ref);
                }
                continue;
            }
            effect.changed = true;
            effect.objects_changed += 1;
            touched.push(Touched {
                object: object_ref.clone(),
                old: held.copies.iter().map(|(_, o)| o.clone()).collect(),
            });
            let before = held.copies.len();
            let after = before - old.len() + copies.len();
            held.copies.retain(|(o, _)| *o != origin);
            let at = held.copies.partition_point(|(o, _)| *o < origin);
            held.copies
                .splice(at..at, copies.into_iter().map(|c| (origin, c)));
            *held.sources.slot(origin) = new_source;
            self.len = self.len + after - before;
            if held.copies.is_empty() {
                self.held.remove(&object_ref);
            }
        }
        if !touched.is_empty() {
            effect.bindings_recompiled = self.compiled.update(&self.held, touched);
        }
        effect
    }

    /// An immutable snapshot of the policy as it is now.
    ///
    /// Costs a few reference counts: the snapshot shares every part with the store, which
    /// copies a part (a shard of a map) only when a later change writes to it.
    pub fn policy(&self) -> Policy {
        self.compiled.policy()
    }

    /// The options policies are built with.
    pub fn options(&self) -> &PolicyOptions {
        &self.options
    }

    /// Every object held, with the sources known, in the order compilation sees them.
    pub fn objects(&self) -> PolicyObjects {
        let mut refs: Vec<&ObjectRef> = self.held.keys().collect();
        refs.sort();
        let mut out = PolicyObjects::default();
        for r in refs {
            let held = &self.held[r];
            for (_, copy) in &held.copies {
                out.push(copy.to_object());
            }
            if let Some(source) = held.sources.first() {
                out.sources.insert(r.clone(), source.clone());
            }
        }
        out
    }

    /// Every object held, in the order of [`PolicyStore::objects`], shared with the store
    /// rather than copied: what a last-known-good snapshot is written from, after the lock
    /// that guards the store is released.
    pub fn object_list(&self) -> ObjectList {
        let mut refs: Vec<&ObjectRef> = self.held.keys().collect();
        refs.sort();
        ObjectList(
            refs.into_iter()
                .flat_map(|r| self.held[r].copies.iter().map(|(_, copy)| copy.clone()))
                .collect(),
        )
    }

    /// How many objects are held (every copy counts).
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// What one origin held at one moment ([`PolicyStore::origin_objects`]): each object
/// shared with the store, with its source.
#[derive(Clone, Debug)]
pub struct OriginObjects {
    origin: Origin,
    held: Vec<(ObjectRef, Vec<Stored>, Option<Source>)>,
}

/// The objects a store held at one moment ([`PolicyStore::object_list`]): each shared
/// with the store (a reference count), none copied.
#[derive(Clone, Debug)]
pub struct ObjectList(Vec<Stored>);

impl ObjectList {
    /// How many objects (every copy counts).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Writes them as one JSON `kind: List` document (what [`crate::load`] reads back), for
    /// keeping a last-known-good copy of a policy on disk.
    ///
    /// Streamed, object by object: building the document as a `serde_json::Value` first
    /// took several times the memory of the objects themselves (about 600 MB for 100,000
    /// bindings), on top of the policy just built.
    pub fn write_list<W: std::io::Write>(&self, writer: W) -> Result<(), serde_json::Error> {
        #[derive(serde::Serialize)]
        struct List<'a> {
            #[serde(rename = "apiVersion")]
            api_version: &'static str,
            kind: &'static str,
            items: &'a ObjectList,
        }
        serde_json::to_writer(
            writer,
            &List {
                api_version: "v1",
                kind: "List",
                items: self,
            },
        )
    }
}

impl serde::Serialize for ObjectList {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeSeq;
        let mut items = serializer.serialize_seq(Some(self.0.len()))?;
        self.0
            .iter()
            .try_for_each(|o| o.serialize_into(&mut items))?;
        items.end()
    }
}

/// Files each of `objects` in `batch` under its ref, after the copies already there.
fn add_to_batch(batch: &mut Batch, objects: impl Iterator<Item = Stored>) {
    for object in objects {
        batch
            .entry(object.object_ref())
            .or_insert_with(|| (Vec::new(), SourceUpdate::Keep))
            .0
            .push(object);
    }
}

#[cfg(test)]
mod tests;
