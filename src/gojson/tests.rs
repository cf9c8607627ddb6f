//! Unit tests of the Go JSON reproduction: escaping, parsing, decoding, time.

use super::*;

fn roundtrip_str(json: &[u8]) -> String {
    match parse(json) {
        Ok(Value::String(s)) => string_lit(&s),
        other => panic!("not a string: {other:?}"),
    }
}

#[test]
fn escapes_like_go() {
    assert_eq!(string_lit("a<b>&c"), r#""a\u003cb\u003e\u0026c""#);
    assert_eq!(
        string_lit("\u{8}\u{c}\n\r\t\u{1f}"),
        r#""\u0008\u000c\n\r\t\u001f""#
    );
    assert_eq!(string_lit("\u{2028}\u{2029}"), r#""\u2028\u2029""#);
    assert_eq!(
        string_lit("\"\\/ \u{7f} é 日本"),
        "\"\\\"\\\\/ \u{7f} é 日本\""
    );
}

#[test]
fn unescapes_like_go() {
    assert_eq!(
        roundtrip_str(br#""\/ \u0041 caf\u00e9 \ud83d\ude00""#),
        "\"/ A café 😀\""
    );
    assert_eq!(roundtrip_str(b"\"\xc3(\""), "\"\u{FFFD}(\"");
    assert_eq!(roundtrip_str(b"\"\xff\xfe\""), "\"\u{FFFD}\u{FFFD}\"");
    assert_eq!(roundtrip_str(br#""\ud800x""#), "\"\u{FFFD}x\"");
    assert_eq!(roundtrip_str(br#""\ud800\u0041""#), "\"\u{FFFD}A\"");
    assert!(parse(b"\"a\x01\"").is_err());
}

#[test]
fn keeps_order_and_duplicates() {
    let v = parse(br#"{"b":1,"a":2,"b":3}"#).expect("parse");
    let Value::Object(m) = v else {
        panic!("object")
    };
    let keys: Vec<&str> = m.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(keys, vec!["b", "a", "b"]);
    assert!(parse(b"{} x").is_err());
    assert!(parse(b"[1,]").is_err());
    assert_eq!(
        parse(b" -1.5e3 ").ok(),
        Some(Value::Number("-1.5e3".into()))
    );
}

#[test]
fn compact_escapes_html_and_keeps_the_rest() {
    let raw = "{ \"b\": 1.50, \"a\" : [1, 2 ],\n \"s\": \"<x> & \\u00e9 \\/ \u{2028}\" }";
    assert_eq!(
        String::from_utf8(compact(raw.as_bytes())).unwrap_or_default(),
        r#"{"b":1.50,"a":[1,2],"s":"\u003cx\u003e \u0026 \u00e9 \/ \u2028"}"#
    );
}

#[test]
fn raw_members_of_an_object() {
    let m = raw_members(br#"{ "a" : {"x": [1] }, "b":"s" }"#).expect("members");
    assert_eq!(m.len(), 2);
    assert_eq!(m[0].0, "a");
    assert_eq!(m[0].1, br#"{"x": [1] }"#);
    assert_eq!(m[1].1, br#""s""#);
}

#[test]
fn times_round_trip_like_go() {
    let cases = [
        (
            "2021-03-04T05:06:07.123456789+02:00",
            "2021-03-04T05:06:07.123456789+02:00",
        ),
        (
            "2021-03-04T05:06:08.100000000-07:30",
            "2021-03-04T05:06:08.1-07:30",
        ),
        ("2021-03-04T05:06:09.5+00:00", "2021-03-04T05:06:09.5Z"),
        ("2021-03-04T05:06:06-00:00", "2021-03-04T05:06:06Z"),
        ("2021-03-04T05:06:06.000Z", "2021-03-04T05:06:06Z"),
        (
            "2021-03-04T05:06:06.1234567891234+00:00",
            "2021-03-04T05:06:06.123456789Z",
        ),
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
        (
            "2019-05-06T07:08:09.000001000+02:00",
            "2019-05-06T07:08:09.000001+02:00",
        ),
    ];
    for (i, o) in cases {
        assert_eq!(
            GoTime::parse(i).map(|t| t.to_string()).as_deref(),
            Some(o),
            "{i}"
        );
    }
    for bad in [
        "",
        "2021-02-30T00:00:00Z",
        "2021-03-04 05:06:07Z",
        "2021-03-04T05:06:07",
        "2021-03-04T25:06:07Z",
        "2021-03-04T05:06:07+2:00",
    ] {
        assert_eq!(GoTime::parse(bad), None, "{bad}");
    }
    assert_eq!(GoTime::zero().to_string(), "0001-01-01T00:00:00Z");
}

#[derive(Default, Debug, PartialEq)]
struct S {
    name: String,
    list: Option<Vec<String>>,
    map: Option<BTreeMap<String, String>>,
    flag: bool,
}

impl GoDecode for S {
    fn decode(&mut self, v: &Value, path: &str) -> Result<(), DecodeError> {
        decode_struct(v, path, &["name", "List", "map", "flag"], |i, v| match i {
            0 => self.name.decode(v, "name"),
            1 => self.list.decode(v, "List"),
            2 => self.map.decode(v, "map"),
            _ => self.flag.decode(v, "flag"),
        })
    }
}

#[test]
fn decodes_with_go_rules() {
    let v = parse(br#"{"NAME":"a","name":null,"list":["x"],"LIST":["y","z"],"map":{"k":"1"},"Map":{"j":"2"},"flag":true,"other":[1]}"#).expect("parse");
    let mut s = S::default();
    s.decode(&v, "").expect("decode");
    assert_eq!(s.name, "a", "null on a string is a no-op");
    assert_eq!(
        s.list,
        Some(vec!["y".into(), "z".into()]),
        "arrays replaced"
    );
    assert_eq!(s.map.as_ref().map(|m| m.len()), Some(2), "maps merged");
    assert!(s.flag);
    let v = parse(br#"{"list":null,"map":{"k":1}}"#).expect("parse");
    let mut s2 = S {
        list: Some(vec![]),
        ..S::default()
    };
    let e = s2
        .decode(&v, "")
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(s2.list, None, "null resets a slice");
    assert_eq!(e, "field map: a JSON number cannot be stored in a string");
}

#[test]
fn unicode_escapes_are_exactly_four_hex_digits() {
    for bad in [
        r#""\u+041""#,
        r#""\u-041""#,
        r#""\u 041""#,
        r#""\u04""#,
        r#""\u004g""#,
    ] {
        assert!(parse(bad.as_bytes()).is_err(), "{bad} accepted");
    }
    assert_eq!(
        parse(br#""\u0041\uD83D\uDE00\uD800x\uDC00""#).ok(),
        Some(Value::String("A\u{1F600}\u{FFFD}x\u{FFFD}".into()))
    );
}

#[test]
fn the_deepest_document_allowed_fits_a_256_kib_stack() {
    let nested = |n: usize, open: &str, close: &str| {
        let mut s = open.repeat(n);
        s.push_str(&close.repeat(n));
        s
    };
    let worker = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(move || {
            for (open, close) in [("[", "]"), ("{\"a\":", "}")] {
                let mut ok = open.repeat(MAX_DEPTH);
                ok.push_str(if open == "[" { "" } else { "0" });
                ok.push_str(&close.repeat(MAX_DEPTH));
                let v = parse(ok.as_bytes());
                assert!(v.is_ok(), "depth {MAX_DEPTH} refused: {v:?}");
                let copy = v.clone();
                drop((v, copy));
            }
            let deep = nested(MAX_DEPTH + 1, "[", "]");
            assert!(parse(deep.as_bytes()).is_err(), "deeper than the limit");
            let hostile = nested(100_000, "[", "]");
            assert!(parse(hostile.as_bytes()).is_err());
        });
    match worker.map(|w| w.join()) {
        Ok(Ok(())) => {}
        _ => panic!("the parser overflowed or failed on a 256 KiB stack"),
    }
}
