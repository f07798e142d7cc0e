//! keel's JSON envelope (`{"code":0,"message":"success","data":...}`) and what an HTTP answer
//! means for failover: data, "not modified", a node failure (try another) or a refusal
//! (every node would say the same).

use hyper::StatusCode;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::error::{Error, Result};

/// A successful exchange with one node.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// 2xx with code 0: the envelope's `data`.
    Data(serde_json::Value),
    /// 304: what the client has is current.
    NotModified,
}

/// Why one node gave no answer.
#[derive(Debug)]
pub(crate) enum Failure {
    /// Down, overloaded, too slow or not the service: try another.
    Unavailable(String),
    /// It refused the request: another node would too.
    Rejected {
        status: u16,
        code: i64,
        message: String,
    },
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    code: i64,
    #[serde(default)]
    message: String,
    #[serde(default)]
    data: serde_json::Value,
}

/// What `status` and `bytes` from a node of `service` mean.
pub(crate) fn classify(
    service: &str,
    status: StatusCode,
    bytes: &[u8],
) -> std::result::Result<Answer, Failure> {
    if status == StatusCode::NOT_MODIFIED {
        return Ok(Answer::NotModified);
    }
    let envelope = serde_json::from_slice::<Envelope>(bytes);
    if status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS {
        let message = envelope.map(|e| e.message).unwrap_or_default();
        return Err(Failure::Unavailable(
            format!("{status} {message}").trim_end().to_owned(),
        ));
    }
    if status.is_success() {
        return match envelope {
            Ok(envelope) if envelope.code == 0 => Ok(Answer::Data(envelope.data)),
            Ok(envelope) => Err(Failure::Rejected {
                status: status.as_u16(),
                code: envelope.code,
                message: envelope.message,
            }),
            Err(e) => Err(Failure::Unavailable(format!(
                "{status} with an answer that is not the {service}'s JSON envelope: {e}"
            ))),
        };
    }
    let (code, message) = match envelope {
        Ok(envelope) if !envelope.message.is_empty() => (envelope.code, envelope.message),
        _ => (
            i64::from(status.as_u16()),
            String::from_utf8_lossy(bytes).chars().take(200).collect(),
        ),
    };
    Err(Failure::Rejected {
        status: status.as_u16(),
        code,
        message,
    })
}

/// hyper's errors say "client error (Connect)"; the cause says what actually happened.
pub(crate) fn describe(error: &hyper_util::client::legacy::Error) -> String {
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// Turns an envelope's `data` from `path` into `T`; a mismatch is [`Error::Unavailable`]
/// (the node answered, but not as this client expects).
pub fn decode<T: DeserializeOwned>(path: &str, data: serde_json::Value) -> Result<T> {
    serde_json::from_value(data)
        .map_err(|e| Error::Unavailable(format!("{path}: unexpected answer: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn classify(status: StatusCode, bytes: &[u8]) -> std::result::Result<Answer, Failure> {
        super::classify("registry", status, bytes)
    }

    #[test]
    fn statuses_map_to_answers_and_failures() {
        let ok = br#"{"code":0,"message":"success","data":{"x":1}}"#;
        assert!(matches!(classify(StatusCode::OK, ok), Ok(Answer::Data(d)) if d["x"] == 1));
        assert!(matches!(
            classify(StatusCode::NOT_MODIFIED, b""),
            Ok(Answer::NotModified)
        ));
        let missing = br#"{"code":404,"message":"namespace dev/shop/default/x not found"}"#;
        assert!(matches!(
            classify(StatusCode::NOT_FOUND, missing),
            Err(Failure::Rejected { status: 404, code: 404, message }) if message.contains("not found")
        ));
        let again = br#"{"code":20404,"message":"instance x is not registered","data":null}"#;
        assert!(matches!(
            classify(StatusCode::NOT_FOUND, again),
            Err(Failure::Rejected { status: 404, code: 20404, message })
                if message == "instance x is not registered"
        ));
        let refused_in_ok = br#"{"code":40001,"message":"bad field"}"#;
        assert!(matches!(
            classify(StatusCode::OK, refused_in_ok),
            Err(Failure::Rejected {
                status: 200,
                code: 40001,
                ..
            })
        ));
        assert!(matches!(
            classify(StatusCode::BAD_GATEWAY, b"oops"),
            Err(Failure::Unavailable(why)) if why == "502 Bad Gateway"
        ));
        assert!(matches!(
            classify(StatusCode::TOO_MANY_REQUESTS, br#"{"code":429,"message":"slow down"}"#),
            Err(Failure::Unavailable(why)) if why == "429 Too Many Requests slow down"
        ));
        assert!(matches!(
            classify(StatusCode::OK, b"<html>"),
            Err(Failure::Unavailable(why)) if why.contains("not the registry's JSON envelope")
        ));
        assert!(matches!(
            classify(StatusCode::FORBIDDEN, b"no"),
            Err(Failure::Rejected { status: 403, code: 403, message }) if message == "no"
        ));
    }

    #[test]
    fn data_of_the_wrong_shape_names_the_path() {
        let err = decode::<Vec<String>>("/api/v1/x", serde_json::json!({"a": 1})).unwrap_err();
        assert!(
            matches!(&err, Error::Unavailable(why) if why.starts_with("/api/v1/x: unexpected answer")),
            "{err:?}"
        );
        let ok: Vec<String> = decode("/api/v1/x", serde_json::json!(["a"])).unwrap();
        assert_eq!(ok, vec!["a".to_owned()]);
    }
}
