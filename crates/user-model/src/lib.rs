#![doc = include_str!("../README.md")]

mod email;
/// The diesel schema of `users`, generated from the migrations.
pub mod schema;
mod user;

pub use email::{Email, InvalidEmail, MAX_EMAIL_LEN};
pub use user::{NewUser, User, UserChanges, UserId};
