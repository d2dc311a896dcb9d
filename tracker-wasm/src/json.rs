//! A minimal JSON writer, and the number text helpers the tracker needs. The tracker only ever writes JSON (never parses it), and serde plus
//! `core::fmt` number formatting would cost kilobytes of the page's download, so this writes the
//! few shapes the wire format needs by hand.

use alloc::string::String;

/// Appends JSON to a `String`. The caller drives the structure; the writer tracks commas.
pub struct Json {
    out: String,
    /// Whether the next value in the current object/array needs a leading comma.
    comma: bool,
}

impl Default for Json {
    fn default() -> Self {
        Self::new()
    }
}

impl Json {
    pub fn new() -> Self {
        Json {
            out: String::with_capacity(256),
            comma: false,
        }
    }

    pub fn finish(self) -> String {
        self.out
    }

    pub fn begin_object(&mut self) -> &mut Self {
        self.sep();
        self.out.push('{');
        self.comma = false;
        self
    }

    pub fn end_object(&mut self) -> &mut Self {
        self.out.push('}');
        self.comma = true;
        self
    }

    pub fn begin_array(&mut self) -> &mut Self {
        self.sep();
        self.out.push('[');
        self.comma = false;
        self
    }

    pub fn end_array(&mut self) -> &mut Self {
        self.out.push(']');
        self.comma = true;
        self
    }

    /// Writes `"name":`; the value must follow.
    pub fn key(&mut self, name: &str) -> &mut Self {
        self.sep();
        string(&mut self.out, name);
        self.out.push(':');
        self.comma = false;
        self
    }

    pub fn str(&mut self, value: &str) -> &mut Self {
        self.sep();
        string(&mut self.out, value);
        self.comma = true;
        self
    }

    pub fn bool(&mut self, value: bool) -> &mut Self {
        self.raw(if value { "true" } else { "false" })
    }

    pub fn int(&mut self, value: i64) -> &mut Self {
        self.sep();
        push_int(&mut self.out, value);
        self.comma = true;
        self
    }

    /// A number rounded to `decimals` places (at most 6), trailing zeros dropped. Non-finite
    /// values, which JSON cannot hold, are written as 0.
    pub fn fixed(&mut self, value: f64, decimals: u32) -> &mut Self {
        self.sep();
        fixed(&mut self.out, value, decimals.min(6));
        self.comma = true;
        self
    }

    /// Appends already-encoded JSON (an event written earlier) as one value.
    pub fn raw(&mut self, json: &str) -> &mut Self {
        self.sep();
        self.out.push_str(json);
        self.comma = true;
        self
    }

    fn sep(&mut self) {
        if self.comma {
            self.out.push(',');
        }
    }
}

/// Longest string written, in bytes: the collector refuses longer text (a URL, a title, a
/// selector), and one long string must not cost its whole batch. Cut on a character.
pub const MAX_STR: usize = 2048;

/// `s` cut to at most `max` bytes, on a character boundary.
pub fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.get(..end).unwrap_or_default()
}

fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in cut(s, MAX_STR).chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            // Other control characters, and the two line separators some JS parsers choke on.
            c if (c as u32) < 0x20 || c == '\u{2028}' || c == '\u{2029}' => {
                out.push_str("\\u");
                let n = c as u32;
                for shift in [12, 8, 4, 0] {
                    out.push(hex_digit((n >> shift) & 0xf));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Concatenates strings: `concat`/`join` without their generic machinery, which costs the
/// page a kilobyte.
pub(crate) fn cat(parts: &[&str]) -> String {
    let mut out = String::new();
    for p in parts {
        out.push_str(p);
    }
    out
}

/// Parses a plain decimal (digits only, at most 9 of them).
pub(crate) fn parse_uint(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 9 {
        return None;
    }
    text.bytes().try_fold(0u32, |n, b| {
        b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
    })
}

pub(crate) fn hex_digit(n: u32) -> char {
    b"0123456789abcdef"[(n & 0xf) as usize] as char
}

/// Appends `value` in decimal.
pub(crate) fn push_int(out: &mut String, value: i64) {
    if value < 0 {
        out.push('-');
    }
    push_uint(out, value.unsigned_abs());
}

/// Appends `n` in decimal.
pub(crate) fn push_uint(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    // (A u64 has at most 20 digits: `get_mut` never misses, and brings no panic path.)
    while let Some(d) = i.checked_sub(1).and_then(|j| digits.get_mut(j)) {
        i -= 1;
        *d = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in digits.get(i..).unwrap_or_default() {
        out.push(d as char);
    }
}

fn fixed(out: &mut String, value: f64, decimals: u32) {
    // (`max(1)`: never 0 anyway, but the compiler cannot tell, and would link a
    // division-by-zero panic path into the page's download.)
    let scale = 10u64.pow(decimals).max(1);
    // Beyond 2^53 an f64 has no fraction left; clamping keeps the integer maths exact.
    let limit = 9_007_199_254_740_992.0 / scale as f64;
    if !value.is_finite() || value.abs() >= limit {
        let v = if value.is_finite() { value } else { 0.0 };
        push_int(out, v as i64);
        return;
    }
    let scaled = (value.abs() * scale as f64 + 0.5) as u64;
    if value < 0.0 && scaled != 0 {
        out.push('-');
    }
    push_uint(out, scaled / scale);
    let mut frac = scaled % scale;
    if frac == 0 {
        return;
    }
    out.push('.');
    let mut width = decimals;
    while frac % 10 == 0 {
        frac /= 10;
        width -= 1;
    }
    let mut div = 10u64.pow(width - 1);
    while div > 0 {
        out.push((b'0' + (frac / div % 10) as u8) as char);
        div /= 10;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixed_str(v: f64, d: u32) -> String {
        let mut j = Json::new();
        j.fixed(v, d);
        j.finish()
    }

    #[test]
    fn writes_nested_structures_with_commas() {
        let mut j = Json::new();
        j.begin_object()
            .key("a")
            .int(1)
            .key("b")
            .begin_array()
            .str("x")
            .bool(true)
            .raw("null")
            .end_array()
            .key("c")
            .begin_object()
            .end_object()
            .end_object();
        assert_eq!(j.finish(), r#"{"a":1,"b":["x",true,null],"c":{}}"#);
    }

    #[test]
    fn strings_are_cut_to_what_the_collector_takes_on_a_character() {
        let long = "é".repeat(1_500); // 3,000 bytes
        let mut j = Json::new();
        j.str(&long).str("short");
        let out: Vec<String> = serde_json::from_str(&cat(&["[", &j.finish(), "]"])).unwrap();
        assert_eq!(out[0].len(), MAX_STR);
        assert!(long.starts_with(&out[0]));
        assert_eq!(out[1], "short");
        assert_eq!(cut("😀x", 2), "");
    }

    #[test]
    fn escapes_strings_so_any_parser_reads_them_back() {
        let tricky = "quote\" back\\ nl\n tab\t bell\u{7} ls\u{2028} é 😀";
        let mut j = Json::new();
        j.str(tricky);
        let out = j.finish();
        assert!(out.contains("\\u0007") && out.contains("\\u2028"), "{out}");
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, tricky);
    }

    #[test]
    fn integers_cover_the_whole_range() {
        for n in [0, 7, -7, 1_763_791_200_000, i64::MAX, i64::MIN] {
            let mut j = Json::new();
            j.int(n);
            assert_eq!(j.finish(), n.to_string());
        }
    }

    #[test]
    fn plain_decimals_parse() {
        assert_eq!(parse_uint("0"), Some(0));
        assert_eq!(parse_uint("30"), Some(30));
        assert_eq!(parse_uint("999999999"), Some(999_999_999));
        for bad in ["", "-1", "1.5", "1e3", "1234567890", " 1"] {
            assert_eq!(parse_uint(bad), None, "{bad}");
        }
    }

    #[test]
    fn fixed_rounds_and_trims() {
        assert_eq!(fixed_str(0.42, 4), "0.42");
        assert_eq!(fixed_str(0.123456, 4), "0.1235");
        assert_eq!(fixed_str(1.0, 4), "1");
        assert_eq!(fixed_str(0.00004, 4), "0");
        assert_eq!(fixed_str(0.00005, 4), "0.0001");
        assert_eq!(fixed_str(-0.25, 4), "-0.25");
        assert_eq!(fixed_str(-0.00001, 4), "0");
        assert_eq!(fixed_str(1350.4, 0), "1350");
        assert_eq!(fixed_str(0.05, 2), "0.05");
        assert_eq!(fixed_str(f64::NAN, 4), "0");
        assert_eq!(fixed_str(f64::INFINITY, 4), "0");
        assert_eq!(fixed_str(1e300, 4), "9223372036854775807");
    }

    #[test]
    fn fixed_output_is_valid_json_numbers() {
        let mut v = -3.0;
        while v < 3.0 {
            let s = fixed_str(v, 3);
            let back: f64 = serde_json::from_str(&s).unwrap();
            assert!((back - v).abs() <= 0.0005 + 1e-12, "{v} -> {s}");
            v += 0.0137;
        }
    }
}
