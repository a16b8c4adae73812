//! Regressions: secrets.
#![allow(unused_imports)]
use crate::support;
