//! Regressions: request.
#![allow(unused_imports)]
use crate::support;
