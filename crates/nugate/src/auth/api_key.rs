//! The API key wire format, re-exported from `nugate-apikey`: it lives in its own pure crate so the fuzz
//! targets can exercise it without building the whole server.

pub use nugate_apikey::*;
