#![doc = include_str!("../README.md")]

mod attempts;
mod email;
mod session;
/// The diesel schema of `users`, `sessions` and `login_attempts`, generated from the migrations.
pub mod schema;
mod user;

pub use attempts::LoginAttempts;
pub use session::{NewSession, Session, MAX_USER_AGENT_CHARS};
pub use email::{Email, InvalidEmail, MAX_EMAIL_LEN};
pub use user::{NewUser, User, UserChanges, UserId};
