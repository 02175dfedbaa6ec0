//! Code shared by the integration tests (each test binary uses part of it).

#![allow(dead_code)]

pub mod generators;
