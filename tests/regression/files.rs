//! Regressions: files.
#![allow(unused_imports)]
use crate::support;
