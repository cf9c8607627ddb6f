//! Golden fixture pairs for the pure conversion functions: each source
//! document in `tests/golden/` and the exact bytes skopeo 1.9.3 writes for
//! it (from the conversion spec's worked examples; where the spec gives
//! only a length and digest, both are checked). Set `GOLDEN_BLESS=1` to
//! write missing expected files from the current output (then review them).

use rahti_migrate::convert::{self, Action, ChildOut, LayerFacts};
use rahti_migrate::oci::{media, Digest, ManifestKind};
use std::collections::HashMap;
use std::path::PathBuf;

fn path(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

fn read(name: &str) -> Vec<u8> {
    std::fs::read(path(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Compares `got` with the golden file `name`.
fn golden(name: &str, got: &[u8]) {
    let p = path(name);
    if !p.exists() && std::env::var("GOLDEN_BLESS").is_ok() {
        std::fs::write(&p, got).unwrap_or_else(|e| panic!("{name}: {e}"));
    }
    let want = read(name);
    assert_eq!(
        String::from_utf8_lossy(got),
        String::from_utf8_lossy(&want),
        "{name} differs"
    );
}

#[test]
fn a1_docker_config_to_oci() {
    let out = convert::config::OciImage::from_json(&read("a1.docker-config.json"))
        .expect("decodes")
        .to_json();
    golden("a1.oci-config.json", out.as_bytes());
    assert_eq!(
        Digest::of(out.as_bytes()).to_string(),
        "sha256:161aed97655f7260fc873fd0a3f30e97c324818fe98c12036ae66f4394c7d11e"
    );
    let dropped = convert::config::dropped_fields(&read("a1.docker-config.json"));
    for f in [
        "Size",
        "config.Healthcheck",
        "config.OnBuild",
        "config.Shell",
        "container_config",
        "docker_version",
        "id",
        "parent",
    ] {
        assert!(dropped.contains(&f.to_string()), "{f} not in {dropped:?}");
    }
    assert!(
        !dropped
            .iter()
            .any(|d| d == "config.Hostname" || d == "config.Tty"),
        "empty fields lose nothing: {dropped:?}"
    );
}

#[test]
fn observed_config_pairs() {
    let pairs: Vec<serde_json::Value> =
        serde_json::from_slice(&read("config-pairs.json")).expect("pairs");
    for p in pairs {
        let input = p["input"].as_str().unwrap_or("");
        let out = convert::config::OciImage::from_json(input.as_bytes()).map(|c| c.to_json());
        assert_eq!(
            out.as_deref(),
            Ok(p["output"].as_str().unwrap_or("")),
            "input {input}"
        );
    }
}

fn c1_facts() -> HashMap<Digest, LayerFacts> {
    let v: serde_json::Value = serde_json::from_slice(&read("c1.layer-facts.json")).expect("facts");
    v.as_object()
        .into_iter()
        .flatten()
        .map(|(k, f)| {
            (
                k.parse().expect("digest"),
                LayerFacts {
                    size: f["size"].as_u64().unwrap_or(0),
                    diff_id: f["diff_id"].as_str().and_then(|d| d.parse().ok()),
                    compressed: true,
                },
            )
        })
        .collect()
}

#[test]
fn c1_schema1_to_docker_and_oci() {
    let m = read("c1.schema1-manifest.json");
    let v2 = convert::image(
        Action::ToDocker,
        ManifestKind::DockerV1Signed,
        &m,
        None,
        &c1_facts(),
    )
    .expect("v2s2");
    let (d, cfg) = v2.config.clone().expect("config");
    golden("c1.v2s2-config.json", &cfg);
    assert!(d.to_string().starts_with("sha256:7bd4031d"), "{d}");
    golden("c1.v2s2-manifest.json", &v2.manifest);

    let oci = convert::image(
        Action::ToOci,
        ManifestKind::DockerV1Signed,
        &m,
        None,
        &c1_facts(),
    )
    .expect("oci");
    let (d, cfg) = oci.config.clone().expect("config");
    assert_eq!(cfg.len(), 958);
    assert!(d.to_string().starts_with("sha256:ff77ce3b"), "{d}");
    golden("c1.oci-config.json", &cfg);
    golden("c1.oci-manifest.json", &oci.manifest);
    for f in [
        "config.Healthcheck",
        "container_config",
        "docker_version",
        "moby.extra",
    ] {
        assert!(
            oci.dropped.contains(&f.to_string()),
            "{f} not in {:?}",
            oci.dropped
        );
    }
}

#[test]
fn schema2_manifest_with_a_foreign_layer_to_oci() {
    let out = convert::image(
        Action::ToOci,
        ManifestKind::DockerV2,
        &read("foreign.docker-manifest.json"),
        Some(&read("foreign.docker-config.json")),
        &HashMap::new(),
    )
    .expect("convert");
    golden("foreign.oci-manifest.json", &out.manifest);
    golden("foreign.oci-config.json", &out.config.expect("config").1);
}

#[test]
fn annotated_oci_manifest_to_docker() {
    let out = convert::image(
        Action::ToDocker,
        ManifestKind::OciManifest,
        &read("annotated.oci-manifest.json"),
        None,
        &HashMap::new(),
    )
    .expect("convert");
    golden("annotated.docker-manifest.json", &out.manifest);
}

#[test]
fn docker_list_to_oci_index() {
    let kids = [("x", 401), ("y", 402)]
        .iter()
        .enumerate()
        .map(|(i, (s, size))| ChildOut {
            position: i,
            digest: Digest::of(s.as_bytes()),
            size: *size,
            media_type: media::OCI_MANIFEST,
            config_platform: None,
        })
        .collect::<Vec<_>>();
    let out = convert::index(
        Action::ToOci,
        ManifestKind::DockerList,
        &read("two-platforms.docker-list.json"),
        &kids,
    )
    .expect("index");
    golden("two-platforms.oci-index.json", &out.manifest);
}

/// The plan and journal the `rewrite` corpus is rewritten with: `proj`
/// moves to `proj-new`; `app`, `db`, `worker` and the multi-platform
/// `multi` were migrated (some tags), `failed` was not.
fn rewrite_mapping() -> rahti_migrate::rewrite::Mapping {
    use rahti_migrate::journal::{ChildDigest, DoneTag, Replay};
    let plan = rahti_migrate::plan::Plan::parse(
        std::path::Path::new("/corpus/migration.toml"),
        r#"version = 1
[source]
registry = "docker-registry.rahti.csc.fi"
[target]
registry = "image-registry.apps.2.rahti.csc.fi"
[[projects]]
source = "proj"
target = "proj-new"
"#,
    )
    .expect("plan");
    let d = |c: char| -> Digest {
        format!("sha256:{}", c.to_string().repeat(64))
            .parse()
            .expect("digest")
    };
    let mut replay = Replay::default();
    let mut done = |tag: &str, from: char, to: char, children: Vec<ChildDigest>| {
        replay.done.insert(
            (format!("proj/{tag}"), format!("proj-new/{tag}")),
            DoneTag {
                source_digest: d(from),
                target_digest: d(to),
                format: rahti_migrate::model::Format::Oci,
                children,
            },
        );
    };
    done("app:v1", 'a', 'b', Vec::new());
    done("app:v2", 'c', 'd', Vec::new());
    done("db:15", '5', '6', Vec::new());
    done("worker:1.0", '7', '8', Vec::new());
    let child = ChildDigest {
        platform: "linux/amd64".into(),
        source_digest: d('1'),
        target_digest: d('4'),
    };
    done("multi:latest", '2', '3', vec![child]);
    rahti_migrate::rewrite::Mapping::new(&plan, &replay)
}

/// Every file of `tests/golden/rewrite/` (real-world shapes: `oc get -o
/// yaml` output, an OpenShift Template, Tekton, Argo, kustomize, Helm
/// values, an operator resource, anchors) rewritten: the text and a report
/// of every edit, every reference left and every other mention, each
/// against its golden file. The output parses, and rewriting it again
/// changes nothing.
#[test]
fn rewrite_corpus() {
    let m = rewrite_mapping();
    let dir = path("rewrite");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .expect("corpus")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.ends_with(".yaml"))
        .collect();
    names.sort();
    assert!(names.len() >= 10, "{names:?}");
    for name in names {
        let text = String::from_utf8(read(&format!("rewrite/{name}"))).expect("utf-8");
        let r = rahti_migrate::rewrite::rewrite_text(&text, &m)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut report = String::new();
        for e in &r.edits {
            report.push_str(&format!("{}: {} -> {}", e.line, e.old, e.new));
            if !e.aliases.is_empty() {
                report.push_str(&format!(" (aliases at {:?})", e.aliases));
            }
            report.push('\n');
        }
        for u in &r.unmapped {
            report.push_str(&format!(
                "{}: not rewritten: {}: {}\n",
                u.line, u.reference, u.reason
            ));
        }
        for x in &r.mentions {
            report.push_str(&format!("{}: mentions {}\n", x.line, x.host));
        }
        golden(&format!("rewrite/{name}.out"), r.text.as_bytes());
        golden(&format!("rewrite/{name}.report"), report.as_bytes());
        let again = rahti_migrate::rewrite::rewrite_text(&r.text, &m)
            .unwrap_or_else(|e| panic!("{name}: the output does not parse: {e}"));
        assert!(again.edits.is_empty(), "{name}: {:?}", again.edits);
        assert_eq!(again.text, r.text, "{name}");
    }
}
