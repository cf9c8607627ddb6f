//! End-to-end tests of `run` and `status` against real registries: a
//! Rahti-1-like source and a Rahti-2-like target (see `support`).

mod support;

use rahti_migrate::copy::{self, Events};
use rahti_migrate::plan::Plan;
use support::fixtures::{config, layer};
use support::{harness, PlanOpts};

#[test]
fn smoke_registry_roundtrip() {
    let h = harness();
    let repo = h.unique("smoke/app");
    let layers = vec![layer(1, 1000)];
    let (d, _) = h
        .block_on(h.r1.image(&repo, "v1", &layers, config("amd64", &layers)))
        .expect("push");
    let got = h.block_on(h.r1.get_manifest(&repo, "v1")).expect("get");
    assert_eq!(got.digest, d);
    let dir = tempfile::tempdir().expect("tmp");
    let plan = h.plan(
        dir.path(),
        PlanOpts {
            images: &format!("[[images]]\nsource = \"{repo}\"\n"),
            options: "format = \"preserve\"\nretries = 2",
            ..Default::default()
        },
    );
    let plan = Plan::load(&plan).expect("plan");
    let s = h.block_on(copy::run(&plan, Events::none())).expect("run");
    assert!(s.failed.is_empty(), "{:?}", s.failed);
    let got2 = h
        .block_on(h.r2.get_manifest(&repo, "v1"))
        .expect("target has it");
    assert_eq!(got2.digest, d);
}
