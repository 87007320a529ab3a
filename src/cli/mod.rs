//! The command line's subcommands that are more than a few lines.

pub mod check;
pub mod explore;
pub mod run;
