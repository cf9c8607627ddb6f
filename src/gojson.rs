//! Go `encoding/json`, reproduced where skopeo's bytes depend on it: a
//! parser that keeps key order and duplicate keys (Go decodes them one after
//! the other), decoding into typed fields with Go's rules (case-insensitive
//! keys with exact match first, `null` a no-op on strings and structs but a
//! reset on slices, maps and pointers, objects merged on repeat), the
//! string writer (HTML-safe escapes, `\u00XX` controls, U+2028/9), Go's
//! `Compact` with HTML escaping, and `time.Time`'s RFC 3339 round trip.
//!
//! Written by hand: serde_json neither keeps duplicate keys nor escapes
//! like Go, and both decide digests here.

use std::collections::BTreeMap;
use std::fmt;

/// A JSON value with object keys in document order, duplicates kept.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// A number, as written.
    Number(String),
    /// A string, unescaped (invalid UTF-8 bytes became U+FFFD).
    String(String),
    /// An array.
    Array(Vec<Value>),
    /// An object: keys in order, repeats kept.
    Object(Vec<(String, Value)>),
}

impl Value {
    /// The JSON type name Go uses in its errors.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
}

/// Bad JSON syntax.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid JSON at byte {offset}: {message}")]
pub struct SyntaxError {
    /// Byte offset.
    pub offset: usize,
    /// What was wrong.
    pub message: String,
}

/// The deepest nesting parsed (serde_json's limit too). Go allows 10,000;
/// parsing, cloning and dropping a `Value` recurse once per level, and at
/// 10,000 levels that overflows a 2 MiB thread stack. Image manifests and
/// configs nest fewer than ten levels. At 128 every recursion fits a
/// 256 KiB stack even in a debug build (tested; 256 levels did not), so
/// the parser is safe on any thread a library user has. A document nested
/// deeper is refused where skopeo would read it.
pub const MAX_DEPTH: usize = 128;

struct Parser<'a> {
    b: &'a [u8],
    i: usize,
    depth: usize,
}

impl<'a> Parser<'a> {
    fn err<T>(&self, m: &str) -> Result<T, SyntaxError> {
        Err(SyntaxError {
            offset: self.i,
            message: m.to_string(),
        })
    }

    fn ws(&mut self) {
        while self.i < self.b.len() && matches!(self.b[self.i], b' ' | b'\t' | b'\n' | b'\r') {
            self.i += 1;
        }
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn lit(&mut self, word: &[u8], v: Value) -> Result<Value, SyntaxError> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            self.err("invalid literal")
        }
    }

    fn value(&mut self) -> Result<Value, SyntaxError> {
        self.ws();
        match self.peek() {
            Some(b'{') => self.object(),
            Some(b'[') => self.array(),
            Some(b'"') => Ok(Value::String(self.string()?)),
            Some(b't') => self.lit(b"true", Value::Bool(true)),
            Some(b'f') => self.lit(b"false", Value::Bool(false)),
            Some(b'n') => self.lit(b"null", Value::Null),
            Some(b'-' | b'0'..=b'9') => self.number(),
            Some(_) => self.err("unexpected character"),
            None => self.err("unexpected end of input"),
        }
    }

    fn enter(&mut self) -> Result<(), SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return self.err("nested too deeply");
        }
        self.i += 1;
        Ok(())
    }

    /// An object's or array's items, from the opening bracket (at the
    /// cursor) to `close`, separated by commas; `item` parses one.
    fn sequence<F>(&mut self, close: u8, mut item: F) -> Result<(), SyntaxError>
    where
        F: FnMut(&mut Self) -> Result<(), SyntaxError>,
    {
        self.enter()?;
        self.ws();
        if self.peek() == Some(close) {
            self.i += 1;
            self.depth -= 1;
            return Ok(());
        }
        loop {
            self.ws();
            item(self)?;
            self.ws();
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {
                    self.i += 1;
                    self.depth -= 1;
                    return Ok(());
                }
                _ => return self.err("expected ',' or the closing bracket"),
            }
        }
    }

    /// `"key":`, leaving the cursor before the value.
    fn key(&mut self) -> Result<String, SyntaxError> {
        if self.peek() != Some(b'"') {
            return self.err("expected a string key");
        }
        let k = self.string()?;
        self.ws();
        if self.peek() != Some(b':') {
            return self.err("expected ':'");
        }
        self.i += 1;
        self.ws();
        Ok(k)
    }

    fn object(&mut self) -> Result<Value, SyntaxError> {
        let mut out = Vec::new();
        self.sequence(b'}', |p| {
            let k = p.key()?;
            out.push((k, p.value()?));
            Ok(())
        })?;
        Ok(Value::Object(out))
    }

    fn array(&mut self) -> Result<Value, SyntaxError> {
        let mut out = Vec::new();
        self.sequence(b']', |p| {
            out.push(p.value()?);
            Ok(())
        })?;
        Ok(Value::Array(out))
    }

    fn number(&mut self) -> Result<Value, SyntaxError> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                while matches!(self.peek(), Some(b'0'..=b'9')) {
                    self.i += 1;
                }
            }
            _ => return self.err("invalid number"),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return self.err("invalid number");
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if !matches!(self.peek(), Some(b'0'..=b'9')) {
                return self.err("invalid number");
            }
            while matches!(self.peek(), Some(b'0'..=b'9')) {
                self.i += 1;
            }
        }
        Ok(Value::Number(
            String::from_utf8_lossy(&self.b[start..self.i]).to_string(),
        ))
    }

    fn hex4(&mut self) -> Result<u32, SyntaxError> {
        // Exactly four hex digits, as Go reads them (`from_str_radix`
        // alone would take a sign: `\u+041`).
        let h = self
            .b
            .get(self.i..self.i + 4)
            .filter(|h| h.iter().all(u8::is_ascii_hexdigit))
            .and_then(|h| std::str::from_utf8(h).ok());
        match h.and_then(|h| u32::from_str_radix(h, 16).ok()) {
            Some(v) => {
                self.i += 4;
                Ok(v)
            }
            None => self.err("invalid \\u escape"),
        }
    }

    /// A string, unescaped as Go does: invalid UTF-8 bytes and lone
    /// surrogates become U+FFFD, one per byte / escape.
    fn string(&mut self) -> Result<String, SyntaxError> {
        self.i += 1;
        let mut out = String::new();
        loop {
            let Some(c) = self.peek() else {
                return self.err("unterminated string");
            };
            match c {
                b'"' => {
                    self.i += 1;
                    return Ok(out);
                }
                b'\\' => {
                    self.i += 1;
                    let Some(e) = self.peek() else {
                        return self.err("unterminated escape");
                    };
                    self.i += 1;
                    match e {
                        b'"' => out.push('"'),
                        b'\\' => out.push('\\'),
                        b'/' => out.push('/'),
                        b'b' => out.push('\u{8}'),
                        b'f' => out.push('\u{c}'),
                        b'n' => out.push('\n'),
                        b'r' => out.push('\r'),
                        b't' => out.push('\t'),
                        b'u' => {
                            let u = self.hex4()?;
                            if (0xD800..0xDC00).contains(&u) && self.b[self.i..].starts_with(b"\\u")
                            {
                                let save = self.i;
                                self.i += 2;
                                let lo = self.hex4()?;
                                if (0xDC00..0xE000).contains(&lo) {
                                    let c = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
                                    out.push(char::from_u32(c).unwrap_or('\u{FFFD}'));
                                } else {
                                    out.push('\u{FFFD}');
                                    self.i = save;
                                }
                            } else {
                                out.push(char::from_u32(u).unwrap_or('\u{FFFD}'));
                            }
                        }
                        _ => return self.err("invalid escape"),
                    }
                }
                0..=0x1f => return self.err("control character in string"),
                0x20..=0x7f => {
                    out.push(c as char);
                    self.i += 1;
                }
                _ => {
                    let w = utf8_width(c);
                    match self
                        .b
                        .get(self.i..self.i + w)
                        .and_then(|s| std::str::from_utf8(s).ok())
                    {
                        Some(s) if w > 0 => {
                            out.push_str(s);
                            self.i += w;
                        }
                        _ => {
                            out.push('\u{FFFD}');
                            self.i += 1;
                        }
                    }
                }
            }
        }
    }
}

fn utf8_width(b: u8) -> usize {
    match b {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => 0,
    }
}

/// Parses one JSON document.
pub fn parse(b: &[u8]) -> Result<Value, SyntaxError> {
    let mut p = Parser { b, i: 0, depth: 0 };
    let v = p.value()?;
    p.ws();
    if p.i != b.len() {
        return p.err("data after the JSON value");
    }
    Ok(v)
}

/// A key as Go's decoder compares it with a field name: each character
/// upper-cased then lower-cased by its simple (one-character) mapping, so
/// `Digest`, `DIGEST` and `digeſt` (long s) all fold to `digest`.
pub fn fold_key(key: &str) -> String {
    fn one(mut it: impl ExactSizeIterator<Item = char>, c: char) -> char {
        match (it.len(), it.next()) {
            (1, Some(x)) => x,
            _ => c,
        }
    }
    key.chars()
        .map(|c| {
            let u = one(c.to_uppercase(), c);
            one(u.to_lowercase(), u)
        })
        .collect()
}

/// The first object member (at any depth) whose key repeats another key of
/// the same object exactly or under Go's case folding, as `(first, second)`.
/// Such a document is read differently by Go (case-insensitive, last one
/// wins) and by serde (exact, first or error), so it is refused where the
/// two must agree.
pub fn ambiguous_key(v: &Value) -> Option<(String, String)> {
    // Iterative: the depth is already bounded by the parser, but a walk
    // needs no recursion at all.
    let mut todo = vec![v];
    while let Some(v) = todo.pop() {
        match v {
            Value::Object(members) => {
                let mut seen: std::collections::HashMap<String, &str> =
                    std::collections::HashMap::new();
                for (k, item) in members {
                    if let Some(first) = seen.insert(fold_key(k), k) {
                        return Some((first.to_string(), k.clone()));
                    }
                    todo.push(item);
                }
            }
            Value::Array(items) => todo.extend(items.iter()),
            _ => {}
        }
    }
    None
}

/// The top-level members of a JSON object as raw byte slices of their
/// values (for code that must keep values as written).
pub fn raw_members(b: &[u8]) -> Result<Vec<(String, &[u8])>, SyntaxError> {
    let mut p = Parser { b, i: 0, depth: 0 };
    p.ws();
    if p.peek() != Some(b'{') {
        return p.err("expected an object");
    }
    let mut out = Vec::new();
    p.sequence(b'}', |p| {
        let k = p.key()?;
        let start = p.i;
        p.value()?;
        out.push((k, &b[start..p.i]));
        Ok(())
    })?;
    Ok(out)
}

/// Writes `s` as a JSON string the way Go's `json.Marshal` does.
pub fn write_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON string literal, Go style.
pub fn string_lit(s: &str) -> String {
    let mut o = String::new();
    write_string(&mut o, s);
    o
}

/// Go's `json.Compact` with HTML escaping, as `Marshal` applies to a
/// `json.RawMessage`: whitespace outside strings removed; `<`, `>`, `&`,
/// U+2028 and U+2029 escaped; every other byte kept as written.
pub fn compact(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut in_str = false;
    let mut i = 0;
    while i < raw.len() {
        let c = raw[i];
        if in_str {
            match c {
                b'\\' => {
                    out.push(c);
                    if let Some(n) = raw.get(i + 1) {
                        out.push(*n);
                    }
                    i += 2;
                    continue;
                }
                b'"' => in_str = false,
                b'<' | b'>' | b'&' => {
                    out.extend_from_slice(format!("\\u{:04x}", c).as_bytes());
                    i += 1;
                    continue;
                }
                0xE2 if raw.get(i + 1) == Some(&0x80)
                    && matches!(raw.get(i + 2), Some(0xA8 | 0xA9)) =>
                {
                    out.extend_from_slice(if raw[i + 2] == 0xA8 {
                        b"\\u2028"
                    } else {
                        b"\\u2029"
                    });
                    i += 3;
                    continue;
                }
                _ => {}
            }
            out.push(c);
        } else {
            match c {
                b' ' | b'\t' | b'\n' | b'\r' => {}
                b'"' => {
                    in_str = true;
                    out.push(c);
                }
                _ => out.push(c),
            }
        }
        i += 1;
    }
    out
}

/// A value that does not fit the Go field it is decoded into.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum DecodeError {
    /// Wrong JSON type.
    #[error("field {path}: a JSON {found} cannot be stored in a {expected}")]
    Type {
        /// Field path, e.g. `config.Labels`.
        path: String,
        /// Go type expected.
        expected: &'static str,
        /// JSON type found.
        found: &'static str,
    },
    /// A timestamp that is not RFC 3339.
    #[error("field {path}: {value:?} is not an RFC 3339 time")]
    Time {
        /// Field path.
        path: String,
        /// The text.
        value: String,
    },
}

fn type_err(path: &str, expected: &'static str, v: &Value) -> DecodeError {
    DecodeError::Type {
        path: path.to_string(),
        expected,
        found: v.kind(),
    }
}

/// Decoding into an existing value, as Go's `Unmarshal` does.
pub trait GoDecode: Default {
    /// Decodes `v` into `self`.
    fn decode(&mut self, v: &Value, path: &str) -> Result<(), DecodeError>;
}

impl GoDecode for String {
    fn decode(&mut self, v: &Value, path: &str) -> Result<(), DecodeError> {
        match v {
            Value::Null => Ok(()),
            Value::String(s) => {
                *self = s.clone();
                Ok(())
            }
            _ => Err(type_err(path, "string", v)),
        }
    }
}

impl GoDecode for bool {
    fn decode(&mut self, v: &Value, path: &str) -> Result<(), DecodeError> {
        match v {
            Value::Null => Ok(()),
            Value::Bool(b) => {
                *self = *b;
                Ok(())
            }
            _ => Err(type_err(path, "bool", v)),
        }
    }
}

/// Go's `struct{}`: accepts any object (or null).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Empty;

impl GoDecode for Empty {
    fn decode(&mut self, v: &Value, path: &str) -> Result<(), DecodeError> {
        match v {
            Value::Null | Value::Object(_) => Ok(()),
            _ => Err(type_err(path, "struct", v)),
        }
    }
}

/// A Go slice: `None` is nil.
impl<T: GoDecode> GoDecode for Option<Vec<T>> {
    fn decode(&mut self, v: &Value, path: &str) -> Result<(), DecodeError> {
        match v {
            Value::Null => {
                *self = None;
                Ok(())
            }
            Value::Array(items) => {
                let vec = self.get_or_insert_with(Vec::new);
                // Go decodes into the existing elements, then truncates.
                for (i, item) in items.iter().enumerate() {
                    if i >= vec.len() {
                        vec.push(T::default());
                    }
                    vec[i].decode(item, path)?;
                }
                vec.truncate(items.len());
                Ok(())
            }
            _ => Err(type_err(path, "slice", v)),
        }
    }
}

/// A Go map with string keys: `None` is nil; decoding merges.
impl<T: GoDecode> GoDecode for Option<BTreeMap<String, T>> {
    fn decode(&mut self, v: &Value, path: &str) -> Result<(), DecodeError> {
        match v {
            Value::Null => {
                *self = None;
                Ok(())
            }
            Value::Object(members) => {
                let map = self.get_or_insert_with(BTreeMap::new);
                for (k, item) in members {
                    let mut e = T::default();
                    e.decode(item, path)?;
                    map.insert(k.clone(), e);
                }
                Ok(())
            }
            _ => Err(type_err(path, "map", v)),
        }
    }
}

/// Decodes the members of `v` into a struct whose JSON field names are
/// `names`: exact match first, then case-insensitive; unknown keys are
/// skipped. `set(i, value)` stores into field `i`. `null` is a no-op.
pub fn decode_struct<F>(
    v: &Value,
    path: &str,
    names: &[&str],
    mut set: F,
) -> Result<(), DecodeError>
where
    F: FnMut(usize, &Value) -> Result<(), DecodeError>,
{
    match v {
        Value::Null => Ok(()),
        Value::Object(members) => {
            for (k, item) in members {
                if let Some(i) = field_index(names, k) {
                    set(i, item)?;
                }
            }
            Ok(())
        }
        _ => Err(type_err(path, "struct", v)),
    }
}

/// The field a JSON key selects.
pub fn field_index(names: &[&str], key: &str) -> Option<usize> {
    names
        .iter()
        .position(|n| *n == key)
        .or_else(|| names.iter().position(|n| n.eq_ignore_ascii_case(key)))
}

/// A `time.Time` as Go keeps it for a JSON round trip: wall clock, offset.
/// Its default is Go's zero time, what a struct field holds when the JSON
/// has no such key (old schema 1 builders wrote no `created`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GoTime {
    year: u32,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    second: u32,
    nanos: u32,
    /// Offset from UTC in minutes; 0 prints as `Z`.
    offset: i32,
}

impl Default for GoTime {
    fn default() -> Self {
        GoTime::zero()
    }
}

impl GoTime {
    /// Go's zero time, `0001-01-01T00:00:00Z`.
    pub fn zero() -> GoTime {
        GoTime {
            year: 1,
            month: 1,
            day: 1,
            hour: 0,
            minute: 0,
            second: 0,
            nanos: 0,
            offset: 0,
        }
    }

    /// Parses RFC 3339 as Go's `time.Parse(time.RFC3339, s)` accepts it.
    pub fn parse(s: &str) -> Option<GoTime> {
        let b = s.as_bytes();
        let num = |r: std::ops::Range<usize>| -> Option<u32> {
            let part = b.get(r)?;
            if !part.iter().all(u8::is_ascii_digit) {
                return None;
            }
            std::str::from_utf8(part).ok()?.parse().ok()
        };
        if b.len() < 20
            || b[4] != b'-'
            || b[7] != b'-'
            || b[10] != b'T'
            || b[13] != b':'
            || b[16] != b':'
        {
            return None;
        }
        let mut t = GoTime {
            year: num(0..4)?,
            month: num(5..7)?,
            day: num(8..10)?,
            hour: num(11..13)?,
            minute: num(14..16)?,
            second: num(17..19)?,
            nanos: 0,
            offset: 0,
        };
        let mut i = 19;
        if matches!(b.get(i), Some(b'.' | b',')) && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
            i += 1;
            let start = i;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            let digits = &s[start..i];
            let mut nine: String = digits.chars().take(9).collect();
            while nine.len() < 9 {
                nine.push('0');
            }
            t.nanos = nine.parse().ok()?;
        }
        match &b[i..] {
            b"Z" => {}
            [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
                let h = num(i + 1..i + 3)?;
                let m = num(i + 4..i + 6)?;
                let _ = (h1, h2, m1, m2);
                if h > 23 || m > 59 {
                    return None;
                }
                let off = (h * 60 + m) as i32;
                t.offset = if *sign == b'-' { -off } else { off };
            }
            _ => return None,
        }
        let leap =
            t.year.is_multiple_of(4) && (!t.year.is_multiple_of(100) || t.year.is_multiple_of(400));
        let days = match t.month {
            1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
            4 | 6 | 9 | 11 => 30,
            2 if leap => 29,
            2 => 28,
            _ => return None,
        };
        if t.day < 1 || t.day > days || t.hour > 23 || t.minute > 59 || t.second > 59 {
            return None;
        }
        Some(t)
    }
}

impl fmt::Display for GoTime {
    /// RFC 3339 with nanoseconds, trailing zeros dropped (Go's
    /// `RFC3339Nano`), `Z` for a zero offset.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
            self.year, self.month, self.day, self.hour, self.minute, self.second
        )?;
        if self.nanos > 0 {
            let frac = format!("{:09}", self.nanos);
            write!(f, ".{}", frac.trim_end_matches('0'))?;
        }
        if self.offset == 0 {
            f.write_str("Z")
        } else {
            let sign = if self.offset < 0 { '-' } else { '+' };
            let o = self.offset.unsigned_abs();
            write!(f, "{sign}{:02}:{:02}", o / 60, o % 60)
        }
    }
}

/// `time.Time` (not a pointer): `null` is a no-op.
impl GoDecode for GoTime {
    fn decode(&mut self, v: &Value, path: &str) -> Result<(), DecodeError> {
        match v {
            Value::Null => Ok(()),
            Value::String(s) => {
                *self = GoTime::parse(s).ok_or_else(|| DecodeError::Time {
                    path: path.to_string(),
                    value: s.clone(),
                })?;
                Ok(())
            }
            _ => Err(type_err(path, "time", v)),
        }
    }
}

/// `*time.Time`: `null` resets it to nil.
impl GoDecode for Option<GoTime> {
    fn decode(&mut self, v: &Value, path: &str) -> Result<(), DecodeError> {
        match v {
            Value::Null => {
                *self = None;
                Ok(())
            }
            _ => {
                let mut t = self.unwrap_or_default();
                t.decode(v, path)?;
                *self = Some(t);
                Ok(())
            }
        }
    }
}

/// Writes `"key":` (with a comma before it unless it is the first).
pub fn key(out: &mut String, first: &mut bool, k: &str) {
    if !*first {
        out.push(',');
    }
    *first = false;
    write_string(out, k);
    out.push(':');
}

/// Writes a string slice (`null` when nil).
pub fn write_strings(out: &mut String, v: &Option<Vec<String>>) {
    match v {
        None => out.push_str("null"),
        Some(items) => {
            out.push('[');
            for (i, s) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_string(out, s);
            }
            out.push(']');
        }
    }
}

#[cfg(test)]
mod tests;
