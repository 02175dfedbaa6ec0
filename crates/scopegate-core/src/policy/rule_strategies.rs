//! Property-test strategies for rule names, shared by the rule matchers' tests: small pools,
//! so that a generated rule and a generated request often agree.

use proptest::prelude::*;

/// One of `pool`, as an owned string.
pub(crate) fn one_of(pool: &'static [&'static str]) -> impl Strategy<Value = String> {
    prop::sample::select(pool).prop_map(String::from)
}

/// Up to three of `pool`.
pub(crate) fn some_of(pool: &'static [&'static str]) -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(one_of(pool), 0..4)
}
