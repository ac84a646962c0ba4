//! Strict reading of JSON values into typed input: unknown fields, NUL characters and
//! non-object bodies are refused with the offending field named. Used by the API's JSON bodies
//! (`http::json`) and by bulk-create rows, so both refuse alike.

use serde::de::{DeserializeOwned, Deserializer, Visitor};

use super::FieldErrors;

/// Parsed JSON into `T`, naming the offending field (also used for bulk-create rows). Refused
/// besides what `T` refuses: fields `T` does not have (a typo or a field this API does not take
/// must not be silently dropped — `{"role":"admin"}` answering 200 reads as granted), and NUL
/// characters in any string (Postgres text cannot hold them; they are never meant).
pub fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, FieldErrors> {
    if let Some(field) = nul_in(&value, "") {
        return Err(FieldErrors::from([(
            field,
            "must not contain NUL characters".to_owned(),
        )]));
    }
    let mut unknown = Vec::new();
    let mut note = |path: serde_ignored::Path<'_>| unknown.push(path_text(&path));
    let parsed: Result<T, _> = serde_path_to_error::deserialize(ObjectsOnly(
        serde_ignored::Deserializer::new(value, &mut note),
    ));
    // A field this API does not take is named even when the body has other faults (it is
    // often their cause: a misspelt required field).
    let mut errors: FieldErrors = unknown
        .into_iter()
        .map(|f| (f, UNKNOWN.to_owned()))
        .collect();
    match parsed {
        Ok(v) if errors.is_empty() => Ok(v),
        Ok(_) => Err(errors),
        Err(e) => {
            for (f, why) in field_error(&e.path().to_string(), &e.inner().to_string()) {
                errors.entry(f).or_insert(why);
            }
            Err(errors)
        }
    }
}

const UNKNOWN: &str = "is not a known field";

/// A body whose type is a struct must be a JSON object. serde also builds structs from arrays
/// (`[null, null]` as the fields in order), a form no client means and no document describes.
/// Only the top level is held to this; nested structs still accept the array form.
struct ObjectsOnly<D>(D);

macro_rules! forward {
    ($($method:ident),*) => {$(
        fn $method<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, D::Error> {
            self.0.$method(visitor)
        }
    )*};
}

impl<'de, D: Deserializer<'de>> Deserializer<'de> for ObjectsOnly<D> {
    type Error = D::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_map(visitor)
    }

    forward!(
        deserialize_any,
        deserialize_bool,
        deserialize_i8,
        deserialize_i16,
        deserialize_i32,
        deserialize_i64,
        deserialize_i128,
        deserialize_u8,
        deserialize_u16,
        deserialize_u32,
        deserialize_u64,
        deserialize_u128,
        deserialize_f32,
        deserialize_f64,
        deserialize_char,
        deserialize_str,
        deserialize_string,
        deserialize_bytes,
        deserialize_byte_buf,
        deserialize_option,
        deserialize_unit,
        deserialize_seq,
        deserialize_map,
        deserialize_identifier,
        deserialize_ignored_any
    );

    fn deserialize_unit_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_unit_struct(name, visitor)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_newtype_struct(name, visitor)
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple(len, visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        len: usize,
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_tuple_struct(name, len, visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        name: &'static str,
        variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, D::Error> {
        self.0.deserialize_enum(name, variants, visitor)
    }

    fn is_human_readable(&self) -> bool {
        self.0.is_human_readable()
    }
}

/// The path of the first string (or key) holding a NUL character.
fn nul_in(v: &serde_json::Value, path: &str) -> Option<String> {
    let named = |p: &str| {
        if p.is_empty() {
            "body".to_owned()
        } else {
            p.to_owned()
        }
    };
    match v {
        serde_json::Value::String(s) => s.contains('\0').then(|| named(path)),
        serde_json::Value::Array(items) => items
            .iter()
            .enumerate()
            .find_map(|(i, item)| nul_in(item, &format!("{path}[{i}]"))),
        serde_json::Value::Object(map) => map.iter().find_map(|(k, item)| {
            let p = join(path, k);
            if k.contains('\0') {
                Some(named(path))
            } else {
                nul_in(item, &p)
            }
        }),
        _ => None,
    }
}

/// A path as the other field errors write it: `items[0].x`.
fn path_text(p: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path;
    match p {
        Path::Root => String::new(),
        Path::Seq { parent, index } => format!("{}[{index}]", path_text(parent)),
        Path::Map { parent, key } => join(&path_text(parent), key),
        Path::Some { parent }
        | Path::NewtypeStruct { parent }
        | Path::NewtypeVariant { parent } => path_text(parent),
    }
}

pub(crate) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() {
        key.to_owned()
    } else {
        format!("{parent}.{key}")
    }
}

/// Names the field serde complained about: the path for a bad value, the missing field's name
/// (joined to its parent's path) for an absent one.
fn field_error(path: &str, message: &str) -> FieldErrors {
    // serde_path_to_error names the root "." (or "?" when it cannot tell).
    let parent = if path == "." || path == "?" { "" } else { path };
    if let Some(rest) = message.strip_prefix("missing field `")
        && let Some(name) = rest.split('`').next()
    {
        let field = if parent.is_empty() {
            name.to_owned()
        } else {
            format!("{parent}.{name}")
        };
        return FieldErrors::from([(field, "is required".to_owned())]);
    }
    if let Some(rest) = message.strip_prefix("unknown field `")
        && let Some(name) = rest.split('`').next()
    {
        // serde_path_to_error has usually stepped into the key already.
        let field = if parent == name || parent.ends_with(&format!(".{name}")) {
            parent.to_owned()
        } else {
            join(parent, name)
        };
        return FieldErrors::from([(field, UNKNOWN.to_owned())]);
    }
    let field = if parent.is_empty() {
        "body".to_owned()
    } else {
        parent.to_owned()
    };
    FieldErrors::from([(field, message.to_owned())])
}

/// Distinguishes an absent field (`None`) from an explicit null (`Some(None)`).
pub fn double_option<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    <Option<T> as serde::Deserialize>::deserialize(d).map(Some)
}
