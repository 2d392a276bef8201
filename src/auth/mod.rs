//! Accounts and sessions: parsed credentials, password hashing, the typed
//! session facade, signed form tokens, login throttling and the session
//! store.

pub mod credentials;
pub mod forms;
mod hashing;
mod lifetime;
pub mod session;
pub mod store;
pub mod throttle;
pub mod tokens;
pub mod users;

pub use credentials::{Email, Password};
pub use hashing::Hasher;
pub use session::{AuthSession, SessionUser};
