//! The nugate crate's one integration-test binary: the real server on a random port, driven over HTTP
//! (and, in `clients`, by the real nuget.exe).

#![allow(clippy::unwrap_used, clippy::expect_used)]
mod a11y;
mod accounts;
mod api;
mod audit;
mod browser;
mod cli;
mod clients;
mod cluster;
mod faults;
mod gallery;
mod helpers;
mod hostile;
mod keys;
mod mail;
mod migrate;
mod modern;
mod ops;
mod private;
mod slow_clients;
mod symbols;
mod tls;
mod trusted;
mod upstream;
mod v2;
mod web;
