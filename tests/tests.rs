//! faultline's integration tests: one binary, with shared fixtures in `common`.
//!
//! Nearly every test here runs real containers (`linear` only runs `faultline check` on
//! files). Docker must be running and the images built (`cargo run -- images build`); a
//! test fails loudly otherwise, it is never skipped.

mod common;
mod designs;

mod billing;
mod cluster;
mod conform;
mod container;
mod explore;
mod fleet;
mod hosts;
mod linear;
mod nemesis;
mod register;
mod replica_reads;
mod run;
mod second_design;
mod sentinel;
mod service;
mod ssh;
mod sweep;
mod truth;
