#![doc = include_str!("../README.md")]

mod attempts;
mod email;
/// The diesel schema of `users` and `login_attempts`, generated from the migrations.
pub mod schema;
mod user;

pub use attempts::LoginAttempts;
pub use email::{Email, InvalidEmail, MAX_EMAIL_LEN};
pub use user::{NewUser, User, UserChanges, UserId};
