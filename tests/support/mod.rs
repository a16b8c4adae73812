//! Helpers shared by the integration tests, benches and examples. Each user takes a subset.
#![allow(dead_code)]

pub mod fake_codesignal;
pub mod scratch;
pub mod serve;
