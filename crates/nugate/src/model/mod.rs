//! The feed's vocabulary: pure types and rules with no I/O (no database, no HTTP), so every layer above
//! can share them and they can be tested on their own.

pub mod account;
pub mod advisory;
pub mod audit;
pub mod key;
pub mod policy;
pub mod scope;
pub mod upstream;
