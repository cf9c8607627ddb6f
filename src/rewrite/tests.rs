//! Unit tests of `rewrite`: every kind that holds image references, tag and
//! digest references, an alias, what cannot be mapped, and byte-for-byte
//! preservation of everything else.

use super::*;

fn digest(c: char) -> Digest {
    format!("sha256:{}", c.to_string().repeat(64))
        .parse()
        .unwrap_or_else(|e| panic!("{e}"))
}

fn mapping() -> Mapping {
    Mapping {
        source_hosts: vec![
            "docker-registry.rahti.csc.fi".into(),
            "docker-registry.default.svc:5000".into(),
        ],
        target_host: "image-registry.apps.2.rahti.csc.fi".into(),
        repos: [
            ("proj/app".to_string(), "proj-new/app".to_string()),
            ("proj/db".to_string(), "proj-new/db".to_string()),
        ]
        .into_iter()
        .collect(),
        projects: Vec::new(),
        digests: [(("proj/app".to_string(), digest('a')), digest('b'))]
            .into_iter()
            .collect(),
        done_tags: [
            "proj/app:v1",
            "proj/app:v2",
            "proj/db:v2",
            "proj/app:latest",
            "proj/db:15",
            "proj/app:init",
            "proj/db:13",
            "proj/db:backup",
            "proj/app:built",
            "proj/db:base",
            "proj/app:pod",
            "proj/db:sts",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
    }
}

#[test]
fn a_tag_not_migrated_is_reported_not_rewritten() {
    let m = mapping();
    let e = m.map(
        "docker-registry.rahti.csc.fi/proj/app:excluded",
        Role::Image,
    );
    assert!(
        e.as_ref()
            .err()
            .is_some_and(|e| e.contains("no migrated proj/app:excluded")),
        "{e:?}"
    );
}

const NEW: &str = "image-registry.apps.2.rahti.csc.fi/proj-new";

fn rewrite(text: &str) -> (String, Vec<Edit>, Vec<Unmapped>) {
    let r = rewrite_text(text, &mapping()).unwrap_or_else(|e| panic!("{e}"));
    (r.text, r.edits, r.unmapped)
}

#[test]
fn maps_tags_digests_and_aliases() {
    let m = mapping();
    assert_eq!(
        m.map("docker-registry.rahti.csc.fi/proj/app:v1", Role::Image)
            .ok()
            .flatten()
            .as_deref(),
        Some(format!("{NEW}/app:v1").as_str())
    );
    assert_eq!(
        m.map(
            &format!("docker-registry.default.svc:5000/proj/app@{}", digest('a')),
            Role::Image
        )
        .ok()
        .flatten(),
        Some(format!("{NEW}/app@{}", digest('b')))
    );
    assert_eq!(
        m.map(
            &format!("docker-registry.rahti.csc.fi/proj/app:v1@{}", digest('a')),
            Role::Image
        )
        .ok()
        .flatten(),
        Some(format!("{NEW}/app:v1@{}", digest('b')))
    );
    assert_eq!(
        m.map("quay.io/proj/app:v1", Role::Image),
        Ok(None),
        "not the source"
    );
    assert_eq!(m.map("busybox", Role::Image), Ok(None));
    assert!(m
        .map("docker-registry.rahti.csc.fi/other/x:v1", Role::Image)
        .is_err());
    assert!(m
        .map(
            &format!("docker-registry.rahti.csc.fi/proj/app@{}", digest('c')),
            Role::Image
        )
        .is_err());
}

#[test]
fn every_kind_is_rewritten_and_nothing_else_changes() {
    let d = digest('a');
    let text = format!(
        r#"# A comment that stays.
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app}}   # flow style stays too
spec:
  template:
    spec:
      initContainers:
        - name: init
          image: "docker-registry.rahti.csc.fi/proj/app:init"
      containers:
        - name: app
          image: docker-registry.rahti.csc.fi/proj/app@{d}   # pinned
        - name: side
          image: 'docker-registry.default.svc:5000/proj/db:13'
        - name: other
          image: quay.io/someone/else:1
---
kind: CronJob
spec:
  jobTemplate:
    spec:
      template:
        spec:
          containers:
          - image: docker-registry.rahti.csc.fi/proj/db:backup
---
apiVersion: apps.openshift.io/v1
kind: DeploymentConfig
spec:
  triggers:
    - type: ImageChange
      imageChangeParams:
        from: {{kind: ImageStreamTag, name: "app:latest"}}
    - type: ImageChange
      imageChangeParams:
        from:
          kind: DockerImage
          name: docker-registry.rahti.csc.fi/proj/app:v2
  template:
    spec:
      containers:
      - image: docker-registry.rahti.csc.fi/proj/app:v2
---
kind: BuildConfig
spec:
  output:
    to:
      name: docker-registry.rahti.csc.fi/proj/app:built
      kind: DockerImage
  strategy:
    dockerStrategy:
      from: {{kind: DockerImage, name: docker-registry.rahti.csc.fi/proj/db:base}}
---
kind: ImageStream
spec:
  tags:
  - name: v1
    from:
      kind: DockerImage
      name: docker-registry.rahti.csc.fi/proj/app:v1
---
kind: List
items:
- kind: Pod
  spec:
    containers:
    - {{name: p, image: docker-registry.rahti.csc.fi/proj/app:pod}}
- kind: StatefulSet
  spec:
    template:
      spec:
        containers:
        - image: docker-registry.rahti.csc.fi/proj/db:sts
          name: db
"#
    );
    let (out, edits, unmapped) = rewrite(&text);
    assert!(unmapped.is_empty(), "{unmapped:?}");
    let want = [
        format!("{NEW}/app:init"),
        format!("{NEW}/app@{}", digest('b')),
        format!("{NEW}/db:13"),
        format!("{NEW}/db:backup"),
        format!("{NEW}/app:v2"),
        format!("{NEW}/app:v2"),
        format!("{NEW}/app:built"),
        format!("{NEW}/db:base"),
        format!("{NEW}/app:v1"),
        format!("{NEW}/app:pod"),
        format!("{NEW}/db:sts"),
    ];
    let got: Vec<&str> = edits.iter().map(|e| e.new.as_str()).collect();
    assert_eq!(got, want.iter().map(String::as_str).collect::<Vec<_>>());
    // Everything but the values is byte for byte the same.
    let mut back = out.clone();
    for (old, new) in edits.iter().map(|e| (&e.old, &e.new)) {
        back = back.replacen(new.as_str(), old, 1);
    }
    assert_eq!(back, text, "only the values changed");
    assert!(out.contains("# A comment that stays."));
    assert!(
        out.contains(&format!("image: \"{NEW}/app:init\"")),
        "quotes kept"
    );
    assert!(out.contains(&format!("image: '{NEW}/db:13'")));
    assert!(out.contains("quay.io/someone/else:1"));
    assert!(
        out.contains(r#"name: "app:latest""#),
        "ImageStreamTag untouched"
    );
    let diff = unified_diff("deploy.yaml", &text, &out, &edits);
    assert!(
        diff.starts_with("--- a/deploy.yaml\n+++ b/deploy.yaml\n@@ -10 +10 @@\n"),
        "{diff}"
    );
}

#[test]
fn unmapped_references_are_listed_with_their_line_and_left_alone() {
    let text = "kind: Pod\nspec:\n  containers:\n  - image: docker-registry.rahti.csc.fi/other/x:1\n  - image: docker-registry.rahti.csc.fi/proj/app@sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc\n";
    let (out, edits, unmapped) = rewrite(text);
    assert!(edits.is_empty());
    assert_eq!(out, text);
    assert_eq!(unmapped.len(), 2);
    assert_eq!(unmapped[0].line, 4);
    assert!(
        unmapped[0].reason.contains("not in the plan"),
        "{unmapped:?}"
    );
    assert_eq!(unmapped[1].line, 5);
    assert!(unmapped[1].reason.contains("journal"), "{unmapped:?}");
}

#[test]
fn positions_are_bytes_after_non_ascii_text() {
    let text = "# Tämä on kommentti: äöå €\nkind: Pod\nspec:\n  containers:\n  - name: \"sovellus-ä\"\n    image: docker-registry.rahti.csc.fi/proj/app:v1\n";
    let (out, edits, _) = rewrite(text);
    assert_eq!(edits.len(), 1);
    assert_eq!(
        out,
        text.replace(
            "docker-registry.rahti.csc.fi/proj/app:v1",
            &format!("{NEW}/app:v1")
        )
    );
}

#[test]
fn not_yaml_is_an_error_with_a_line() {
    let e = rewrite_text("a: [\nb: c\n", &mapping()).err();
    assert!(e.is_some_and(|e| e.line >= 1));
}

#[test]
fn repositories_of_a_project_map_into_its_target_namespace() {
    let plan = crate::plan::Plan::parse(
        std::path::Path::new("/x/plan.toml"),
        r#"version = 1
[source]
registry = "docker-registry.rahti.csc.fi"
[target]
registry = "image-registry.apps.2.rahti.csc.fi"
[[projects]]
source = "proj"
target = "proj-new"
exclude_repositories = ["tmp"]
"#,
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let mut replay = crate::journal::Replay::default();
    let done = crate::journal::DoneTag {
        source_digest: digest('a'),
        target_digest: digest('b'),
        format: crate::model::Format::Oci,
        children: Vec::new(),
    };
    replay
        .done
        .insert(("proj/app:v1".into(), "proj-new/app:v1".into()), done);
    let m = Mapping::new(&plan, &replay);
    assert_eq!(
        m.map("docker-registry.default.svc:5000/proj/app:v1", Role::Image)
            .ok()
            .flatten(),
        Some("image-registry.apps.2.rahti.csc.fi/proj-new/app:v1".to_string())
    );
    assert!(m
        .map("docker-registry.rahti.csc.fi/proj/tmp:v1", Role::Image)
        .is_err());
    assert!(m
        .map("docker-registry.rahti.csc.fi/other/app:v1", Role::Image)
        .is_err());
}

#[test]
fn an_alias_or_merge_key_never_shifts_the_keys_after_it() {
    // openshift-ansible 3.11's amp.yml: `env: *base_env`, then `image:`.
    let text = "base: &base_env\n- name: A\n  value: b\nspec:\n  containers:\n  - name: c\n    env: *base_env\n    image: docker-registry.rahti.csc.fi/proj/app:v1\n  - <<: &d {name: x}\n    image: docker-registry.rahti.csc.fi/proj/db:v2\n";
    let (out, edits, unmapped) = rewrite(text);
    assert_eq!(edits.len(), 2, "{out}");
    assert!(unmapped.is_empty());
    assert!(out.contains(&format!("image: {NEW}/app:v1")), "{out}");
    assert!(out.contains(&format!("image: {NEW}/db:v2")), "{out}");
}

#[test]
fn deep_nesting_is_refused_without_overflowing_the_stack() {
    let deep = "[".repeat(30_000) + &"]".repeat(30_000);
    let e = rewrite_text(&deep, &mapping()).err().map(|e| e.to_string());
    // Refused by the depth bound or the scanner's own limit: an error,
    // never a crash.
    assert!(
        e.as_deref()
            .is_some_and(|e| e.contains("nested deeper than 1000") || e.contains("recursion limit")),
        "{e:?}"
    );
    let block: String = (0..2000)
        .map(|i| format!("{}- \n", " ".repeat(i)))
        .collect();
    assert!(rewrite_text(&block, &mapping()).is_err());
    // Within both bounds it parses (the scanner allows 255 flow levels).
    let ok = "[".repeat(200) + &"]".repeat(200);
    assert!(rewrite_text(&ok, &mapping()).is_ok());
}

#[cfg(unix)]
#[test]
fn writes_go_through_a_link_to_its_file_never_through_a_planted_name() {
    use std::os::unix::fs::{symlink, PermissionsExt};
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let real = dir.path().join("real.yaml");
    let link = dir.path().join("link.yaml");
    let victim = dir.path().join("victim");
    std::fs::write(&real, "a: 1\n").unwrap_or_else(|e| panic!("{e}"));
    std::fs::set_permissions(&real, std::fs::Permissions::from_mode(0o640))
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::write(&victim, "keep\n").unwrap_or_else(|e| panic!("{e}"));
    symlink(&real, &link).unwrap_or_else(|e| panic!("{e}"));
    // The name the old code wrote through.
    symlink(&victim, dir.path().join(".link.yaml.rahti-migrate.tmp"))
        .unwrap_or_else(|e| panic!("{e}"));
    symlink(&victim, dir.path().join(".real.yaml.rahti-migrate.tmp"))
        .unwrap_or_else(|e| panic!("{e}"));
    write_atomically(&link, "a: 2\n").unwrap_or_else(|e| panic!("{e}"));
    let read = |p: &std::path::Path| std::fs::read_to_string(p).unwrap_or_default();
    assert_eq!(
        read(&real),
        "a: 2\n",
        "the file the link points to is edited"
    );
    assert!(
        std::fs::symlink_metadata(&link).is_ok_and(|m| m.file_type().is_symlink()),
        "the link stays a link"
    );
    assert_eq!(read(&victim), "keep\n");
    let mode = std::fs::metadata(&real)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    assert_eq!(mode, 0o640);
    let victim_mode = std::fs::metadata(&victim)
        .map(|m| m.permissions().mode() & 0o777)
        .unwrap_or(0);
    assert_ne!(victim_mode, 0o640);
}

#[test]
fn what_kubectl_reads_parses_and_parser_panics_are_errors() {
    // A block scalar on the file's last line with no line break after it
    // (libyaml-safer panics on it as given).
    let text = "kind: ConfigMap\ndata:\n  run.sh: |\n    docker pull docker-registry.rahti.csc.fi/proj/app:v1";
    let (out, edits, _) = rewrite(text);
    assert_eq!(edits.len(), 1, "{out}");
    assert!(out.ends_with(&format!("{NEW}/app:v1")), "{out}");
    // A tag followed by `,` in a flow sequence: an error, not a crash.
    // (The test fails by the panic if it is not caught.)
    let e = rewrite_text("[[!a, b]]\n", &mapping()).err();
    assert!(e.is_some_and(|e| e.message.contains("libyaml-safer")));
}
