//! invitoken resolves the link tokens in interview calendar invites.
#![deny(missing_docs)]

mod parse;

pub use parse::{
    Finding, FindingKind, Piece, Product, Scope, Template, Token, Unknown, line_col,
    render_findings,
};
