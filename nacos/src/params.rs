//! Request parameters as Nacos reads them: from the query string and from an
//! `application/x-www-form-urlencoded` body, the query winning when a name is in both; with
//! Java's parsing of booleans and numbers, and Nacos's metadata format.

use std::collections::BTreeMap;

use axum::extract::{FromRequest, Request};
use axum::http::{HeaderMap, header};

use crate::error::{NacosError, NacosResult};

/// Largest form body read (Nacos's clients send a few hundred bytes).
const MAX_FORM_BYTES: usize = 1 << 20;

/// The request's parameters: the query's pairs first, then the form body's, in order.
#[derive(Debug, Default)]
pub(crate) struct Params {
    pairs: Vec<(String, String)>,
}

impl<S: Send + Sync> FromRequest<S> for Params {
    type Rejection = NacosError;

    async fn from_request(req: Request, _state: &S) -> Result<Self, Self::Rejection> {
        let (parts, body) = req.into_parts();
        let bytes = if is_form(&parts.headers) {
            axum::body::to_bytes(body, MAX_FORM_BYTES)
                .await
                .map_err(|e| NacosError::bad_request(format!("cannot read the form body: {e}")))?
        } else {
            axum::body::Bytes::new()
        };
        Ok(Params::of_request(
            parts.uri.query(),
            &parts.headers,
            &bytes,
        ))
    }
}

/// Tomcat parses a body as parameters only when it is a form; a body without Content-Type is
/// read as one too, since no Nacos endpoint takes any other body.
pub(crate) fn is_form(headers: &HeaderMap) -> bool {
    match headers.get(header::CONTENT_TYPE) {
        None => true,
        Some(v) => v.to_str().is_ok_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        }),
    }
}

impl Params {
    /// Parameters of a query string or form body (UTF-8, `+` as a space).
    pub(crate) fn parse(text: &str) -> Self {
        Self::parse_bytes(text.as_bytes())
    }

    /// The parameters of a request with this query, headers and (already read) body.
    pub(crate) fn of_request(query: Option<&str>, headers: &HeaderMap, body: &[u8]) -> Self {
        let mut params = query.map(Params::parse).unwrap_or_default();
        if is_form(headers) {
            params.pairs.extend(Params::parse_bytes(body).pairs);
        }
        params
    }

    fn parse_bytes(bytes: &[u8]) -> Self {
        Params {
            pairs: url::form_urlencoded::parse(bytes).into_owned().collect(),
        }
    }

    /// The first value of `name` as sent (the servlet's `getParameter`).
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `WebUtils.optional`: the trimmed value, `None` when absent or blank.
    pub(crate) fn optional(&self, name: &str) -> Option<&str> {
        self.get(name).map(str::trim).filter(|v| !v.is_empty())
    }

    /// `WebUtils.required`: the trimmed value, or 400 `Param '<name>' is required.` when
    /// absent or blank.
    pub(crate) fn required(&self, name: &str) -> NacosResult<&str> {
        self.optional(name)
            .ok_or_else(|| NacosError::required(name))
    }

    /// A Spring `@RequestParam`: the trimmed value, or 400 `Parameter '<name>' is missing`.
    pub(crate) fn request_param(&self, name: &str) -> NacosResult<&str> {
        self.optional(name).ok_or_else(|| NacosError::missing(name))
    }

    /// A boolean as Nacos parses it (`Boolean.parseBoolean`): `true` in any case is true,
    /// anything else false; absent or blank takes `default`.
    pub(crate) fn boolean(&self, name: &str, default: bool) -> bool {
        self.optional(name)
            .map_or(default, |v| v.eq_ignore_ascii_case("true"))
    }
}

/// `Integer.parseInt`: a bad number is 400 with Java's message (`For input string: "x"`).
pub(crate) fn parse_int(value: &str) -> NacosResult<i64> {
    value
        .parse::<i32>()
        .map(i64::from)
        .map_err(|_| number_error(value))
}

/// `Double.parseDouble` / `Float.parseFloat`: Java accepts a trailing type suffix (`0.5F`,
/// `1d`), and a bad number is 400 with Java's message.
pub(crate) fn parse_double(value: &str) -> NacosResult<f64> {
    let digits = value.strip_suffix(['f', 'F', 'd', 'D']).unwrap_or(value);
    let number = match digits {
        "Infinity" | "+Infinity" => Ok(f64::INFINITY),
        "-Infinity" => Ok(f64::NEG_INFINITY),
        // Rust also reads `inf`/`infinity`, which Java does not.
        d if d.to_ascii_lowercase().contains("inf") => Err(()),
        d => d.parse::<f64>().map_err(|_| ()),
    };
    number.map_err(|()| number_error(value))
}

fn number_error(value: &str) -> NacosError {
    NacosError::bad_request(format!("For input string: \"{value}\""))
}

/// Nacos's metadata parameter (`UtilsAndCommons.parseMetadata`): a JSON object of string values
/// (numbers and booleans are taken as their text, as Jackson does), else `k=v,k2=v2`; anything
/// else is 400 `metadata format incorrect:<value>`. Blank is empty.
pub(crate) fn parse_metadata(value: Option<&str>) -> NacosResult<BTreeMap<String, String>> {
    let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
        return Ok(BTreeMap::new());
    };
    if let Some(map) = json_metadata(value) {
        return Ok(map);
    }
    let incorrect = || NacosError::bad_request(format!("metadata format incorrect:{value}"));
    let mut map = BTreeMap::new();
    for entry in java_split(value, ',') {
        let kv = java_split(entry, '=');
        let [k, v] = kv.as_slice() else {
            return Err(incorrect());
        };
        map.insert((*k).to_owned(), (*v).to_owned());
    }
    Ok(map)
}

/// A JSON object whose values are scalars, as strings; `None` when it is not one.
pub(crate) fn json_metadata(value: &str) -> Option<BTreeMap<String, String>> {
    let serde_json::Value::Object(object) = serde_json::from_str(value).ok()? else {
        return None;
    };
    let mut map = BTreeMap::new();
    for (k, v) in object {
        let text = match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            // Jackson keeps a null value; a keel metadata value cannot be null, so drop it.
            serde_json::Value::Null => continue,
            serde_json::Value::Array(_) | serde_json::Value::Object(_) => return None,
        };
        map.insert(k, text);
    }
    Some(map)
}

/// Java's `String.split(c)`: trailing empty pieces are dropped.
fn java_split(text: &str, separator: char) -> Vec<&str> {
    let mut pieces: Vec<&str> = text.split(separator).collect();
    while pieces.last().is_some_and(|p| p.is_empty()) {
        pieces.pop();
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_query_wins_and_values_decode_like_a_servlet() {
        let mut p = Params::parse("serviceName=a+b&x=%40%40&serviceName=second");
        p.pairs.extend(Params::parse("serviceName=body&y=1").pairs);
        assert_eq!(p.get("serviceName"), Some("a b"));
        assert_eq!(p.get("x"), Some("@@"));
        assert_eq!(p.get("y"), Some("1"));
        assert_eq!(p.optional("missing"), None);
    }

    #[test]
    fn blank_is_absent_and_required_says_so() {
        let p = Params::parse("ip=&port=%20");
        assert_eq!(p.optional("ip"), None);
        assert_eq!(
            format!("{:?}", p.required("port").unwrap_err()),
            format!("{:?}", NacosError::required("port"))
        );
    }

    #[test]
    fn booleans_parse_as_java_does() {
        let p = Params::parse("a=True&b=TRUE&c=yes&d=1&e=&f=false");
        assert!(p.boolean("a", false));
        assert!(p.boolean("b", false));
        assert!(!p.boolean("c", true));
        assert!(!p.boolean("d", true));
        assert!(p.boolean("e", true));
        assert!(!p.boolean("f", true));
        assert!(p.boolean("absent", true));
    }

    #[test]
    fn numbers_parse_as_java_does() {
        assert_eq!(parse_int("8080").unwrap(), 8080);
        assert_eq!(parse_int("+1").unwrap(), 1);
        assert!(parse_int("x").is_err());
        assert!(parse_int("99999999999").is_err());
        assert_eq!(parse_double("1.0").unwrap(), 1.0);
        assert_eq!(parse_double("0.5F").unwrap(), 0.5);
        assert_eq!(parse_double("2d").unwrap(), 2.0);
        assert!(parse_double("inf").is_err());
        assert!(parse_double("x").is_err());
    }

    #[test]
    fn metadata_is_json_or_pairs() {
        let m = parse_metadata(Some(r#"{"k": "v", "n": 1, "b": true}"#)).unwrap();
        assert_eq!(m["k"], "v");
        assert_eq!(m["n"], "1");
        assert_eq!(m["b"], "true");
        let m = parse_metadata(Some("a=1,b=2,")).unwrap();
        assert_eq!(m.len(), 2);
        assert_eq!(m["b"], "2");
        assert!(parse_metadata(Some("a=1,b")).is_err());
        assert!(parse_metadata(Some("k=")).is_err());
        assert!(parse_metadata(Some(r#"{"k":{"x":1}}"#)).is_err());
        assert!(parse_metadata(Some(" ")).unwrap().is_empty());
        assert!(parse_metadata(None).unwrap().is_empty());
    }
}
