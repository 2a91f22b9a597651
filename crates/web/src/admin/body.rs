//! What the admin API reads from a request: a JSON body of a fixed shape (unknown fields and
//! values of the wrong type are 400), the query strings of its lists, the ids of its paths.
//! Every message is fixed text: nothing a client sent is echoed back.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::Query;
use actix_web::{FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::fields::read_body;

/// A JSON body read as `T` (a struct with `#[serde(deny_unknown_fields)]`); `None` when the
/// body is empty. Over 16 KiB → 413, another type than `application/json` → 415, not in time →
/// 408, not JSON or not of `T`'s shape → 400.
pub(crate) struct JsonBody<T>(pub(crate) Option<T>);

impl<T: DeserializeOwned + 'static> FromRequest for JsonBody<T> {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|value| value.to_str().ok())
            .map(|value| value.split(';').next().unwrap_or("").trim().to_owned());
        let body = read_body(req, payload);
        Box::pin(async move {
            let body = body.await?;
            if body.iter().all(u8::is_ascii_whitespace) {
                return Ok(JsonBody(None));
            }
            if !json.is_some_and(|essence| essence.eq_ignore_ascii_case("application/json")) {
                return Err(ApiError::UnsupportedMediaType);
            }
            parse(&body).map(|value| JsonBody(Some(value)))
        })
    }
}

/// `body` as `T`, with a fixed message for each way it is not.
pub(crate) fn parse<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if !matches!(
        serde_json::from_slice::<serde_json::Value>(body),
        Ok(serde_json::Value::Object(_))
    ) {
        return Err(ApiError::BadBody(
            "request body is not valid JSON, or not an object",
        ));
    }
    serde_json::from_slice(body).map_err(|error| {
        let text = error.to_string();
        ApiError::BadBody(if text.starts_with("unknown field") {
            "request body has a field this endpoint does not take"
        } else if text.starts_with("duplicate field") {
            "JSON body repeats a field"
        } else if text.starts_with("missing field") {
            "request body lacks a required field"
        } else {
            "a field of the request body has the wrong type"
        })
    })
}

/// The query string as `T` (a struct with `#[serde(deny_unknown_fields)]`). Errors: 400 for an
/// unknown parameter or a value that does not parse.
pub(crate) fn query<T: DeserializeOwned>(request: &HttpRequest) -> Result<T, ApiError> {
    Query::<T>::from_query(request.query_string())
        .map(Query::into_inner)
        .map_err(|_| {
            ApiError::BadBody(
                "the query has a parameter this endpoint does not take, or a bad value",
            )
        })
}

/// The account id of a path (`{id}`): a positive integer. Errors: 400.
pub(crate) fn user_id(text: &str) -> Result<auth::UserId, ApiError> {
    text.parse::<auth::UserId>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or(ApiError::BadBody("a user id is a positive integer"))
}

/// A page size: 1 to [`auth::MAX_ADMIN_PAGE`], [`auth::DEFAULT_ADMIN_PAGE`] when absent.
/// Errors: 400 outside.
pub(crate) fn page_size(limit: Option<u32>) -> Result<u32, ApiError> {
    match limit {
        None => Ok(auth::DEFAULT_ADMIN_PAGE),
        Some(n) if (1..=auth::MAX_ADMIN_PAGE).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::BadBody("limit must be between 1 and 500")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Change {
        disabled: Option<bool>,
    }

    fn message(body: &str) -> String {
        match parse::<Change>(body.as_bytes()) {
            Err(ApiError::BadBody(why)) => why.to_owned(),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bodies_of_another_shape_are_refused_without_echoing_them() {
        assert!(parse::<Change>(br#"{"disabled": true}"#).is_ok());
        assert!(message(r#"{"disabled": "hunter2"}"#).contains("wrong type"));
        assert!(message(r#"{"hunter2": true}"#).contains("does not take"));
        assert!(message(r#"{"disabled": true, "disabled": false}"#).contains("repeats"));
        assert!(message("[1]").contains("not an object"));
        assert!(message("{").contains("not valid JSON"));
    }

    #[test]
    fn ids_and_page_sizes_are_bounded() {
        assert_eq!(user_id("42").unwrap(), 42);
        for bad in ["0", "-1", "x", "99999999999", ""] {
            assert!(user_id(bad).is_err(), "{bad}");
        }
        assert_eq!(page_size(None).unwrap(), 50);
        assert_eq!(page_size(Some(500)).unwrap(), 500);
        assert!(page_size(Some(0)).is_err());
        assert!(page_size(Some(501)).is_err());
    }
}
