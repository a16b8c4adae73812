//! Regression tests, each named after what broke (in the style of ripgrep's
//! `tests/regression.rs`). One module per class of defect; a test's name says the defect, its
//! body reproduces it and asserts what must hold instead.

mod support;

mod regression {
    mod batch_tokens;
    mod check_stream;
    mod files;
    mod html;
    mod request;
    mod secrets;
    mod subjects;
}
