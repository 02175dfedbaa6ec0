//! The tiers' own rules: exact keys, the time-to-live, sizes of 0, and the counters.

use super::*;
use crate::load;
use crate::request::ResourceAttributes;

const POLICY: &str = r#"
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: reader, namespace: team-a}
rules: [{apiGroups: [""], resources: [pods], verbs: [get]}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: alice-reads, namespace: team-a}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: reader}
subjects: [{kind: User, name: alice}]
"#;

fn policy() -> Policy {
    let objects = load::parse_str(POLICY, "inline.yaml").expect("the test policy parses");
    Policy::from_objects(&objects, &crate::PolicyOptions::default()).expect("it is valid")
}

fn get_pods(groups: &[&str]) -> Request {
    Request::resource(
        "alice",
        ResourceAttributes {
            verb: "get".into(),
            resource: "pods".into(),
            namespace: "team-a".into(),
            ..Default::default()
        },
    )
    .with_groups(groups.iter().copied())
}

#[test]
fn the_same_request_is_answered_from_l1_and_a_different_one_is_not() {
    let engine = Engine::with_policy(policy(), &EngineConfig::default());
    let r = get_pods(&["dev", "ops"]);
    assert_eq!(engine.decide(&r).unwrap().tier, Tier::Policy);
    let again = engine.decide(&r).unwrap();
    assert_eq!(again.tier, Tier::DecisionCache);
    assert!(again.decision.is_allowed());
    let reordered = engine.decide(&get_pods(&["ops", "dev"])).unwrap();
    assert_ne!(reordered.tier, Tier::DecisionCache);
    let stats = engine.cache_stats();
    assert_eq!((stats.decision_hits, stats.decision_misses), (1, 2));
    assert_eq!(stats.decision_entries, 2);
}

#[test]
fn an_l1_entry_is_not_served_after_its_time_to_live_and_counts_as_evicted() {
    let config = EngineConfig {
        decision_cache: Some((100, Duration::from_millis(20))),
        subject_cache: None,
    };
    let engine = Engine::with_policy(policy(), &config);
    let r = get_pods(&[]);
    engine.decide(&r).unwrap();
    assert_eq!(engine.decide(&r).unwrap().tier, Tier::DecisionCache);
    std::thread::sleep(Duration::from_millis(120));
    let after = engine.decide(&r).unwrap();
    assert_eq!(after.tier, Tier::Policy);
    assert!(after.decision.is_allowed());
    assert_eq!(engine.cache_stats().decision_evictions, 1);
}

#[test]
fn a_tier_of_size_zero_is_off() {
    let config = EngineConfig {
        decision_cache: Some((0, Duration::from_secs(300))),
        subject_cache: Some(0),
    };
    let engine = Engine::with_policy(policy(), &config);
    let r = get_pods(&[]);
    for _ in 0..3 {
        assert_eq!(engine.decide(&r).unwrap().tier, Tier::Policy);
    }
    assert_eq!(engine.cache_stats(), CacheStats::default());
}

#[test]
fn replacing_the_policy_empties_both_tiers_without_counting_evictions() {
    let engine = Engine::with_policy(policy(), &EngineConfig::default());
    let r = get_pods(&[]);
    engine.decide(&r).unwrap();
    engine.decide(&r).unwrap();
    engine.replace(policy());
    let stats = engine.cache_stats();
    assert_eq!((stats.decision_entries, stats.subject_entries), (0, 0));
    assert_eq!((stats.decision_evictions, stats.subject_evictions), (0, 0));
    assert_eq!(engine.decide(&r).unwrap().generation, 2);
}

/// The shares of the test policy's one grant that exist now.
fn grant_shares(engine: &Engine) -> usize {
    let snapshot = engine.snapshot().expect("a policy is loaded");
    let grant = snapshot
        .policy
        .grants()
        .first()
        .expect("the policy has a grant");
    // One share is the `grant` borrowed here through `snapshot`: counted as the others.
    Arc::strong_count(grant)
}

#[test]
fn a_borrowed_answer_takes_no_share_of_the_grant_and_matches_the_owned_one() {
    // The shares taken while the answer is read, on a miss of every tier and then on a hit:
    // only those the caches keep (a compiled subject, a cached decision), and on an L1 hit
    // the copy of the decision the cache hands out.
    let configs = [
        ("uncached", EngineConfig::uncached(), [0, 0]),
        (
            "L2 only",
            EngineConfig {
                decision_cache: None,
                subject_cache: Some(10),
            },
            [1, 0],
        ),
        ("default", EngineConfig::default(), [2, 1]),
    ];
    for (name, config, taken) in configs {
        let engine = Engine::with_policy(policy(), &config);
        // The first call lists the grants, which keeps a share of each.
        grant_shares(&engine);
        let r = get_pods(&[]);
        // Twice: a miss of each tier, then a hit of the lowest one switched on.
        for (round, taken) in taken.into_iter().enumerate() {
            let before = grant_shares(&engine);
            let (shares_while_reading, seen) = engine
                .decide_with(&r, |answer| (grant_shares(&engine), answer.to_answer()))
                .expect("loaded");
            assert_eq!(
                shares_while_reading,
                before + taken,
                "{name}, round {round}: the answer read took a share of the grant"
            );
            let owned = engine.decide(&r).expect("loaded");
            assert_eq!(seen.decision, owned.decision, "{name}, round {round}");
            assert!(seen.decision.is_allowed(), "{name}, round {round}");
        }
    }
}
