//! DynamoDB item JSON (`"name":{"S":"x"},…`) written straight from any `Serialize` value,
//! spelled as [`Attr::from_value`] of its JSON value would be (nulls left out), with no
//! `Value` or `Attr` tree in between: built for every event, those trees and their
//! allocations were most of the consumer's CPU.
//!
//! [`Attr::from_value`]: super::dynamodb::Attr::from_value

use std::fmt::Display;

use serde::ser::{self, Serialize};

use super::dynamodb::Item;

/// An item as DynamoDB's JSON spells it (`{"pk":{"S":"…"},…}`), ready for a request body.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemJson(Vec<u8>);

impl ItemJson {
    /// `json` must be an item's JSON, as [`fields`] between braces writes it.
    pub fn from_written(json: Vec<u8>) -> Self {
        ItemJson(json)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The item read back (for tests and tools; the writes never need it).
    pub fn parse(&self) -> serde_json::Result<Item> {
        serde_json::from_slice(&self.0)
    }
}

impl From<&Item> for ItemJson {
    fn from(item: &Item) -> Self {
        ItemJson(serde_json::to_vec(item).unwrap_or_else(|_| b"{}".to_vec()))
    }
}

/// Appends the attributes of `value`, a map or struct, to `out` as item fields
/// (`"a":{"S":"x"},"b":{"N":"1"}`; no braces), each preceded by a comma unless it is the first
/// of the item (`first`, updated). Null fields are left out, as DynamoDB's NULL says nothing.
pub fn fields<T: Serialize + ?Sized>(
    value: &T,
    out: &mut Vec<u8>,
    first: &mut bool,
) -> Result<(), Unsupported> {
    value.serialize(Fields { out, first })
}

/// Appends one attribute: `"name":` and `value` as an attribute value, unless it is null.
pub fn field<T: Serialize + ?Sized>(
    name: &str,
    value: &T,
    out: &mut Vec<u8>,
    first: &mut bool,
) -> Result<(), Unsupported> {
    Compound { out, first }.entry(name, value)
}

/// A value with no JSON (item) form: a map key that is not a string or number, or a top level
/// that is not a map. The tracker's and the collector's own types have none.
#[derive(Debug)]
pub struct Unsupported(String);

impl Display for Unsupported {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Unsupported {}

impl ser::Error for Unsupported {
    fn custom<T: Display>(msg: T) -> Self {
        Unsupported(msg.to_string())
    }
}

fn unsupported<T>(what: &str) -> Result<T, Unsupported> {
    Err(Unsupported(format!(
        "{what} has no DynamoDB item form here"
    )))
}

/// A JSON string, escaped as serde_json escapes it.
pub fn string(out: &mut Vec<u8>, s: &str) {
    let _ = s.serialize(&mut serde_json::Serializer::new(out)); // writing to a Vec cannot fail
}

/// `{"N":"<n>"}` with `n` as serde_json writes the number.
fn number<T: Serialize>(out: &mut Vec<u8>, n: T) -> Result<bool, Unsupported> {
    out.extend_from_slice(b"{\"N\":\"");
    n.serialize(&mut serde_json::Serializer::new(&mut *out))
        .map_err(|e| Unsupported(e.to_string()))?;
    out.extend_from_slice(b"\"}");
    Ok(true)
}

/// Serialises one attribute value; `Ok(false)` when the value is null and nothing was written.
struct AttrValue<'a> {
    out: &'a mut Vec<u8>,
}

/// Entries being written into a map whose braces are someone else's.
struct Compound<'a> {
    out: &'a mut Vec<u8>,
    first: &'a mut bool,
}

impl Compound<'_> {
    /// The comma, unless first; returns where the entry started, to take it back if null.
    fn begin(&mut self) -> usize {
        let mark = self.out.len();
        if !*self.first {
            self.out.push(b',');
        }
        mark
    }

    fn value<T: Serialize + ?Sized>(&mut self, mark: usize, value: &T) -> Result<(), Unsupported> {
        if value.serialize(AttrValue { out: self.out })? {
            *self.first = false;
        } else {
            self.out.truncate(mark);
        }
        Ok(())
    }

    /// The comma (unless first), `key` and its colon; returns where the entry started.
    fn key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<usize, Unsupported> {
        let mark = self.begin();
        key.serialize(Key { out: self.out })?;
        self.out.push(b':');
        Ok(mark)
    }

    fn entry<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Unsupported> {
        let mark = self.key(key)?;
        self.value(mark, value)
    }
}

/// A compound value nested in an attribute value owns its own `first` flag.
struct Nested<'a> {
    first: bool,
    out: &'a mut Vec<u8>,
    close: &'static str,
}

impl<'a> Nested<'a> {
    fn open(out: &'a mut Vec<u8>, open: &str, close: &'static str) -> Self {
        out.extend_from_slice(open.as_bytes());
        Nested {
            first: true,
            out,
            close,
        }
    }

    /// A variant with data: a map of one entry, named after the variant, holding `open`….
    fn variant(out: &'a mut Vec<u8>, variant: &str, open: &str, close: &'static str) -> Self {
        out.extend_from_slice(b"{\"M\":{");
        string(out, variant);
        Nested::open(out, open, close)
    }

    fn compound(&mut self) -> Compound<'_> {
        Compound {
            out: self.out,
            first: &mut self.first,
        }
    }

    fn element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        let mut c = self.compound();
        let mark = c.begin();
        c.value(mark, value)
    }

    fn entry<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) -> Result<(), Unsupported> {
        self.compound().entry(key, value)
    }

    fn end(self) -> Result<bool, Unsupported> {
        self.out.extend_from_slice(self.close.as_bytes());
        Ok(true)
    }
}

/// A `Serializer`'s eight integer methods, each `$body` with `$this` and the integer `$v`.
macro_rules! integers {
    ($ok:ty, |$this:ident, $v:ident| $body:expr) => {
        integers!(@ $ok, $this, $v, $body; serialize_i8(i8), serialize_i16(i16),
            serialize_i32(i32), serialize_i64(i64), serialize_u8(u8), serialize_u16(u16),
            serialize_u32(u32), serialize_u64(u64));
    };
    (@ $ok:ty, $this:ident, $v:ident, $body:expr; $($method:ident($ty:ty)),*) => {
        $(fn $method($this, $v: $ty) -> Result<$ok, Unsupported> {
            $body
        })*
    };
}

impl<'a> ser::Serializer for AttrValue<'a> {
    type Ok = bool;
    type Error = Unsupported;
    type SerializeSeq = Nested<'a>;
    type SerializeTuple = Nested<'a>;
    type SerializeTupleStruct = Nested<'a>;
    type SerializeTupleVariant = Nested<'a>;
    type SerializeMap = NestedMap<'a>;
    type SerializeStruct = Nested<'a>;
    type SerializeStructVariant = Nested<'a>;

    fn serialize_bool(self, v: bool) -> Result<bool, Unsupported> {
        self.out.extend_from_slice(if v {
            b"{\"BOOL\":true}"
        } else {
            b"{\"BOOL\":false}"
        });
        Ok(true)
    }
    integers!(bool, |self, v| number(self.out, v));
    fn serialize_f32(self, v: f32) -> Result<bool, Unsupported> {
        // As a JSON value holds it: widened to f64.
        self.serialize_f64(f64::from(v))
    }
    fn serialize_f64(self, v: f64) -> Result<bool, Unsupported> {
        // JSON has no NaN or infinity: serde_json makes them null, which an item leaves out.
        if v.is_finite() {
            number(self.out, v)
        } else {
            Ok(false)
        }
    }
    fn serialize_char(self, v: char) -> Result<bool, Unsupported> {
        self.serialize_str(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_str(self, v: &str) -> Result<bool, Unsupported> {
        self.out.extend_from_slice(b"{\"S\":");
        string(self.out, v);
        self.out.push(b'}');
        Ok(true)
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<bool, Unsupported> {
        // serde_json makes bytes a list of numbers.
        let mut list = Nested::open(self.out, "{\"L\":[", "]}");
        for b in v {
            list.element(b)?;
        }
        list.end()
    }
    fn serialize_none(self) -> Result<bool, Unsupported> {
        Ok(false)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<bool, Unsupported> {
        value.serialize(self)
    }
    fn serialize_unit(self) -> Result<bool, Unsupported> {
        Ok(false)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<bool, Unsupported> {
        Ok(false)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<bool, Unsupported> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<bool, Unsupported> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<bool, Unsupported> {
        let mut map = Nested::open(self.out, "{\"M\":{", "}}");
        map.entry(variant, value)?;
        map.end()
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Nested<'a>, Unsupported> {
        Ok(Nested::open(self.out, "{\"L\":[", "]}"))
    }
    fn serialize_tuple(self, len: usize) -> Result<Nested<'a>, Unsupported> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        len: usize,
    ) -> Result<Nested<'a>, Unsupported> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Nested<'a>, Unsupported> {
        // `{"variant": [..]}`, as serde_json writes it.
        Ok(Nested::variant(self.out, variant, ":{\"L\":[", "]}}}"))
    }
    fn serialize_map(self, _: Option<usize>) -> Result<NestedMap<'a>, Unsupported> {
        Ok(NestedMap {
            map: Nested::open(self.out, "{\"M\":{", "}}"),
            mark: 0,
        })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<Nested<'a>, Unsupported> {
        Ok(Nested::open(self.out, "{\"M\":{", "}}"))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        _: usize,
    ) -> Result<Nested<'a>, Unsupported> {
        Ok(Nested::variant(self.out, variant, ":{\"M\":{", "}}}}"))
    }
}

/// Lists and tuples take elements; structs and struct variants take named fields.
macro_rules! nested {
    ($($elements:ident :: $element:ident),*; $($structs:ident),*) => {
        $(impl ser::$elements for Nested<'_> {
            type Ok = bool;
            type Error = Unsupported;
            fn $element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
                self.element(value)
            }
            fn end(self) -> Result<bool, Unsupported> {
                Nested::end(self)
            }
        })*
        $(impl ser::$structs for Nested<'_> {
            type Ok = bool;
            type Error = Unsupported;
            fn serialize_field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<(), Unsupported> {
                self.entry(key, value)
            }
            fn end(self) -> Result<bool, Unsupported> {
                Nested::end(self)
            }
        })*
    };
}

nested!(
    SerializeSeq::serialize_element, SerializeTuple::serialize_element,
    SerializeTupleStruct::serialize_field, SerializeTupleVariant::serialize_field;
    SerializeStruct, SerializeStructVariant
);

/// A map value, whose key and value may come in separate calls (as flattened fields do).
struct NestedMap<'a> {
    map: Nested<'a>,
    /// Where the current entry began.
    mark: usize,
}

impl ser::SerializeMap for NestedMap<'_> {
    type Ok = bool;
    type Error = Unsupported;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Unsupported> {
        self.mark = self.map.compound().key(key)?;
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        let mark = self.mark;
        self.map.compound().value(mark, value)
    }
    fn end(self) -> Result<bool, Unsupported> {
        self.map.end()
    }
}

/// The top level of an item: a map or struct whose entries become the item's fields.
struct Fields<'a> {
    out: &'a mut Vec<u8>,
    first: &'a mut bool,
}

/// The entries of the item's top level, written into the caller's item.
struct TopMap<'a> {
    map: Compound<'a>,
    mark: usize,
}

impl ser::SerializeMap for TopMap<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Unsupported> {
        self.mark = self.map.key(key)?;
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<(), Unsupported> {
        let mark = self.mark;
        self.map.value(mark, value)
    }
    fn end(self) -> Result<(), Unsupported> {
        Ok(())
    }
}

impl ser::SerializeStruct for TopMap<'_> {
    type Ok = ();
    type Error = Unsupported;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        self.map.entry(key, value)
    }
    fn end(self) -> Result<(), Unsupported> {
        Ok(())
    }
}

/// Serializer methods that refuse what they are given, saying `what` it is.
macro_rules! refuse {
    ($what:literal; $($method:ident($($arg:ty),*)),* $(,)?) => {
        $(fn $method(self, $(_: $arg),*) -> Result<(), Unsupported> {
            unsupported($what)
        })*
    };
}

impl<'a> ser::Serializer for Fields<'a> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = ser::Impossible<(), Unsupported>;
    type SerializeTuple = ser::Impossible<(), Unsupported>;
    type SerializeTupleStruct = ser::Impossible<(), Unsupported>;
    type SerializeTupleVariant = ser::Impossible<(), Unsupported>;
    type SerializeMap = TopMap<'a>;
    type SerializeStruct = TopMap<'a>;
    type SerializeStructVariant = ser::Impossible<(), Unsupported>;

    refuse!("an item that is not a map";
        serialize_bool(bool),
        serialize_i8(i8),
        serialize_i16(i16),
        serialize_i32(i32),
        serialize_i64(i64),
        serialize_u8(u8),
        serialize_u16(u16),
        serialize_u32(u32),
        serialize_u64(u64),
        serialize_f32(f32),
        serialize_f64(f64),
        serialize_char(char),
        serialize_str(&str),
        serialize_bytes(&[u8]),
        serialize_none(),
        serialize_unit(),
        serialize_unit_struct(&'static str),
        serialize_unit_variant(&'static str, u32, &'static str),
    );
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<(), Unsupported> {
        value.serialize(self)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        value.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        field(variant, value, self.out, self.first)
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Unsupported> {
        unsupported("an item that is not a map")
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Unsupported> {
        unsupported("an item that is not a map")
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Unsupported> {
        unsupported("an item that is not a map")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Unsupported> {
        unsupported("an item that is not a map")
    }
    fn serialize_map(self, _: Option<usize>) -> Result<TopMap<'a>, Unsupported> {
        Ok(TopMap {
            map: Compound {
                out: self.out,
                first: self.first,
            },
            mark: 0,
        })
    }
    fn serialize_struct(self, _: &'static str, _: usize) -> Result<TopMap<'a>, Unsupported> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Unsupported> {
        unsupported("an item that is not a map")
    }
}

/// A map key: JSON object keys are strings; serde_json writes number keys as their text.
struct Key<'a> {
    out: &'a mut Vec<u8>,
}

impl Key<'_> {
    fn text(self, s: &str) -> Result<(), Unsupported> {
        string(self.out, s);
        Ok(())
    }

    fn number(self, n: impl itoa::Integer) -> Result<(), Unsupported> {
        self.text(itoa::Buffer::new().format(n))
    }
}

impl ser::Serializer for Key<'_> {
    type Ok = ();
    type Error = Unsupported;
    type SerializeSeq = ser::Impossible<(), Unsupported>;
    type SerializeTuple = ser::Impossible<(), Unsupported>;
    type SerializeTupleStruct = ser::Impossible<(), Unsupported>;
    type SerializeTupleVariant = ser::Impossible<(), Unsupported>;
    type SerializeMap = ser::Impossible<(), Unsupported>;
    type SerializeStruct = ser::Impossible<(), Unsupported>;
    type SerializeStructVariant = ser::Impossible<(), Unsupported>;

    integers!((), |self, v| self.number(v));
    fn serialize_str(self, v: &str) -> Result<(), Unsupported> {
        self.text(v)
    }
    fn serialize_char(self, v: char) -> Result<(), Unsupported> {
        self.text(v.encode_utf8(&mut [0; 4]))
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<(), Unsupported> {
        self.text(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        value: &T,
    ) -> Result<(), Unsupported> {
        value.serialize(self)
    }
    refuse!("a key that is not a string"; serialize_bool(bool), serialize_f32(f32), serialize_f64(f64), serialize_bytes(&[u8]), serialize_none(), serialize_unit(), serialize_unit_struct(&'static str));
    fn serialize_some<T: Serialize + ?Sized>(self, _: &T) -> Result<(), Unsupported> {
        unsupported("a key that is not a string")
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<(), Unsupported> {
        unsupported("a key that is not a string")
    }
    fn serialize_seq(self, _: Option<usize>) -> Result<Self::SerializeSeq, Unsupported> {
        unsupported("a key that is not a string")
    }
    fn serialize_tuple(self, _: usize) -> Result<Self::SerializeTuple, Unsupported> {
        unsupported("a key that is not a string")
    }
    fn serialize_tuple_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleStruct, Unsupported> {
        unsupported("a key that is not a string")
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Unsupported> {
        unsupported("a key that is not a string")
    }
    fn serialize_map(self, _: Option<usize>) -> Result<Self::SerializeMap, Unsupported> {
        unsupported("a key that is not a string")
    }
    fn serialize_struct(
        self,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStruct, Unsupported> {
        unsupported("a key that is not a string")
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Unsupported> {
        unsupported("a key that is not a string")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws::dynamodb::{Attr, Item};
    use serde::Serialize;
    use serde_json::json;

    /// What `fields` writes, read back as an item.
    fn item<T: Serialize>(value: &T) -> Item {
        let mut out = b"{".to_vec();
        fields(value, &mut out, &mut true).unwrap();
        out.push(b'}');
        serde_json::from_slice(&out)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)))
    }

    /// The definition it must match: the value's JSON, made an item by `Attr::from_value`.
    fn expected<T: Serialize>(value: &T) -> Item {
        match Attr::from_value(serde_json::to_value(value).unwrap()) {
            Some(Attr::M(m)) => m,
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn json_values_become_the_item_from_value_makes() {
        let cases = [
            json!({}),
            json!({"s": "a \"quoted\" \\ line\n\u{1}é😀", "n": 1, "neg": -7, "f": 0.1, "big": 1.5e300,
                   "t": true, "no": false, "null": null}),
            json!({"first": null, "second": 2}),
            json!({"l": [1, null, "x", [], {}, [null]], "m": {"a": {"b": null}, "c": [{"d": 1}]}}),
            json!({"only_nulls": [null, null], "empty": {"x": null}}),
            json!({"u64": u64::MAX, "i64": i64::MIN, "tiny": 5e-324}),
        ];
        for case in cases {
            assert_eq!(item(&case), expected(&case), "{case}");
        }
    }

    #[derive(Serialize)]
    #[serde(tag = "k", rename_all = "lowercase")]
    enum Tagged {
        One { a: u8, b: Option<String> },
        Two(Inner),
    }

    #[derive(Serialize)]
    struct Inner {
        x: f64,
        list: Vec<u8>,
        nan: f64,
        unit: (),
        variant: Plain,
        tuple: (u8, &'static str),
        newtype: Wrapper,
        #[serde(with = "serde_bytes_as_list")]
        bytes: Vec<u8>,
        map: std::collections::BTreeMap<u32, &'static str>,
        f32: f32,
    }

    mod serde_bytes_as_list {
        pub fn serialize<S: serde::Serializer>(v: &[u8], s: S) -> Result<S::Ok, S::Error> {
            s.serialize_bytes(v)
        }
    }

    #[derive(Serialize)]
    enum Plain {
        Unit,
        New(u8),
        Tuple(u8, u8),
        Struct { z: bool },
    }

    #[derive(Serialize)]
    struct Wrapper(&'static str);

    #[derive(Serialize)]
    struct Flattened {
        id: &'static str,
        #[serde(flatten)]
        data: Tagged,
        missing: Option<u8>,
    }

    #[test]
    fn serde_shapes_become_the_item_from_value_makes() {
        let inner = |variant| Inner {
            x: 0.25,
            list: vec![1, 2],
            nan: f64::NAN,
            unit: (),
            variant,
            tuple: (1, "a"),
            newtype: Wrapper("w"),
            bytes: vec![0, 255],
            map: [(1, "one"), (20, "twenty")].into(),
            f32: 0.1,
        };
        for variant in [
            Plain::Unit,
            Plain::New(3),
            Plain::Tuple(4, 5),
            Plain::Struct { z: true },
        ] {
            let value = Flattened {
                id: "e1",
                data: Tagged::Two(inner(variant)),
                missing: None,
            };
            assert_eq!(item(&value), expected(&value));
        }
        let one = Flattened {
            id: "e2",
            data: Tagged::One { a: 1, b: None },
            missing: Some(9),
        };
        assert_eq!(item(&one), expected(&one));
    }

    #[test]
    fn fields_join_with_what_the_item_already_has() {
        let mut out = b"{".to_vec();
        let mut first = true;
        field("pk", "S#x", &mut out, &mut first).unwrap();
        field("none", &None::<u8>, &mut out, &mut first).unwrap();
        fields(&json!({"a": 1, "b": null}), &mut out, &mut first).unwrap();
        field("z", &true, &mut out, &mut first).unwrap();
        out.push(b'}');
        assert_eq!(
            String::from_utf8(out).unwrap(),
            r#"{"pk":{"S":"S#x"},"a":{"N":"1"},"z":{"BOOL":true}}"#
        );
    }

    #[test]
    fn what_has_no_item_form_is_refused() {
        assert!(fields(&[1, 2], &mut Vec::new(), &mut true).is_err());
        assert!(fields(&"text", &mut Vec::new(), &mut true).is_err());
        let bool_keys = std::collections::BTreeMap::from([(true, 1)]);
        assert!(fields(&json!({"m": {}}), &mut Vec::new(), &mut true).is_ok());
        assert!(field("m", &bool_keys, &mut Vec::new(), &mut true).is_err());
    }
}
