//! faultline's judgement: the history model and every checker.
//!
//! - [`history`]: operations, processes, values: the model every part of faultline shares.
//! - [`format`]: the JSON-lines file format, streamed.
#![deny(missing_docs)]

pub mod format;
pub mod history;
