//! Arbitrary bytes as the body of a SubjectAccessReview POST: see
//! `scopegate_fuzz::subject_access_review` for the properties.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scopegate_fuzz::subject_access_review(data));
