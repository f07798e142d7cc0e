//! The `beat` parameter of a heartbeat (Nacos's `RsInfo`), read as Jackson maps it: numbers may
//! arrive as strings and text fields as numbers; fields it does not know are ignored.
//!
//! It is deserialized straight into the few fields a heartbeat uses, borrowing its strings from
//! the request: a beat is the most frequent Nacos request, and building a `serde_json::Value`
//! tree of it cost about a quarter of the handler's CPU.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::error::{NacosError, NacosResult};
use crate::params::json_metadata;

/// A heartbeat's description of its instance, its text borrowed from the request where it can
/// be.
#[derive(Debug, Default)]
pub(super) struct Beat<'a> {
    pub(super) ip: Cow<'a, str>,
    pub(super) port: i64,
    pub(super) cluster: Option<Cow<'a, str>>,
    pub(super) weight: Option<f64>,
    pub(super) ephemeral: bool,
    pub(super) metadata: BTreeMap<String, String>,
}

/// The fields of the JSON a heartbeat reads, as written. (A field written twice is refused,
/// where Jackson takes the last; no client writes one twice.)
#[derive(Deserialize)]
struct Fields<'a> {
    #[serde(borrow, default)]
    ip: Scalar<'a>,
    #[serde(borrow, default)]
    port: Scalar<'a>,
    #[serde(borrow, default)]
    cluster: Scalar<'a>,
    #[serde(borrow, default)]
    weight: Scalar<'a>,
    #[serde(borrow, default)]
    ephemeral: Scalar<'a>,
    /// Kept as JSON: only a beat that registers needs it, and it is checked like the
    /// `metadata` parameter of a registration.
    #[serde(default)]
    metadata: Option<serde_json::Value>,
}

/// A JSON value where Jackson expects a scalar.
#[derive(Debug, Default, PartialEq)]
enum Scalar<'a> {
    /// Absent, `null`, an array or an object (Jackson would not map those to text).
    #[default]
    Absent,
    Text(Cow<'a, str>),
    Number(serde_json::Number),
    Bool(bool),
}

impl<'a> Scalar<'a> {
    /// The value as text (a number as its JSON text).
    fn into_text(self) -> Option<Cow<'a, str>> {
        match self {
            Scalar::Text(s) => Some(s),
            Scalar::Number(n) => Some(Cow::Owned(n.to_string())),
            Scalar::Absent | Scalar::Bool(_) => None,
        }
    }

    /// The value as a number (a string holding one, too).
    fn number(&self) -> Option<f64> {
        match self {
            Scalar::Number(n) => n.as_f64(),
            Scalar::Text(s) => s.trim().parse().ok(),
            Scalar::Absent | Scalar::Bool(_) => None,
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Scalar<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor(std::marker::PhantomData))
    }
}

/// Reads a [`Scalar`] borrowing from input that lives for `'a`.
struct ScalarVisitor<'a>(std::marker::PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for ScalarVisitor<'a> {
    type Value = Scalar<'a>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Borrowed(v)))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(v.to_owned())))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Scalar::Text(Cow::Owned(v)))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(v.into()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Scalar::Number(v.into()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Scalar::Absent, Scalar::Number))
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Scalar::Bool(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(Scalar::Absent)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(Scalar::Absent)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(Scalar::Absent)
    }
}

impl<'a> Beat<'a> {
    /// Parses the JSON leniently, as Jackson maps it.
    pub(super) fn parse(text: &'a str) -> NacosResult<Self> {
        let bad = |why: &str| NacosError::bad_request(format!("beat is not valid: {why}"));
        if !text.trim_start().starts_with('{') {
            return Err(bad("it must be a JSON object"));
        }
        let fields: Fields<'a> = serde_json::from_str(text).map_err(|e| bad(&e.to_string()))?;
        let metadata = match fields.metadata {
            None | Some(serde_json::Value::Null) => BTreeMap::new(),
            Some(m) => json_metadata(&m.to_string())
                .ok_or_else(|| bad("metadata must be an object of strings"))?,
        };
        Ok(Beat {
            ip: fields.ip.into_text().unwrap_or_default(),
            port: fields.port.number().map_or(0, |p| p as i64),
            cluster: fields.cluster.into_text().filter(|c| !c.trim().is_empty()),
            weight: fields.weight.number(),
            ephemeral: match &fields.ephemeral {
                Scalar::Bool(b) => *b,
                Scalar::Text(s) => !s.eq_ignore_ascii_case("false"),
                _ => true,
            },
            metadata,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beats_parse_like_jackson() {
        let b = Beat::parse(
            r#"{"serviceName": "DEFAULT_GROUP@@svc", "ip": "10.0.0.1", "port": 8080, "weight": 1.0, "ephemeral": true, "metadata": {"k": "v", "n": 1}, "scheduled": false, "extra": [1, {"a": null}]}"#,
        )
        .unwrap();
        assert_eq!(b.ip, "10.0.0.1");
        assert_eq!(b.port, 8080);
        assert_eq!(b.weight, Some(1.0));
        assert!(b.ephemeral);
        assert_eq!(b.cluster, None);
        assert_eq!(b.metadata["k"], "v");
        assert_eq!(b.metadata["n"], "1");
        let b = Beat::parse(r#"{"ip":"h","port":"81","cluster":"c1","ephemeral":false}"#).unwrap();
        assert_eq!(b.port, 81);
        assert_eq!(b.cluster.as_deref(), Some("c1"));
        assert!(!b.ephemeral);
        // Strings with escapes are decoded; numbers stand for text; odd types are absent.
        let b = Beat::parse(
            r#"{"ip":"h\u0031","port":80.0,"cluster":12,"weight":"0.5","ephemeral":"FALSE"}"#,
        )
        .unwrap();
        assert_eq!(b.ip, "h1");
        assert_eq!(b.port, 80);
        assert_eq!(b.cluster.as_deref(), Some("12"));
        assert_eq!(b.weight, Some(0.5));
        assert!(!b.ephemeral);
        let b = Beat::parse(r#"{"ip":["x"],"port":null,"cluster":" ","ephemeral":1}"#).unwrap();
        assert_eq!((&*b.ip, b.port, b.cluster), ("", 0, None));
        assert!(b.ephemeral);
        assert!(Beat::parse(r#"{"ip":"h","metadata":{"k":[1]}}"#).is_err());
        assert!(Beat::parse("not json").is_err());
        assert!(Beat::parse("[1]").is_err());
        assert!(Beat::parse(r#"{"ip":"h""#).is_err());
    }
}
