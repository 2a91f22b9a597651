//! Filters for `find_user_by`: a typed enum, and a parser for filters given by column name.

use crate::error::DbError;
use user_model::UserId;

/// One condition on a user row. All filters given to a query must hold.
///
/// Token filters take the digest as stored, never the plain token. There is deliberately no
/// filter for "column IS NULL": a request without a token must never match a user without one.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum UserFilter {
    /// `id = …`
    Id(UserId),
    /// `email = …` (give the normalised address).
    Email(String),
    /// `hashed_password = …`
    HashedPassword(String),
    /// `session_id = …` (a digest).
    SessionId(String),
    /// `reset_token = …` (a digest).
    ResetToken(String),
    /// `session_expires_at > …`: the session is still alive at that time.
    SessionExpiresAfter(i64),
    /// `reset_expires_at > …`: the reset token is still alive at that time.
    ResetExpiresAfter(i64),
    /// `verify_token = …` (a digest).
    VerifyToken(String),
    /// `verify_expires_at > …`: the verification token is still alive at that time.
    VerifyExpiresAfter(i64),
}

impl UserFilter {
    /// Parses a `(column, value)` pair as dynamic callers give it.
    ///
    /// Errors: `InvalidRequest` for a name that is not a column of `users`, or a value that
    /// does not fit the column.
    pub fn by_name(column: &str, value: &str) -> Result<Self, DbError> {
        Ok(match column {
            "id" => UserFilter::Id(parse_number(column, value)?),
            "email" => UserFilter::Email(value.to_owned()),
            "hashed_password" => UserFilter::HashedPassword(value.to_owned()),
            "session_id" => UserFilter::SessionId(value.to_owned()),
            "reset_token" => UserFilter::ResetToken(value.to_owned()),
            _ => {
                return Err(DbError::InvalidRequest(format!(
                    "{column:?} is not a user column"
                )))
            }
        })
    }
}

pub(crate) fn parse_number<T: std::str::FromStr>(column: &str, value: &str) -> Result<T, DbError> {
    value
        .parse()
        .map_err(|_| DbError::InvalidRequest(format!("{column} needs a whole number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_by_known_column_name_is_parsed() {
        assert_eq!(
            UserFilter::by_name("email", "a@x.io").unwrap(),
            UserFilter::Email("a@x.io".into())
        );
        assert_eq!(UserFilter::by_name("id", "7").unwrap(), UserFilter::Id(7));
    }

    #[test]
    fn filter_by_unknown_column_name_is_an_invalid_request() {
        assert!(matches!(
            UserFilter::by_name("colour", "red"),
            Err(DbError::InvalidRequest(_))
        ));
    }

    #[test]
    fn filter_on_id_with_a_non_number_is_an_invalid_request() {
        assert!(matches!(
            UserFilter::by_name("id", "seven"),
            Err(DbError::InvalidRequest(_))
        ));
    }
}
