//! Compiled subjects (the L2 tier): everything in one policy that can apply to one subject
//! (user plus groups), filed by scope, so that deciding any request of that subject costs
//! one probe of a small flat table per chain step. The seed's "precomputation at login".
//!
//! Layout: the subject's grants, each beside its role's rules, in one flat array grouped
//! by scope (each group in canonical order, by binding), and one hash table of scopes keyed
//! by the hash of their chain step, each entry (stored in the table) naming its group's
//! range. A probe hashes the step once, finds the entry and compares the kind and name kept
//! inline in it; the policy's index is not read. (A sorted array searched by binary search
//! was tried first: subjects whose groups are bound at thousands of namespaces made every
//! probe a dozen cache misses.) Compiling is one pass over the subject's grant lists and
//! one sort, then the two arrays and the table.
//!
//! The subject also keeps the set of scope kinds it has grants at: a chain step of any other
//! kind is skipped without hashing it, and the topology lookups of the walk (a namespace's
//! workspace, a node's node group: probes of maps as large as the cluster) are not made at
//! all for a subject with nothing at any workspace or node group.

use super::grant::Filed;
use super::name::Name;
use super::persistent::hash_of;
use super::rule_filter::ActionBits;
use super::{Grant, Policy};
use crate::chain::{Lookups, ScopeChain, ScopeStep};
use crate::decision::{AllowedRef, Decision, DecisionRef};
use crate::request::Request;
use std::ops::ControlFlow;
use std::sync::Arc;

/// The kind of a chain step, as a small integer kept in a [`ScopeEntry`] (and as a bit
/// position in [`CompiledSubject::kinds`]).
#[inline]
fn step_kind(step: &ScopeStep<'_>) -> u8 {
    match step {
        ScopeStep::Platform => 0,
        ScopeStep::Cluster(_) => 1,
        ScopeStep::Workspace(_) => WORKSPACE,
        ScopeStep::NodeGroup(_) => NODE_GROUP,
        ScopeStep::Namespace(_) => 4,
        ScopeStep::Node(_) => 5,
        ScopeStep::Resource { .. } => RESOURCE,
    }
}

/// The kind of a Workspace step.
const WORKSPACE: u8 = 2;
/// The kind of a NodeGroup step.
const NODE_GROUP: u8 = 3;
/// The kind of a Resource step.
const RESOURCE: u8 = 6;

/// The name compared inline for a chain step (a Resource step's object name; the rest of a
/// Resource scope is compared on the grant).
#[inline]
fn step_name<'a>(step: &ScopeStep<'a>) -> &'a str {
    match *step {
        ScopeStep::Platform => "",
        ScopeStep::Cluster(n)
        | ScopeStep::Workspace(n)
        | ScopeStep::NodeGroup(n)
        | ScopeStep::Namespace(n)
        | ScopeStep::Node(n) => n,
        ScopeStep::Resource { name, .. } => name,
    }
}

/// The grants of the subject at one scope: the scope's step hash, kind and name, and the
/// range of its grants in [`CompiledSubject::grants`].
#[derive(Debug, Clone)]
struct ScopeEntry {
    hash: u64,
    kind: u8,
    start: u32,
    end: u32,
    name: Name,
}

/// The grants of one subject in one policy, by scope, each scope's grants in canonical
/// order. See the module documentation for the layout.
#[derive(Debug, Clone)]
pub struct CompiledSubject {
    /// The user, then each group, each as its length (`u32`, little-endian) then its
    /// bytes: one allocation, compared in one pass on a cache hit.
    names: Box<[u8]>,
    /// The scopes, by the hash of their chain step (entries stored in the table itself).
    scopes: hashbrown::HashTable<ScopeEntry>,
    /// Grouped by scope as `scopes` says, each group sorted by binding, each binding once.
    grants: Box<[Filed]>,
    /// The kinds of scope the subject has grants at, one bit per [`step_kind`]: a step of
    /// another kind is not probed, and a namespace's workspace (a node's node group) is not
    /// even looked up when the subject has nothing at any workspace (node group).
    kinds: u8,
}

impl CompiledSubject {
    /// Whether this compiles exactly the subject of `request` (same user, same groups in the
    /// same order).
    pub fn is_for(&self, request: &Request) -> bool {
        let mut rest: &[u8] = &self.names;
        let names = std::iter::once(&request.user).chain(&request.groups);
        for name in names {
            let Some((len, tail)) = rest.split_first_chunk::<4>() else {
                return false;
            };
            let len = u32::from_le_bytes(*len) as usize;
            if len != name.len() {
                return false;
            }
            let Some((packed, tail)) = tail.split_at_checked(len) else {
                return false;
            };
            if packed != name.as_bytes() {
                return false;
            }
            rest = tail;
        }
        rest.is_empty()
    }

    /// Whether the subject has a grant at any scope of this [`step_kind`].
    #[inline]
    fn has_kind(&self, kind: u8) -> bool {
        self.kinds & (1 << kind) != 0
    }

    /// How many scopes the subject has grants at.
    pub fn scope_count(&self) -> usize {
        self.scopes.len()
    }

    /// The subject's grants at one chain step, in canonical order (empty if none).
    #[inline]
    fn at(&self, step: &ScopeStep<'_>) -> &[Filed] {
        let kind = step_kind(step);
        if !self.has_kind(kind) {
            return &[];
        }
        let hash = hash_of(step);
        let name = step_name(step).as_bytes();
        self.scopes
            .find(hash, |entry| {
                entry.hash == hash
                    && entry.kind == kind
                    && entry.name.as_bytes() == name
                    // A Resource scope has three more fields: compared on its first grant.
                    && (kind != RESOURCE
                        || self
                            .grants
                            .get(entry.start as usize)
                            .is_some_and(|g| ScopeStep::of(&g.grant.scope) == *step))
            })
            .and_then(|entry| self.grants.get(entry.start as usize..entry.end as usize))
            .unwrap_or_default()
    }
}

impl Policy {
    /// Compiles everything that can apply to `user` with `groups`.
    pub fn compile_subject(&self, user: &str, groups: &[String]) -> CompiledSubject {
        let mut all: Vec<(u64, &Arc<Grant>)> = self
            .index
            .all_scopes
            .candidates(user, groups)
            .flatten()
            .map(|grant| (hash_of(&ScopeStep::of(&grant.scope)), grant))
            .collect();
        all.sort_unstable_by(|a, b| {
            (a.0, &a.1.scope, &a.1.binding).cmp(&(b.0, &b.1.scope, &b.1.binding))
        });
        all.dedup_by(|a, b| a.1.binding == b.1.binding && a.1.scope == b.1.scope);

        let mut scopes: Vec<ScopeEntry> = Vec::new();
        let mut grants: Vec<Filed> = Vec::with_capacity(all.len());
        for (i, &(hash, grant)) in all.iter().enumerate() {
            let new_scope = i == 0 || all[i - 1].0 != hash || all[i - 1].1.scope != grant.scope;
            let at = u32::try_from(grants.len()).unwrap_or(u32::MAX);
            if new_scope {
                let step = ScopeStep::of(&grant.scope);
                scopes.push(ScopeEntry {
                    hash,
                    kind: step_kind(&step),
                    start: at,
                    end: at,
                    name: step_name(&step).into(),
                });
            }
            grants.push(Filed::new(grant));
            if let Some(entry) = scopes.last_mut() {
                entry.end = at.saturating_add(1);
            }
        }
        let kinds = scopes.iter().fold(0u8, |kinds, e| kinds | (1 << e.kind));
        let mut table = hashbrown::HashTable::with_capacity(scopes.len());
        for entry in scopes {
            table.insert_unique(entry.hash, entry, |e| e.hash);
        }
        let names_len =
            4 * (1 + groups.len()) + user.len() + groups.iter().map(String::len).sum::<usize>();
        let mut names = Vec::with_capacity(names_len);
        for name in std::iter::once(user).chain(groups.iter().map(String::as_str)) {
            // A name of 4 GiB or more gets a wrong length: never a hit, never a wrong answer.
            let len = u32::try_from(name.len()).unwrap_or(u32::MAX);
            names.extend_from_slice(&len.to_le_bytes());
            names.extend_from_slice(name.as_bytes());
        }
        CompiledSubject {
            names: names.into_boxed_slice(),
            scopes: table,
            grants: grants.into_boxed_slice(),
            kinds,
        }
    }

    /// Decides `request` with its subject's compiled grants; the same answer as
    /// [`Policy::decide`] when `subject` was compiled from this policy for this subject.
    pub fn decide_compiled(&self, subject: &CompiledSubject, request: &Request) -> Decision {
        self.decide_compiled_ref(subject, request).to_decision()
    }

    /// Decides `request` as [`Policy::decide_compiled`] does, the answer borrowed from
    /// `subject` (see [`DecisionRef`] for what that saves).
    pub fn decide_compiled_ref<'s>(
        &self,
        subject: &'s CompiledSubject,
        request: &Request,
    ) -> DecisionRef<'s> {
        if subject.kinds == 0 {
            return DecisionRef::NoOpinion;
        }
        let lookups = Lookups {
            workspace: subject.has_kind(WORKSPACE),
            node_group: subject.has_kind(NODE_GROUP),
        };
        let bits = ActionBits::of(&request.action);
        ScopeChain::walk_action(&request.action, &self.topology, lookups, |step| {
            for filed in subject.at(step) {
                if let Some(rule_index) = filed.first_allowing_rule(&request.action, &bits) {
                    return ControlFlow::Break(DecisionRef::Allowed(AllowedRef {
                        grant: &filed.grant,
                        rule_index,
                    }));
                }
            }
            ControlFlow::Continue(())
        })
        .unwrap_or(DecisionRef::NoOpinion)
    }
}
