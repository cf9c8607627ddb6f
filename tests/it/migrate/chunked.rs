//! Chunked and resumable transfers: failed chunks, interrupted downloads with and without Range, lost commit answers, PATCH-only registries.

use super::*;

/// A plan for `p` with 100 KB upload chunks (the 316 KB base layer goes in
/// four chunks), through the given proxies.
fn chunked_plan(h: &Harness, p: &Project, dir: &Path, source: Option<&str>) -> PathBuf {
    let imgs = images_toml(p);
    h.plan(
        dir,
        PlanOpts {
            source_addr: source,
            images: &imgs,
            options: "format = \"preserve\"\nchunk_size = \"100KB\"\nretries = 3",
            ..Default::default()
        },
    )
}

#[test]
fn a_failed_chunk_resumes_from_the_registrys_offset_without_reading_again() {
    let h = harness();
    let p = seed(h, "chunkpatch");
    let target = h.proxy_r2();
    // The second chunk of the first chunked upload is cut off.
    target.add_after(Some("PATCH"), "/blobs/uploads/", Fault::Reset, 1, 1);
    let source = h.proxy_r1();
    let dir = tempfile::tempdir().expect("tmp");
    let plan = chunked_plan(h, &p, dir.path(), Some(&source.addr));
    h.target_via(&plan, &target);
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_migrated(h, &p);
    let base = format!("/blobs/{}", p.layer["base"]);
    assert_eq!(source.hits("GET", &base).len(), 1, "the blob was read once");
    let patches = target.hits("PATCH", "/blobs/uploads/");
    assert_eq!(patches.len(), 5, "four chunks and one resent: {patches:?}");
    assert!(patches.contains(&0), "the reset fired");
    assert_eq!(
        target
            .hits("GET", "/blobs/uploads/")
            .iter()
            .filter(|s| **s == 204)
            .count(),
        1,
        "the session's offset was asked once"
    );
}

#[test]
fn an_interrupted_download_resumes_with_range() {
    interrupted_download(false);
}

#[test]
fn an_interrupted_download_from_a_source_ignoring_range_skips_what_it_has() {
    interrupted_download(true);
}

fn interrupted_download(ignore_range: bool) {
    let h = harness();
    let p = seed(h, "chunkrange");
    let source = h.proxy_r1();
    let base = format!("/blobs/{}", p.layer["base"]);
    source.add(Some("GET"), &base, Fault::Truncate(150_000), 1);
    if ignore_range {
        source.add(Some("GET"), &base, Fault::IgnoreRange, 1);
    }
    let target = h.proxy_r2();
    let dir = tempfile::tempdir().expect("tmp");
    let plan = chunked_plan(h, &p, dir.path(), Some(&source.addr));
    h.target_via(&plan, &target);
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_migrated(h, &p);
    assert_eq!(
        source.ranges(&base),
        vec![None, Some("bytes=150000-".to_string())],
        "the read went on from the byte where it stopped"
    );
    assert_eq!(
        target.hits("PATCH", "/blobs/uploads/").len(),
        4,
        "no byte was uploaded twice"
    );
    assert!(
        target.hits("DELETE", "/blobs/uploads/").is_empty(),
        "the session was kept"
    );
}

#[test]
fn a_chunked_upload_whose_commit_answer_is_lost_is_not_sent_again() {
    let h = harness();
    let p = seed(h, "chunkcommit");
    let target = h.proxy_r2();
    // The registry commits the blob; its answer never arrives.
    target.add(Some("PUT"), "/blobs/uploads/", Fault::CommitLost, 1);
    let dir = tempfile::tempdir().expect("tmp");
    let plan = chunked_plan(h, &p, dir.path(), None);
    h.target_via(&plan, &target);
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_migrated(h, &p);
    // The chunked blob was committed once: after the lost answer it was
    // looked up, not sent again. (Every blob is looked up before its
    // transfer too, so a HEAD alone would prove nothing.)
    let base = &p.layer["base"];
    let commits: Vec<_> = target
        .requests()
        .into_iter()
        .filter(|r| r.method == "PUT" && r.query.replace("%3A", ":").contains(base.as_str()))
        .collect();
    assert_eq!(commits.len(), 1, "{commits:?}");
    let heads = target.hits("HEAD", &format!("/blobs/{base}"));
    assert!(
        heads.len() >= 2,
        "looked up before and after the commit: {heads:?}"
    );
}

/// A registry that takes blob bytes only in a `PATCH` (refusing a `PUT`
/// with a body, as the `container-registry` crate does) and reads the
/// upload `POST`'s `Content-Length`: every image copies. The first refused
/// `PUT` switches the run to `PATCH` then an empty `PUT`; every `POST`
/// carries `Content-Length: 0`.
#[test]
fn a_registry_taking_blob_bytes_only_in_patch_gets_them_there() {
    let h = harness();
    let p = seed(h, "patchonly");
    let target = h.proxy_r2();
    target.add(
        Some("PUT"),
        "/blobs/uploads/",
        Fault::BodyRefused(500),
        usize::MAX,
    );
    target.add(
        Some("POST"),
        "/blobs/uploads/",
        Fault::LengthRequired(500),
        usize::MAX,
    );
    let (_dir, plan) = project_plan(h, &p, None, "format = \"preserve\"\nconcurrency = 1");
    h.target_via(&plan, &target);
    let s = run_lib(h, &plan);
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    assert_migrated(h, &p);
    let refused_puts = target
        .hits("PUT", "/blobs/uploads/")
        .iter()
        .filter(|c| **c == 500)
        .count();
    assert_eq!(refused_puts, 1, "one refused PUT, then PATCH");
    assert!(target
        .hits("POST", "/blobs/uploads/")
        .iter()
        .all(|c| *c != 500));
    assert!(!target.hits("PATCH", "/blobs/uploads/").is_empty());
    // A re-run uploads nothing.
    let before = target.hits("PATCH", "/blobs/uploads/").len();
    let again = run_lib(h, &plan);
    assert_eq!(again.copied, 0, "{again:?}");
    assert_eq!(target.hits("PATCH", "/blobs/uploads/").len(), before);
}
