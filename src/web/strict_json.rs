//! Strict JSON for request bodies. serde_json on its own keeps the last of repeated keys and lets
//! a derived struct be filled from an array (`["+91…","pw","admin"]` logged in as a login body).
//! Bodies are parsed into a small tree that refuses repeated keys, then deserialised from that
//! tree by a deserializer that builds structs (and struct variants) only from objects, at any
//! depth. Errors are `serde_json::Error`s, so messages read as before.

use serde::de::value::StringDeserializer;
use serde::de::{self, DeserializeSeed, Deserializer, IntoDeserializer, Unexpected, Visitor};
use serde_json::Error;
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;

/// A parsed body. Objects are sorted by key, as `serde_json::Value` sorts them.
#[derive(Debug, PartialEq)]
pub enum Json {
    Null,
    Bool(bool),
    U64(u64),
    I64(i64),
    F64(f64),
    Str(String),
    Array(Vec<Json>),
    Object(BTreeMap<String, Json>),
}

/// Why a body could not be parsed.
#[derive(Debug)]
pub enum ParseError {
    /// Not JSON at all (serde_json's message, with line and column).
    Syntax(Error),
    /// An object repeats a key; the path names it (`phone`, `subServices[0].id`).
    Duplicate(String),
}

enum Seg {
    Key(String),
    Index(usize),
}

/// Parses `body`, refusing a repeated key in any object.
pub fn parse(body: &[u8]) -> Result<Json, ParseError> {
    // Filled innermost-first while a duplicate-key error unwinds, so the happy path builds no paths.
    let dup = RefCell::new(None);
    let mut de = serde_json::Deserializer::from_slice(body);
    let parsed = Node { dup: &dup }.deserialize(&mut de).and_then(|v| de.end().map(|_| v));
    match (parsed, dup.into_inner()) {
        (Ok(v), _) => Ok(v),
        (Err(_), Some(segs)) => Err(ParseError::Duplicate(path(&segs))),
        (Err(e), None) => Err(ParseError::Syntax(e)),
    }
}

fn path(segs: &[Seg]) -> String {
    let mut out = String::new();
    for s in segs.iter().rev() {
        match s {
            Seg::Key(k) if out.is_empty() => out.push_str(k),
            Seg::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

struct Node<'a> {
    dup: &'a RefCell<Option<Vec<Seg>>>,
}

impl Node<'_> {
    /// Adds this level's segment to a duplicate-key path that is unwinding through it.
    fn note(&self, seg: Seg) {
        if let Some(segs) = self.dup.borrow_mut().as_mut() {
            segs.push(seg);
        }
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Json;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Json, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Json;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Json, E> {
        Ok(Json::Bool(b))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Json, E> {
        Ok(Json::U64(n))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Json, E> {
        Ok(Json::I64(n))
    }
    fn visit_f64<E>(self, n: f64) -> Result<Json, E> {
        Ok(Json::F64(n))
    }
    fn visit_str<E>(self, s: &str) -> Result<Json, E> {
        Ok(Json::Str(s.to_owned()))
    }
    fn visit_string<E>(self, s: String) -> Result<Json, E> {
        Ok(Json::Str(s))
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::new();
        loop {
            match seq.next_element_seed(Node { dup: self.dup }) {
                Ok(Some(v)) => items.push(v),
                Ok(None) => return Ok(Json::Array(items)),
                Err(e) => {
                    self.note(Seg::Index(items.len()));
                    return Err(e);
                }
            }
        }
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut out = BTreeMap::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                let msg = format!("duplicate key `{key}`");
                *self.dup.borrow_mut() = Some(vec![Seg::Key(key)]);
                return Err(de::Error::custom(msg));
            }
            match map.next_value_seed(Node { dup: self.dup }) {
                Ok(v) => {
                    out.insert(key, v);
                }
                Err(e) => {
                    self.note(Seg::Key(key));
                    return Err(e);
                }
            }
        }
        Ok(Json::Object(out))
    }
}

impl Json {
    fn unexpected(&self) -> Unexpected<'_> {
        match self {
            Json::Null => Unexpected::Unit,
            Json::Bool(b) => Unexpected::Bool(*b),
            Json::U64(n) => Unexpected::Unsigned(*n),
            Json::I64(n) => Unexpected::Signed(*n),
            Json::F64(n) => Unexpected::Float(*n),
            Json::Str(s) => Unexpected::Str(s),
            Json::Array(_) => Unexpected::Seq,
            Json::Object(_) => Unexpected::Map,
        }
    }

    fn not_an_object(&self) -> Error {
        de::Error::custom(format_args!("expected an object, found {}", self.unexpected()))
    }
}

fn visit_array<'de, V: Visitor<'de>>(items: Vec<Json>, v: V) -> Result<V::Value, Error> {
    let len = items.len();
    let mut seq = Seq(items.into_iter());
    let out = v.visit_seq(&mut seq)?;
    match seq.0.len() {
        0 => Ok(out),
        _ => Err(de::Error::invalid_length(len, &"fewer elements in the array")),
    }
}

fn visit_object<'de, V: Visitor<'de>>(obj: BTreeMap<String, Json>, v: V) -> Result<V::Value, Error> {
    v.visit_map(Map { it: obj.into_iter(), value: None })
}

impl<'de> Deserializer<'de> for Json {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self {
            Json::Null => v.visit_unit(),
            Json::Bool(b) => v.visit_bool(b),
            Json::U64(n) => v.visit_u64(n),
            Json::I64(n) => v.visit_i64(n),
            Json::F64(n) => v.visit_f64(n),
            Json::Str(s) => v.visit_string(s),
            Json::Array(a) => visit_array(a, v),
            Json::Object(o) => visit_object(o, v),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, v: V) -> Result<V::Value, Error> {
        match self {
            Json::Null => v.visit_none(),
            other => v.visit_some(other),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, v: V) -> Result<V::Value, Error> {
        v.visit_newtype_struct(self)
    }

    /// The point of this module: a struct comes from an object, never from an array.
    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        match self {
            Json::Object(o) => visit_object(o, v),
            other => Err(other.not_an_object()),
        }
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        v: V,
    ) -> Result<V::Value, Error> {
        match self {
            Json::Str(s) => v.visit_enum(IntoDeserializer::<Error>::into_deserializer(s)),
            Json::Object(o) if o.len() == 1 => match o.into_iter().next() {
                Some((variant, value)) => v.visit_enum(Enum { variant, value }),
                None => Err(de::Error::invalid_length(0, &"an object with one key")),
            },
            other => Err(de::Error::invalid_type(other.unexpected(), &"a string or an object with one key")),
        }
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

struct Seq(std::vec::IntoIter<Json>);

impl<'de> de::SeqAccess<'de> for Seq {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>, Error> {
        self.0.next().map(|v| seed.deserialize(v)).transpose()
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Map {
    it: std::collections::btree_map::IntoIter<String, Json>,
    value: Option<Json>,
}

impl<'de> de::MapAccess<'de> for Map {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Error> {
        match self.it.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(StringDeserializer::<Error>::new(k)).map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<T::Value, Error> {
        match self.value.take() {
            Some(v) => seed.deserialize(v),
            None => Err(de::Error::custom("a value was asked for before its key")),
        }
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.it.len())
    }
}

struct Enum {
    variant: String,
    value: Json,
}

impl<'de> de::EnumAccess<'de> for Enum {
    type Error = Error;
    type Variant = Json;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Json), Error> {
        let v = seed.deserialize(StringDeserializer::<Error>::new(self.variant))?;
        Ok((v, self.value))
    }
}

impl<'de> de::VariantAccess<'de> for Json {
    type Error = Error;
    fn unit_variant(self) -> Result<(), Error> {
        match self {
            Json::Null => Ok(()),
            other => Err(de::Error::invalid_type(other.unexpected(), &"null")),
        }
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _: usize, v: V) -> Result<V::Value, Error> {
        match self {
            Json::Array(a) => visit_array(a, v),
            other => Err(de::Error::invalid_type(other.unexpected(), &"an array")),
        }
    }
    fn struct_variant<V: Visitor<'de>>(self, _: &'static [&'static str], v: V) -> Result<V::Value, Error> {
        match self {
            Json::Object(o) => visit_object(o, v),
            other => Err(other.not_an_object()),
        }
    }
}
