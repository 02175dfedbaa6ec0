//! Arbitrary text through the manifest loader and the engine: see
//! `scopegate_fuzz::manifest_loader` for the properties.

#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| scopegate_fuzz::manifest_loader(data));
