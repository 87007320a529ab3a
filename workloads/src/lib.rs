//! The billing systems under test, the clients that drive them, and faultline's
//! scenario files.
//!
//! - [`endpoints`]: where the system under test finds Redis and Postgres, kept current.
//! - [`recorder`]: the history, recorded as it happens.
#![deny(missing_docs)]

pub mod endpoints;
pub mod recorder;
