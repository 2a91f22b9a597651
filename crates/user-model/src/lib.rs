#![doc = include_str!("../README.md")]

mod attempts;
mod email;
/// The diesel schema of `users`, `sessions` and `login_attempts`, generated from the migrations.
pub mod schema;
mod session;
mod user;

pub use attempts::LoginAttempts;
pub use email::{Email, InvalidEmail, MAX_EMAIL_LEN};
pub use session::{NewSession, Session, MAX_USER_AGENT_CHARS};
pub use user::{NewUser, User, UserChanges, UserId};
