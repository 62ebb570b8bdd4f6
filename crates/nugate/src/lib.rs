//! nugate: a NuGet feed server whose every write is guarded by named, scoped, hashed, expiring API keys.
//!
//! The folders show the architecture: `api/` speaks the NuGet protocol, `auth/` owns keys and their
//! enforcement, `packages/` the push/unlist rules, `feed/` the in-memory index readers are served from, `db/` and `storage/` the persistence, `cli` the command
//! line. Each rule exists once and every caller (HTTP or CLI) goes through it.

pub mod api;
pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod error;
pub mod feed;
pub mod mail;
pub mod packages;
pub mod storage;
pub mod users;
pub mod web;
