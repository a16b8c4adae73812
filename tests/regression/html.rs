//! Regressions: html.
#![allow(unused_imports)]
use crate::support;
