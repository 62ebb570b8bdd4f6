//! nugate: a NuGet feed server whose every write is guarded by named, scoped, hashed, expiring API keys.
//!
//! The folders are the layers, lowest first; a module uses only modules below it (`tests/layers.rs`
//! fails the build otherwise, and README's "How the code is laid out" explains each):
//!
//! - `config`, `error`, `model` (the pure key and scope rules), `tokens`;
//! - `db/` (all SQL) and `storage/` (package files);
//! - `mail/`, then the services: `feed/` (the in-memory index readers are served from), `auth/` (keys,
//!   sessions, throttling), `users`, `orgs` (organisations and their members), `packages/` (push,
//!   listing, ownership, reserved prefixes);
//! - `state` (what handlers share), then the HTTP layers `api/` (the NuGet protocol and its key guard)
//!   and `web/` (pages), assembled by `app`; and `cli`.

pub mod api;
pub mod app;
pub mod audit;
pub mod auth;
pub mod backup;
pub mod cli;
pub mod clock;
pub mod config;
pub mod db;
pub mod error;
pub mod feed;
pub mod logging;
pub mod mail;
pub mod metrics;
pub mod model;
pub mod orgs;
pub mod packages;
pub mod remembered;
pub mod state;
pub mod storage;
pub mod tokens;
pub mod users;
pub mod web;
