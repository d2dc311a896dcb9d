//! Custom events from page code (`spoor.track(name, props)` and `data-spoor-event`
//! attributes): names and properties checked against the collector's bounds, so a mistake is
//! a console warning in the page, not a rejected batch.

use alloc::string::String;

use crate::json::Json;

pub const MAX_NAME: usize = 64;
pub const MAX_PROPS: usize = 25;
pub const MAX_VALUE: usize = 256;

/// A property value as page code gave it.
#[derive(Debug, Clone, PartialEq)]
pub enum Prop<'a> {
    Str(&'a str),
    Num(f64),
    Bool(bool),
    Null,
    /// Objects, arrays, functions…: not allowed.
    Other,
}

/// Checks an event name.
pub fn name(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > MAX_NAME {
        return Err("spoor: event names must be 1–64 characters");
    }
    Ok(())
}

/// The properties as a JSON object, or what is wrong with them.
pub fn encode(props: &[(&str, Prop)]) -> Result<String, &'static str> {
    if props.len() > MAX_PROPS {
        return Err("spoor: at most 25 properties per event");
    }
    let mut j = Json::new();
    j.begin_object();
    for (key, value) in props {
        if key.is_empty() || key.len() > MAX_NAME {
            return Err("spoor: property names must be 1–64 characters");
        }
        j.key(key);
        match value {
            Prop::Str(s) if s.len() > MAX_VALUE => {
                return Err("spoor: property values must be at most 256 characters")
            }
            Prop::Str(s) => j.str(s),
            Prop::Num(n) if !n.is_finite() => return Err("spoor: property numbers must be finite"),
            Prop::Num(n) => j.fixed(*n, 6),
            Prop::Bool(b) => j.bool(*b),
            Prop::Null => j.raw("null"),
            Prop::Other => {
                return Err("spoor: property values must be strings, numbers or booleans")
            }
        };
    }
    j.end_object();
    Ok(j.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p<'a>(k: &'a str, v: Prop<'a>) -> (&'a str, Prop<'a>) {
        (k, v)
    }

    #[test]
    fn good_props_encode_as_a_flat_object() {
        let json = encode(&[
            p("product", Prop::Str("11")),
            p("qty", Prop::Num(2.0)),
            p("price", Prop::Num(14.5)),
            p("gift", Prop::Bool(false)),
            p("coupon", Prop::Null),
        ])
        .unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"product": "11", "qty": 2, "price": 14.5, "gift": false, "coupon": null})
        );
        assert_eq!(encode(&[]).unwrap(), "{}");
    }

    #[test]
    fn bad_props_are_explained() {
        assert!(encode(&[p("a", Prop::Other)])
            .unwrap_err()
            .contains("strings, numbers"));
        assert!(encode(&[p("a", Prop::Num(f64::NAN))])
            .unwrap_err()
            .contains("finite"));
        assert!(encode(&[p("", Prop::Null)]).is_err());
        let long = "x".repeat(300);
        assert!(encode(&[p("a", Prop::Str(&long))]).is_err());
        let names: Vec<String> = (0..26).map(|i| format!("p{i}")).collect();
        let many: Vec<_> = names.iter().map(|n| p(n, Prop::Null)).collect();
        assert!(encode(&many).is_err());
        assert!(name("").is_err() && name(&"n".repeat(65)).is_err() && name("cart_add").is_ok());
    }
}
