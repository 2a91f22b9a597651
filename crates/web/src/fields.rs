//! `Fields`: the request body as named text fields, from a form or from JSON.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::web::Data;
use actix_web::{FromRequest, HttpRequest};
use futures_util::StreamExt;
use percent_encoding::percent_decode;

use crate::error::{ApiError, MAX_BODY_BYTES};
use crate::options::DEFAULT_REQUEST_TIMEOUT;
use crate::state::Authd;

/// The fields of an `application/x-www-form-urlencoded` or `application/json` body.
///
/// A request without a `Content-Type` is read as a form (so an empty body is simply missing
/// fields). Other types → 415, over 16 KiB → 413, broken encoding or JSON → 400, a body that
/// takes longer than [`crate::WebOptions::request_timeout`] to arrive (10 s without
/// `Data<Authd>`) → 408. In a form, a repeated field keeps its first value, as Flask does; a
/// JSON object that repeats a key → 400 (see [`Fields::from_json`]).
#[derive(Debug, Default)]
pub struct Fields(HashMap<String, Option<String>>, HashMap<String, String>);

impl Fields {
    /// The non-empty text of field `name`. Errors: `MissingField` when absent or empty,
    /// `NotAString` for a JSON value that is not a string.
    pub fn required(&self, name: &'static str) -> Result<String, ApiError> {
        match self.0.get(name) {
            None => Err(ApiError::MissingField(name)),
            Some(None) => Err(ApiError::NotAString(name)),
            Some(Some(value)) if value.is_empty() => Err(ApiError::MissingField(name)),
            Some(Some(value)) => Ok(value.clone()),
        }
    }

    /// The text of field `name` when present and not empty; `None` when absent or empty.
    /// Errors: `NotAString` for a JSON value that is not a string.
    pub fn optional(&self, name: &'static str) -> Result<Option<String>, ApiError> {
        match self.0.get(name) {
            None => Ok(None),
            Some(None) => Err(ApiError::NotAString(name)),
            Some(Some(value)) if value.is_empty() => Ok(None),
            Some(Some(value)) => Ok(Some(value.clone())),
        }
    }

    /// Field `name` as JSON text: a JSON object value as written, or a string (a form's
    /// field, or a JSON string) taken to hold JSON, checked by whoever parses it. Errors:
    /// `MissingField` when absent or empty; `NotAString` for a JSON value that is neither an
    /// object nor a string.
    pub fn json_text(&self, name: &'static str) -> Result<String, ApiError> {
        if let Some(object) = self.1.get(name) {
            return Ok(object.clone());
        }
        self.required(name)
    }

    /// Every field as parsed; `None` for a JSON value that is not a string.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn entries(&self) -> &HashMap<String, Option<String>> {
        &self.0
    }

    /// Parses a form body. Errors: `BadBody` when it is not UTF-8, raw or percent-decoded.
    pub fn from_form(body: &[u8]) -> Result<Self, ApiError> {
        let not_utf8 = || ApiError::BadBody("request body is not valid UTF-8");
        let text = std::str::from_utf8(body).map_err(|_| not_utf8())?;
        let mut fields = HashMap::new();
        for pair in text.split('&').filter(|pair| !pair.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let decode = |part: &str| {
                let spaced = part.replace('+', " ");
                percent_decode(spaced.as_bytes())
                    .decode_utf8()
                    .map(|text| text.into_owned())
                    .map_err(|_| not_utf8())
            };
            fields.entry(decode(name)?).or_insert(Some(decode(value)?));
        }
        Ok(Fields(fields, HashMap::new()))
    }

    /// Parses a JSON object body; non-string values are kept as "not a string". Errors:
    /// `BadBody` when it is not JSON, not an object, or names a field twice.
    ///
    /// A repeated key is refused rather than resolved: a form keeps a field's first value and
    /// `serde_json`'s map would keep the last, so whichever rule JSON followed, one of the two
    /// encodings would disagree with the other about what the client sent.
    pub fn from_json(body: &[u8]) -> Result<Self, ApiError> {
        match serde_json::from_slice::<JsonBody>(body) {
            Ok(JsonBody::Object(fields, objects)) => Ok(Fields(fields, objects)),
            Ok(JsonBody::RepeatedKey) => Err(ApiError::BadBody("JSON body repeats a field")),
            Ok(JsonBody::NotAnObject) => Err(ApiError::BadBody("JSON body must be an object")),
            Err(_) => Err(ApiError::BadBody("request body is not valid JSON")),
        }
    }
}

/// A JSON body as [`Fields::from_json`] sees it, read in one pass so that a repeated key is
/// still visible (`serde_json::Value` keeps only the last).
enum JsonBody {
    /// The string fields (`None`: not a string), and the object fields as JSON text.
    Object(HashMap<String, Option<String>>, HashMap<String, String>),
    RepeatedKey,
    NotAnObject,
}

impl<'de> serde::Deserialize<'de> for JsonBody {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(JsonBodyVisitor)
    }
}

struct JsonBodyVisitor;

impl<'de> serde::de::Visitor<'de> for JsonBodyVisitor {
    type Value = JsonBody;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<JsonBody, A::Error> {
        let mut fields = HashMap::new();
        let mut objects = HashMap::new();
        let mut repeated = false;
        // Reads to the end even after a repeat, so broken JSON is still reported as such.
        while let Some(name) = map.next_key::<String>()? {
            let value = match map.next_value::<serde_json::Value>()? {
                serde_json::Value::String(text) => Some(text),
                object @ serde_json::Value::Object(_) => {
                    objects.insert(name.clone(), object.to_string());
                    None
                }
                _ => None,
            };
            if fields.insert(name, value).is_some() {
                repeated = true;
            }
        }
        Ok(if repeated {
            JsonBody::RepeatedKey
        } else {
            JsonBody::Object(fields, objects)
        })
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<JsonBody, A::Error> {
        // Read as values, not `IgnoredAny`: serde_json skips ignored strings without checking
        // their UTF-8, and a broken array must still be "not valid JSON" (found by fuzzing).
        while seq.next_element::<serde_json::Value>()?.is_some() {}
        Ok(JsonBody::NotAnObject)
    }

    fn visit_bool<E>(self, _: bool) -> Result<JsonBody, E> {
        Ok(JsonBody::NotAnObject)
    }

    fn visit_i64<E>(self, _: i64) -> Result<JsonBody, E> {
        Ok(JsonBody::NotAnObject)
    }

    fn visit_u64<E>(self, _: u64) -> Result<JsonBody, E> {
        Ok(JsonBody::NotAnObject)
    }

    fn visit_f64<E>(self, _: f64) -> Result<JsonBody, E> {
        Ok(JsonBody::NotAnObject)
    }

    fn visit_str<E>(self, _: &str) -> Result<JsonBody, E> {
        Ok(JsonBody::NotAnObject)
    }

    fn visit_unit<E>(self) -> Result<JsonBody, E> {
        Ok(JsonBody::NotAnObject)
    }
}

enum Kind {
    Form,
    Json,
}

fn kind_of(req: &HttpRequest) -> Result<Kind, ApiError> {
    let Some(value) = req.headers().get(header::CONTENT_TYPE) else {
        return Ok(Kind::Form);
    };
    let value = value.to_str().map_err(|_| ApiError::UnsupportedMediaType)?;
    let essence = value.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
        Ok(Kind::Form)
    } else if essence.eq_ignore_ascii_case("application/json") {
        Ok(Kind::Json)
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

fn declared_length(req: &HttpRequest) -> Option<usize> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// Reads the request's body: at most 16 KiB (more → `PayloadTooLarge`), within the request
/// timeout (else `BodyTimeout`).
pub(crate) fn read_body(
    req: &HttpRequest,
    payload: &mut Payload,
) -> impl Future<Output = Result<Vec<u8>, ApiError>> {
    // actix's `client_request_timeout` bounds only the head; a body that never comes would
    // hold the connection (and a file descriptor) forever without this deadline.
    let deadline = req
        .app_data::<Data<Authd>>()
        .map_or(DEFAULT_REQUEST_TIMEOUT, |authd| {
            authd.options().bounded_request_timeout()
        });
    let mut payload = payload.take();
    async move {
        let read = async {
            let mut body = Vec::new();
            while let Some(chunk) = payload.next().await {
                let chunk =
                    chunk.map_err(|_| ApiError::BadBody("could not read the request body"))?;
                if body.len() + chunk.len() > MAX_BODY_BYTES {
                    return Err(ApiError::PayloadTooLarge);
                }
                body.extend_from_slice(&chunk);
            }
            Ok(body)
        };
        tokio::time::timeout(deadline, read)
            .await
            .map_err(|_| ApiError::BodyTimeout)?
    }
}

impl FromRequest for Fields {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let kind = kind_of(req);
        let too_large = declared_length(req).is_some_and(|n| n > MAX_BODY_BYTES);
        let body = read_body(req, payload);
        Box::pin(async move {
            let kind = kind?;
            if too_large {
                return Err(ApiError::PayloadTooLarge);
            }
            let body = body.await?;
            match kind {
                Kind::Form => Fields::from_form(&body),
                Kind::Json => Fields::from_json(&body),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(body: &str) -> Fields {
        Fields::from_form(body.as_bytes()).unwrap()
    }

    #[test]
    fn form_fields_are_percent_and_plus_decoded() {
        let fields = form("email=bob%40x.io&password=a+b%2Bc");
        assert_eq!(fields.required("email").unwrap(), "bob@x.io");
        assert_eq!(fields.required("password").unwrap(), "a b+c");
    }

    #[test]
    fn a_repeated_form_field_keeps_its_first_value() {
        assert_eq!(form("email=a&email=b").required("email").unwrap(), "a");
    }

    #[test]
    fn missing_or_empty_fields_are_missing() {
        let fields = form("email=&other=1&flag");
        assert!(matches!(
            fields.required("email"),
            Err(ApiError::MissingField("email"))
        ));
        assert!(matches!(
            fields.required("password"),
            Err(ApiError::MissingField(_))
        ));
        assert!(matches!(
            fields.required("flag"),
            Err(ApiError::MissingField(_))
        ));
    }

    #[test]
    fn non_utf8_form_bodies_are_refused_raw_or_percent_encoded() {
        assert!(matches!(
            Fields::from_form(b"email=\xff"),
            Err(ApiError::BadBody(_))
        ));
        assert!(matches!(
            Fields::from_form(b"email=%ff"),
            Err(ApiError::BadBody(_))
        ));
    }

    #[test]
    fn json_fields_must_be_strings() {
        let fields = Fields::from_json(br#"{"email": "bob@x.io", "password": 5}"#).unwrap();
        assert_eq!(fields.required("email").unwrap(), "bob@x.io");
        assert!(matches!(
            fields.required("password"),
            Err(ApiError::NotAString(_))
        ));
    }

    #[test]
    fn an_object_field_is_kept_as_json_text_and_a_string_one_as_is() {
        let fields =
            Fields::from_json(br#"{"credential": {"id": "a", "n": [1]}, "other": "{}", "x": 1}"#)
                .unwrap();
        let object: serde_json::Value =
            serde_json::from_str(&fields.json_text("credential").unwrap()).unwrap();
        assert_eq!(object, serde_json::json!({"id": "a", "n": [1]}));
        assert!(matches!(
            fields.required("credential"),
            Err(ApiError::NotAString(_))
        ));
        assert_eq!(fields.json_text("other").unwrap(), "{}");
        assert!(matches!(
            fields.json_text("x"),
            Err(ApiError::NotAString(_))
        ));
        assert!(matches!(
            fields.json_text("missing"),
            Err(ApiError::MissingField(_))
        ));
        assert_eq!(fields.optional("missing").unwrap(), None);
    }

    #[test]
    fn json_that_is_broken_or_not_an_object_is_refused() {
        assert!(matches!(
            Fields::from_json(b"{\"email\""),
            Err(ApiError::BadBody(_))
        ));
        assert!(matches!(
            Fields::from_json(b"[1]"),
            Err(ApiError::BadBody(_))
        ));
    }

    #[test]
    fn json_that_repeats_a_key_is_refused() {
        for body in [
            r#"{"email": "first@x.io", "email": "second@x.io"}"#,
            r#"{"email": "a@x.io", "password": "pw", "email": 5}"#,
            r#"{"email": "a@x.io", "\u0065mail": "b@x.io"}"#,
        ] {
            assert!(
                matches!(
                    Fields::from_json(body.as_bytes()),
                    Err(ApiError::BadBody("JSON body repeats a field"))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn json_that_repeats_a_key_and_then_breaks_is_not_json() {
        assert!(matches!(
            Fields::from_json(br#"{"a": "1", "a": "2", "#),
            Err(ApiError::BadBody("request body is not valid JSON"))
        ));
    }

    #[test]
    fn repeated_keys_inside_a_nested_value_do_not_matter() {
        let fields = Fields::from_json(br#"{"email": "a@x.io", "x": {"k": 1, "k": 2}}"#).unwrap();
        assert_eq!(fields.required("email").unwrap(), "a@x.io");
    }

    #[test]
    fn json_scalars_and_arrays_are_not_objects_and_broken_ones_not_json() {
        for body in ["1", "\"s\"", "null", "true", "[1, {\"a\": 2}]", "-1.5"] {
            assert!(
                matches!(
                    Fields::from_json(body.as_bytes()),
                    Err(ApiError::BadBody("JSON body must be an object"))
                ),
                "{body}"
            );
        }
        for body in ["[1", "{} x", "", "{\"a\": }", "nul"] {
            assert!(
                matches!(
                    Fields::from_json(body.as_bytes()),
                    Err(ApiError::BadBody("request body is not valid JSON"))
                ),
                "{body}"
            );
        }
    }

    #[test]
    fn an_array_holding_a_string_that_is_not_utf8_is_not_json() {
        // Found by the json_body fuzz target: it read as "not an object".
        assert!(matches!(
            Fields::from_json(b"[\"ai\x94il\"]"),
            Err(ApiError::BadBody("request body is not valid JSON"))
        ));
    }
}
