//! Kubernetes label selectors, as used by aggregated ClusterRoles, IAMRole template
//! selectors and NodeGroup node selectors. Same semantics as `metav1.LabelSelectorAsSelector`:
//! an empty selector matches everything; `NotIn` matches objects without the label.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use std::collections::BTreeMap;

/// A selector that Kubernetes would refuse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// The operator is not In, NotIn, Exists or DoesNotExist.
    #[error(
        "matchExpressions[{index}].operator: unknown operator {operator:?}, expected one of In, NotIn, Exists, DoesNotExist"
    )]
    UnknownOperator {
        /// Which expression.
        index: usize,
        /// What was written.
        operator: String,
    },
    /// In and NotIn need values; Exists and DoesNotExist take none.
    #[error("matchExpressions[{index}].values: {message}")]
    BadValues {
        /// Which expression.
        index: usize,
        /// What is wrong with them.
        message: &'static str,
    },
}

/// Whether `labels` satisfy `selector`; an error when the selector itself is invalid.
pub fn selector_matches(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
) -> Result<bool, SelectorError> {
    validate(selector)?;
    let labels_match = selector
        .match_labels
        .iter()
        .flatten()
        .all(|(key, value)| labels.get(key) == Some(value));
    if !labels_match {
        return Ok(false);
    }
    Ok(selector.match_expressions.iter().flatten().all(|expr| {
        let present = labels.get(&expr.key);
        let values = expr.values.as_deref().unwrap_or_default();
        match expr.operator.as_str() {
            "In" => present.is_some_and(|v| values.contains(v)),
            "NotIn" => present.is_none_or(|v| !values.contains(v)),
            "Exists" => present.is_some(),
            _ => present.is_none(), // DoesNotExist, the only one left after validate
        }
    }))
}

fn validate(selector: &LabelSelector) -> Result<(), SelectorError> {
    for (index, expr) in selector.match_expressions.iter().flatten().enumerate() {
        let has_values = expr.values.as_ref().is_some_and(|v| !v.is_empty());
        match expr.operator.as_str() {
            "In" | "NotIn" if !has_values => {
                return Err(SelectorError::BadValues {
                    index,
                    message: "must be non-empty for In and NotIn",
                });
            }
            "Exists" | "DoesNotExist" if has_values => {
                return Err(SelectorError::BadValues {
                    index,
                    message: "must be empty for Exists and DoesNotExist",
                });
            }
            "In" | "NotIn" | "Exists" | "DoesNotExist" => {}
            other => {
                return Err(SelectorError::UnknownOperator {
                    index,
                    operator: other.to_string(),
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelectorRequirement {
        LabelSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|v| v.to_string()).collect()),
        }
    }

    fn with_exprs(exprs: Vec<LabelSelectorRequirement>) -> LabelSelector {
        LabelSelector {
            match_expressions: Some(exprs),
            match_labels: None,
        }
    }

    #[test]
    fn empty_selector_matches_everything() {
        assert!(selector_matches(&LabelSelector::default(), &labels(&[])).unwrap());
        assert!(selector_matches(&LabelSelector::default(), &labels(&[("a", "b")])).unwrap());
    }

    #[test]
    fn match_labels_needs_every_pair() {
        let sel = LabelSelector {
            match_labels: Some(labels(&[("tier", "gpu"), ("zone", "a")])),
            match_expressions: None,
        };
        assert!(
            selector_matches(&sel, &labels(&[("tier", "gpu"), ("zone", "a"), ("x", "y")])).unwrap()
        );
        assert!(!selector_matches(&sel, &labels(&[("tier", "gpu")])).unwrap());
        assert!(!selector_matches(&sel, &labels(&[("tier", "gpu"), ("zone", "b")])).unwrap());
    }

    #[test]
    fn not_in_matches_objects_without_the_label() {
        let sel = with_exprs(vec![expr("env", "NotIn", &["prod"])]);
        assert!(selector_matches(&sel, &labels(&[])).unwrap());
        assert!(selector_matches(&sel, &labels(&[("env", "dev")])).unwrap());
        assert!(!selector_matches(&sel, &labels(&[("env", "prod")])).unwrap());
    }

    #[test]
    fn in_exists_and_does_not_exist() {
        let in_sel = with_exprs(vec![expr("env", "In", &["dev", "test"])]);
        assert!(selector_matches(&in_sel, &labels(&[("env", "test")])).unwrap());
        assert!(!selector_matches(&in_sel, &labels(&[])).unwrap());
        let exists = with_exprs(vec![expr("env", "Exists", &[])]);
        assert!(selector_matches(&exists, &labels(&[("env", "")])).unwrap());
        assert!(!selector_matches(&exists, &labels(&[("other", "x")])).unwrap());
        let absent = with_exprs(vec![expr("env", "DoesNotExist", &[])]);
        assert!(!selector_matches(&absent, &labels(&[("env", "")])).unwrap());
        assert!(selector_matches(&absent, &labels(&[])).unwrap());
    }

    #[test]
    fn invalid_selectors_are_errors_not_matches() {
        let unknown = with_exprs(vec![expr("env", "Equals", &["x"])]);
        assert!(matches!(
            selector_matches(&unknown, &labels(&[("env", "x")])),
            Err(SelectorError::UnknownOperator { .. })
        ));
        let empty_in = with_exprs(vec![expr("env", "In", &[])]);
        assert!(selector_matches(&empty_in, &labels(&[])).is_err());
        let exists_with_values = with_exprs(vec![expr("env", "Exists", &["x"])]);
        assert!(selector_matches(&exists_with_values, &labels(&[("env", "x")])).is_err());
    }
}
