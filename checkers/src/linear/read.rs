//! What the history readers share: a register operation and a reading error.

use super::{LinOp, RegInput, RegOutput};
use std::fmt;

/// One operation on one register, as the readers produce it.
pub type RegOp = LinOp<RegInput, RegOutput>;

/// A line a reader could not take, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadError {
    /// The line, counting from 1.
    pub line: usize,
    /// What is wrong with it, and what was expected.
    pub message: String,
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for ReadError {}
