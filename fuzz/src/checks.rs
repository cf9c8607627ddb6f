//! What each fuzz target checks, as plain functions of the input bytes:
//! shared by the cargo-fuzz targets (`fuzz_targets/`) and by the main
//! crate's `tests/fuzz_regressions.rs`, which runs them over the seeds and
//! every crash found so far.

use rahti_migrate::convert;
use rahti_migrate::gojson::{self, Value};
use rahti_migrate::model::Format;
use rahti_migrate::oci::{media, Manifest};
use std::collections::HashMap;

/// The plan parser: any text is a plan or a clear error, never a panic.
pub fn plan(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ =
            rahti_migrate::plan::Plan::parse(std::path::Path::new("/fuzz/migration.toml"), text);
    }
}

/// Manifest, index and config parsing, and every conversion of what
/// parses: hostile bytes give errors, never panics. The first byte picks
/// the Content-Type and the target format; a config follows the manifest
/// after a NUL byte.
pub fn manifest(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let (manifest, config) = match rest.iter().position(|b| *b == 0) {
        Some(i) => (&rest[..i], Some(&rest[i + 1..])),
        None => (rest, None),
    };
    let types = [
        None,
        Some(media::DOCKER_MANIFEST),
        Some(media::DOCKER_LIST),
        Some(media::OCI_MANIFEST),
        Some(media::OCI_INDEX),
        Some(media::DOCKER_V1_SIGNED),
        Some(media::DOCKER_V1),
    ];
    let ct = types[sel as usize % types.len()];
    let format = [Format::Oci, Format::Docker, Format::Preserve][(sel as usize / 7) % 3];
    if let Some(c) = config {
        let _ = convert::config::dropped_fields(c);
    }
    let Ok(m) = Manifest::parse(ct, manifest.to_vec().into()) else {
        return;
    };
    let action = convert::decide(format, m.kind);
    let _ = convert::image(action, m.kind, &m.raw, config, &HashMap::new());
    let _ = convert::schema1::needed_layers(&m.raw);
    let _ = convert::schema1::dropped_fields(&m.raw);
}

fn same(g: &Value, s: &serde_json::Value) -> bool {
    match (g, s) {
        (Value::Null, serde_json::Value::Null) => true,
        (Value::Bool(a), serde_json::Value::Bool(b)) => a == b,
        (Value::String(a), serde_json::Value::String(b)) => a == b,
        // Both read the same number; serde_json's default float parser is
        // not correctly rounded past 17 significant digits (found by this
        // fuzzer: `9999...9` with 54 nines), so allow one unit in the last
        // place there.
        (Value::Number(a), serde_json::Value::Number(b)) => match (a.parse::<f64>(), b.as_f64()) {
            (Ok(x), Some(y)) => {
                x == y || (x - y).abs() <= 2.0 * f64::EPSILON * x.abs().max(y.abs())
            }
            _ => false,
        },
        (Value::Array(a), serde_json::Value::Array(b)) => {
            a.len() == b.len() && a.iter().zip(b).all(|(x, y)| same(x, y))
        }
        (Value::Object(members), serde_json::Value::Object(map)) => {
            // The last of repeated keys wins, as in a Go map.
            let mut last: std::collections::BTreeMap<&str, &Value> = Default::default();
            for (k, v) in members {
                last.insert(k, v);
            }
            last.len() == map.len()
                && last
                    .iter()
                    .all(|(k, v)| map.get(*k).is_some_and(|s| same(v, s)))
        }
        _ => false,
    }
}

/// The Go-JSON parser against serde_json: on every input both accept they
/// agree; the parser never panics or overflows its stack.
pub fn gojson(data: &[u8]) {
    let ours = gojson::parse(data);
    let theirs = serde_json::from_slice::<serde_json::Value>(data);
    if let (Ok(g), Ok(s)) = (&ours, &theirs) {
        assert!(
            same(g, s),
            "gojson and serde_json read {:?} differently",
            String::from_utf8_lossy(data)
        );
        let _ = gojson::ambiguous_key(g);
    }
    let _ = gojson::compact(data);
}

/// `WWW-Authenticate` parsing: any header value is a challenge or none.
pub fn challenge(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = rahti_migrate::registry::auth::parse_challenge(text);
    }
}

/// Journal replay: any file is a replay (up to a torn last line) or a
/// clear error, and the good part is never longer than the input.
pub fn journal(data: &[u8]) {
    let path = std::path::Path::new("/fuzz/migration.journal");
    if let Ok((replay, good)) = rahti_migrate::journal::replay_from(path, data) {
        assert!(good as usize <= data.len());
        assert!(replay.records <= data.len());
    }
}

/// `rewrite` over any bytes: no panic, no stack overflow; when the input
/// parses, the output parses too, and without edits it is the input.
pub fn rewrite(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let digest = |c: char| -> Option<rahti_migrate::oci::Digest> {
        format!("sha256:{}", c.to_string().repeat(64)).parse().ok()
    };
    let (Some(a), Some(b)) = (digest('a'), digest('b')) else {
        return;
    };
    let m = rahti_migrate::rewrite::Mapping {
        source_hosts: vec![
            "r1.example".into(),
            "docker-registry.default.svc:5000".into(),
        ],
        target_host: "r2.example".into(),
        repos: [("p/app".to_string(), "q/app".to_string())]
            .into_iter()
            .collect(),
        projects: Vec::new(),
        digests: [(("p/app".to_string(), a), b)].into_iter().collect(),
        done_tags: ["p/app:v1".to_string()].into_iter().collect(),
    };
    // libyaml-safer panics on a few inputs; `rewrite` catches those and
    // returns an error. libFuzzer's panic hook aborts on any panic, caught
    // or not, so it is set aside for the call: a panic in our own code
    // still aborts, as `rewrite_text` catches only the parser's.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let result = rahti_migrate::rewrite::rewrite_text(text, &m);
    std::panic::set_hook(hook);
    if let Ok(r) = result {
        if r.edits.is_empty() {
            assert_eq!(r.text, text);
        }
        assert!(
            rahti_migrate::rewrite::rewrite_text(&r.text, &m).is_ok(),
            "the rewritten text does not parse"
        );
    }
}
