//! API keys: their wire format, their scopes, the engine that manages them and the guard that enforces them.

pub mod api_key;
pub mod guard;
pub mod keys;
pub mod scope;
pub mod sessions;
