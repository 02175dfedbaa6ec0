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
