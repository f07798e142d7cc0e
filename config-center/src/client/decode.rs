//! Typed reads: a namespace's configuration as the application's own type.
//!
//! - `json` and `yaml` namespaces: the document in item `content` (YAML is read with
//!   yaml-rust2, the parser the server validates with, and handed to serde as JSON values).
//! - `properties` namespaces: the key/value map, each value parsed as the field's type asks
//!   (`"10"` becomes a `u32`, `"a,b"` a `Vec<String>`). Keys are matched whole: a key `db.pool`
//!   fills a field `#[serde(rename = "db.pool")]`.

use std::collections::BTreeMap;

use serde::de::value::{Error as ValueError, StrDeserializer};
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, IntoDeserializer, MapAccess, Visitor,
};
use yaml_rust2::Yaml;

use crate::{CONTENT_KEY, Format};

/// Turns a namespace's configuration into `T`; the error says what did not fit.
pub(crate) fn decode<T: DeserializeOwned>(
    format: Format,
    configs: &BTreeMap<String, String>,
) -> Result<T, String> {
    match format {
        Format::Properties => T::deserialize(Properties(configs)).map_err(|e| e.to_string()),
        Format::Json => serde_json::from_str(content(format, configs)?)
            .map_err(|e| format!("json content does not fit: {e}")),
        Format::Yaml => {
            let value = yaml_to_json(content(format, configs)?)?;
            serde_json::from_value(value).map_err(|e| format!("yaml content does not fit: {e}"))
        }
        Format::Xml | Format::Text => Err(format!(
            "{format} namespaces cannot be read as a type; read item `{CONTENT_KEY}` with get()"
        )),
    }
}

fn content(format: Format, configs: &BTreeMap<String, String>) -> Result<&str, String> {
    configs
        .get(CONTENT_KEY)
        .map(String::as_str)
        .ok_or_else(|| format!("the {format} namespace has no item `{CONTENT_KEY}`"))
}

/// The first YAML document as a JSON value (an empty document is `null`).
fn yaml_to_json(text: &str) -> Result<serde_json::Value, String> {
    let docs = yaml_rust2::YamlLoader::load_from_str(text)
        .map_err(|e| format!("yaml content is not valid yaml: {e}"))?;
    docs.into_iter()
        .next()
        .map_or(Ok(serde_json::Value::Null), convert)
}

fn convert(node: Yaml) -> Result<serde_json::Value, String> {
    use serde_json::Value;
    Ok(match node {
        Yaml::Null => Value::Null,
        Yaml::Boolean(b) => Value::Bool(b),
        Yaml::Integer(i) => Value::from(i),
        Yaml::Real(text) => {
            let number: f64 = text
                .parse()
                .map_err(|_| format!("yaml number {text:?} is out of range"))?;
            serde_json::Number::from_f64(number)
                .map(Value::Number)
                .ok_or_else(|| format!("yaml number {text:?} has no JSON form (inf or nan)"))?
        }
        Yaml::String(s) => Value::String(s),
        Yaml::Array(items) => {
            Value::Array(items.into_iter().map(convert).collect::<Result<_, _>>()?)
        }
        Yaml::Hash(hash) => {
            let mut object = serde_json::Map::with_capacity(hash.len());
            for (key, value) in hash {
                let key = match key {
                    Yaml::String(s) | Yaml::Real(s) => s,
                    Yaml::Integer(i) => i.to_string(),
                    Yaml::Boolean(b) => b.to_string(),
                    Yaml::Null => "null".to_owned(),
                    other => return Err(format!("yaml map key {other:?} is not a scalar")),
                };
                object.insert(key, convert(value)?);
            }
            Value::Object(object)
        }
        Yaml::Alias(_) | Yaml::BadValue => {
            return Err("yaml content has an alias or value that cannot be read".into());
        }
    })
}

/// A properties map as a serde map whose values parse on demand.
struct Properties<'a>(&'a BTreeMap<String, String>);

impl<'de> Deserializer<'de> for Properties<'de> {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_map(PropertiesAccess {
            entries: self.0.iter(),
            value: None,
        })
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        option unit unit_struct newtype_struct seq tuple tuple_struct map struct enum
        identifier ignored_any
    }
}

struct PropertiesAccess<'de, I> {
    entries: I,
    /// The entry whose key was just handed out.
    value: Option<(&'de str, &'de str)>,
}

impl<'de, I: Iterator<Item = (&'de String, &'de String)>> MapAccess<'de>
    for PropertiesAccess<'de, I>
{
    type Error = ValueError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, ValueError> {
        let Some((key, value)) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some((key, value));
        let key: StrDeserializer<'_, ValueError> = key.as_str().into_deserializer();
        seed.deserialize(key).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(
        &mut self,
        seed: V,
    ) -> Result<V::Value, ValueError> {
        let Some((key, value)) = self.value.take() else {
            return Err(de::Error::custom("a value was asked for before its key"));
        };
        seed.deserialize(Text(value))
            .map_err(|e| de::Error::custom(format!("key {key}: {e}")))
    }
}

/// One property value: a string that becomes whatever the target type asks for.
#[derive(Clone, Copy)]
struct Text<'de>(&'de str);

impl<'de> IntoDeserializer<'de, ValueError> for Text<'de> {
    type Deserializer = Self;

    fn into_deserializer(self) -> Self {
        self
    }
}

macro_rules! parse_as {
    ($($method:ident => $visit:ident : $ty:ty),* $(,)?) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
            let parsed: $ty = self.0.trim().parse().map_err(|_| {
                de::Error::custom(format!("{:?} is not a {}", self.0, stringify!($ty)))
            })?;
            visitor.$visit(parsed)
        }
    )*};
}

impl<'de> Deserializer<'de> for Text<'de> {
    type Error = ValueError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_borrowed_str(self.0)
    }

    parse_as! {
        deserialize_bool => visit_bool: bool,
        deserialize_i8 => visit_i8: i8,
        deserialize_i16 => visit_i16: i16,
        deserialize_i32 => visit_i32: i32,
        deserialize_i64 => visit_i64: i64,
        deserialize_i128 => visit_i128: i128,
        deserialize_u8 => visit_u8: u8,
        deserialize_u16 => visit_u16: u16,
        deserialize_u32 => visit_u32: u32,
        deserialize_u64 => visit_u64: u64,
        deserialize_u128 => visit_u128: u128,
        deserialize_f32 => visit_f32: f32,
        deserialize_f64 => visit_f64: f64,
    }

    /// A key that is present is `Some`, even when empty.
    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        visitor.visit_some(self)
    }

    /// A comma-separated list; an empty value is an empty list.
    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, ValueError> {
        let items = self
            .0
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(Text);
        visitor.visit_seq(de::value::SeqDeserializer::new(items))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        visitor.visit_newtype_struct(self)
    }

    /// A unit variant by name (`mode=fast`).
    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, ValueError> {
        let name: StrDeserializer<'_, ValueError> = self.0.trim().into_deserializer();
        visitor.visit_enum(name)
    }

    serde::forward_to_deserialize_any! {
        char str string bytes byte_buf unit unit_struct tuple tuple_struct map struct
        identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "lowercase")]
    enum Mode {
        Fast,
        Safe,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Settings {
        #[serde(rename = "db.pool")]
        pool: u32,
        #[serde(rename = "feature.x")]
        feature: bool,
        ratio: f64,
        name: String,
        hosts: Vec<String>,
        mode: Mode,
        #[serde(default)]
        missing: Option<u8>,
        #[serde(default)]
        empty: Option<String>,
    }

    #[test]
    fn properties_values_parse_as_the_field_types() {
        let configs = map(&[
            ("db.pool", "10"),
            ("feature.x", "true"),
            ("ratio", "0.5"),
            ("name", "123"),
            ("hosts", "a, b,c"),
            ("mode", "fast"),
            ("empty", ""),
            ("unrelated", "ignored"),
        ]);
        let settings: Settings = decode(Format::Properties, &configs).unwrap();
        assert_eq!(settings.pool, 10);
        assert!(settings.feature);
        assert_eq!(
            settings.name, "123",
            "a number-looking value still fills a String"
        );
        assert_eq!(settings.hosts, vec!["a", "b", "c"]);
        assert_eq!(settings.mode, Mode::Fast);
        assert_eq!(settings.missing, None);
        assert_eq!(settings.empty, Some(String::new()));
        let _ = Mode::Safe;
    }

    #[test]
    fn a_property_that_does_not_fit_names_its_key() {
        let configs = map(&[("db.pool", "many"), ("feature.x", "true")]);
        let err = decode::<Settings>(Format::Properties, &configs).unwrap_err();
        assert!(
            err.contains("db.pool") && err.contains("\"many\" is not a u32"),
            "{err}"
        );
        let as_map: BTreeMap<String, String> = decode(Format::Properties, &configs).unwrap();
        assert_eq!(as_map, configs);
    }

    #[derive(Debug, Deserialize, PartialEq)]
    struct Gateway {
        routes: Vec<String>,
        port: u16,
        weight: f64,
        tls: Option<bool>,
    }

    #[test]
    fn json_and_yaml_content_become_the_type() {
        let json = map(&[(
            "content",
            r#"{"routes":["/api"],"port":8080,"weight":0.5,"tls":null}"#,
        )]);
        let yaml = map(&[(
            "content",
            "routes:\n  - /api\nport: 8080\nweight: 0.5\ntls: ~\n",
        )]);
        let expected = Gateway {
            routes: vec!["/api".into()],
            port: 8080,
            weight: 0.5,
            tls: None,
        };
        assert_eq!(decode::<Gateway>(Format::Json, &json).unwrap(), expected);
        assert_eq!(decode::<Gateway>(Format::Yaml, &yaml).unwrap(), expected);
        let err = decode::<Gateway>(Format::Yaml, &map(&[("content", "port: x\n")])).unwrap_err();
        assert!(err.contains("yaml content does not fit"), "{err}");
        let err = decode::<Gateway>(Format::Xml, &map(&[("content", "<a/>")])).unwrap_err();
        assert!(err.contains("get()"), "{err}");
    }
}
