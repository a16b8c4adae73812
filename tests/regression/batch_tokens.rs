//! Regressions: batch_tokens.
#![allow(unused_imports)]
use crate::support;
