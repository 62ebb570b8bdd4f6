//! Authentication services: API keys (wire format and the engine that manages and checks them), browser
//! sessions, and the failure throttle both share. Enforcement on requests lives in `api::guard`.

pub mod api_key;
pub mod key_cache;
pub mod keys;
pub mod oidc;
pub mod sessions;
pub mod throttle;
pub mod trusted;
