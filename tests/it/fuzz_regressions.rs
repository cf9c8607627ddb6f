//! The fuzz targets' checks (`fuzz/src/checks.rs`), run over their seeds
//! and over every input a fuzzer ever found failing
//! (`fuzz/regressions/<target>/`), so each crash stays fixed. The fuzzers
//! themselves run with `fuzz/run.sh` (cargo-fuzz, nightly).

#[path = "../../fuzz/src/checks.rs"]
#[allow(dead_code)]
mod checks;

use std::path::Path;

fn each_input(target: &str, check: fn(&[u8])) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    let mut n = 0;
    for dir in ["seeds", "regressions"] {
        let Ok(entries) = std::fs::read_dir(root.join(dir).join(target)) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|f| f == ".keep") {
                continue;
            }
            let data = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            // A panic names the input.
            let r = std::panic::catch_unwind(|| check(&data));
            assert!(r.is_ok(), "{target}: {} fails", p.display());
            n += 1;
        }
    }
    n
}

#[test]
fn seeds_and_past_crashes_pass_every_check() {
    let mut total = 0;
    for (t, f) in [
        ("plan", checks::plan as fn(&[u8])),
        ("manifest", checks::manifest),
        ("gojson", checks::gojson),
        ("challenge", checks::challenge),
        ("journal", checks::journal),
        ("rewrite", checks::rewrite),
    ] {
        let n = each_input(t, f);
        assert!(n > 0, "no inputs for {t}");
        total += n;
    }
    assert!(total >= 30, "{total} inputs");
}

#[test]
fn hostile_shapes_are_refused_without_a_crash() {
    // Deep nesting, on a small stack, through every JSON entry point.
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let worker = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(move || {
            checks::gojson(deep.as_bytes());
            let mut m = vec![3u8];
            m.extend_from_slice(deep.as_bytes());
            checks::manifest(&m);
            checks::journal(deep.as_bytes());
            checks::rewrite(deep.as_bytes());
            let block: String = (0..30_000).map(|_| "- ").collect();
            checks::rewrite(block.as_bytes());
        });
    assert!(
        matches!(worker.map(|w| w.join()), Ok(Ok(()))),
        "overflow or panic"
    );
    checks::challenge(&[b'"'; 10_000]);
    checks::plan(&vec![b'['; 10_000]);
}
