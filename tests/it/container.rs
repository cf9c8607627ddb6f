//! The container image and the Indexed Job of `examples/openshift/`. No
//! cluster or image builder from the internet is reachable here, so: the
//! Job YAML is parsed and held to what the tool reads; an image equivalent
//! to the Containerfile's (the locally built binary and the libraries it
//! links, on `scratch`, as a non-root user) is built with `buildah`, pushed
//! into the test registry, and run with `podman` from there as the Job's
//! pod would run: the same arguments, `JOB_COMPLETION_INDEX`, the plan,
//! tokens and journal volume mounted where the Job mounts them.

use crate::support;

use std::path::Path;
use std::process::Command;
use support::containers::{ok, tool};
use support::project::seed;
use support::{harness, PlanOpts};
use yaml_rust2::{Yaml, YamlLoader};

const JOB: &str = include_str!("../../examples/openshift/job.yaml");

fn docs() -> Vec<Yaml> {
    YamlLoader::load_from_str(JOB).unwrap_or_else(|e| panic!("job.yaml: {e}"))
}

fn of_kind<'a>(docs: &'a [Yaml], kind: &str) -> &'a Yaml {
    docs.iter()
        .find(|d| d["kind"].as_str() == Some(kind))
        .unwrap_or_else(|| panic!("no {kind} in job.yaml"))
}

/// A container's arguments.
fn args_of(container: &Yaml) -> Vec<String> {
    container["args"]
        .as_vec()
        .into_iter()
        .flatten()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect()
}

/// The Job's container arguments.
fn job_args(docs: &[Yaml]) -> Vec<String> {
    args_of(&of_kind(docs, "Job")["spec"]["template"]["spec"]["containers"][0])
}

#[test]
fn the_job_runs_every_part_of_the_plan_it_mounts() {
    let docs = docs();
    let job = &of_kind(&docs, "Job")["spec"];
    assert_eq!(job["completionMode"].as_str(), Some("Indexed"));
    let n = job["completions"].as_i64().expect("completions");
    assert_eq!(job["parallelism"].as_i64(), Some(n), "all parts at once");
    let args = job_args(&docs);
    let at = args.iter().position(|a| a == "--shards").expect("--shards");
    assert_eq!(
        args.get(at + 1).map(String::as_str),
        Some(n.to_string().as_str())
    );
    assert_eq!(args.first().map(String::as_str), Some("run"));
    let pod = &job["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    let c = &pod["containers"][0];
    assert!(c["resources"]["requests"]["memory"].as_str().is_some());
    let mounts: Vec<(String, String)> = c["volumeMounts"]
        .as_vec()
        .into_iter()
        .flatten()
        .map(|m| {
            (
                m["name"].as_str().unwrap_or("").to_string(),
                m["mountPath"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    let volume = |name: &str| -> &Yaml {
        pod["volumes"]
            .as_vec()
            .into_iter()
            .flatten()
            .find(|v| v["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no volume {name}"))
    };
    let mount = |path: &str| -> &Yaml {
        let (name, _) = mounts
            .iter()
            .find(|(_, p)| p == path)
            .unwrap_or_else(|| panic!("nothing mounted at {path}"));
        volume(name)
    };
    assert!(mount("/plan")["configMap"]["name"].as_str().is_some());
    assert!(mount("/secrets")["secret"]["secretName"].as_str().is_some());
    assert!(mount("/journal")["persistentVolumeClaim"]["claimName"]
        .as_str()
        .is_some());
    // The plan in the ConfigMap is where the args say, and names the
    // mounted token files and journal volume.
    let plan_arg = args.last().expect("plan path");
    assert!(plan_arg.starts_with("/plan/"), "{plan_arg}");
    let file = plan_arg.trim_start_matches("/plan/");
    let text = of_kind(&docs, "ConfigMap")["data"][file]
        .as_str()
        .expect("the plan in the ConfigMap");
    assert!(text.contains("password_file = \"/secrets/"), "{text}");
    assert!(text.contains("journal = \"/journal/"), "{text}");
    // It is a valid plan once the token files exist.
    let dir = tempfile::tempdir().expect("tmp");
    let secrets = dir.path().join("secrets");
    std::fs::create_dir_all(&secrets).expect("mkdir");
    for f in ["rahti1-token", "rahti2-token"] {
        std::fs::write(secrets.join(f), "t").expect("write");
    }
    let local = text.replace("/secrets/", &format!("{}/", secrets.display()));
    if let Err(e) = rahti_migrate::plan::Plan::parse(&dir.path().join("migration.toml"), &local) {
        panic!("the Job's plan: {e}");
    }
}

/// The binary and the shared libraries it links, laid out for `scratch`.
fn image_context(dir: &Path) {
    let bin = env!("CARGO_BIN_EXE_rahti-migrate");
    std::fs::create_dir_all(dir.join("rootfs/usr/local/bin")).expect("mkdir");
    std::fs::copy(bin, dir.join("rootfs/usr/local/bin/rahti-migrate")).expect("copy binary");
    let ldd = Command::new("ldd").arg(bin).output().expect("ldd");
    for line in String::from_utf8_lossy(&ldd.stdout).lines() {
        // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)" or
        // "/lib64/ld-linux-x86-64.so.2 (0x...)".
        let path = line
            .split("=>")
            .last()
            .and_then(|p| p.split_whitespace().next())
            .filter(|p| p.starts_with('/'));
        if let Some(p) = path {
            let to = dir.join("rootfs").join(p.trim_start_matches('/'));
            std::fs::create_dir_all(to.parent().expect("parent")).expect("mkdir");
            std::fs::copy(p, &to).unwrap_or_else(|e| panic!("{p}: {e}"));
        }
    }
    std::fs::write(
        dir.join("Containerfile"),
        "FROM scratch\nCOPY rootfs/ /\nUSER 1001:0\nWORKDIR /journal\nENTRYPOINT [\"/usr/local/bin/rahti-migrate\"]\n",
    )
    .expect("Containerfile");
}

/// The image built like the Containerfile's, pushed into the test registry
/// and pulled from there as a cluster would: its local id.
fn pulled_image(h: &support::Harness, ns: &str, work: &Path) -> String {
    let ctx = work.join("ctx");
    image_context(&ctx);
    let mut b = tool("buildah", work);
    b.args(["bud", "-t", "localhost/rahti-migrate:test", "-f"])
        .arg(ctx.join("Containerfile"))
        .arg(&ctx);
    ok(b);
    let image = format!("{}/{ns}/rahti-migrate:test", h.rahti1.addr);
    let creds = format!("{}:{}", support::R1_USER, support::R1_PASS);
    let mut push = tool("buildah", work);
    push.args(["push", "--tls-verify=false", "--creds", &creds])
        .arg("localhost/rahti-migrate:test")
        .arg(format!("docker://{image}"));
    ok(push);
    let mut pull = tool("podman", work);
    pull.args(["pull", "--quiet", "--tls-verify=false", "--creds", &creds])
        .arg(format!("docker://{image}"));
    ok(pull).trim().to_string()
}

/// The pod's files: the plan (ConfigMap), the tokens (Secret), the journal
/// volume (PVC), as the Job and the CronJob mount them, for the project's
/// repositories.
fn pod_files(
    h: &support::Harness,
    p: &support::project::Project,
    work: &Path,
) -> std::path::PathBuf {
    let pod = work.join("pod");
    for d in ["plan", "secrets", "journal"] {
        std::fs::create_dir_all(pod.join(d)).expect("mkdir");
    }
    let images: String = ["app", "worker", "multi"]
        .iter()
        .map(|r| format!("[[images]]\nsource = \"{}/{r}\"\n", p.ns))
        .collect();
    let tmp = tempfile::tempdir().expect("tmp");
    let plan = h.plan(
        tmp.path(),
        PlanOpts {
            images: &images,
            options: "format = \"oci\"\njournal = \"/journal/migration.journal\"",
            ..Default::default()
        },
    );
    std::fs::copy(&h.pki.ca_file, pod.join("secrets/ca.crt")).expect("ca");
    std::fs::copy(tmp.path().join("r1.pass"), pod.join("secrets/rahti1-token")).expect("token");
    std::fs::copy(tmp.path().join("r2.pass"), pod.join("secrets/rahti2-token")).expect("token");
    let text = std::fs::read_to_string(&plan)
        .expect("plan")
        .replace(
            "password_file = \"r1.pass\"",
            "password_file = \"/secrets/rahti1-token\"",
        )
        .replace(
            "password_file = \"r2.pass\"",
            "password_file = \"/secrets/rahti2-token\"",
        )
        .replace(
            &format!("ca_file = \"{}\"", h.pki.ca_file.display()),
            "ca_file = \"/secrets/ca.crt\"",
        );
    std::fs::write(pod.join("plan/migration.toml"), text).expect("plan");
    // The arbitrary UID must be able to write the journal volume.
    ok({
        let mut c = Command::new("chmod");
        c.args(["-R", "a+rwX"]).arg(&pod);
        c
    });
    pod
}

/// Runs the image as a pod's container: `args`, `env`, the three volumes
/// mounted where the manifests mount them.
fn in_pod(
    work: &Path,
    id: &str,
    pod: &Path,
    env: &[String],
    args: &[String],
) -> std::process::Output {
    let mut run = tool("podman", work);
    run.args([
        "run",
        "--rm",
        "--runtime",
        "runc",
        "--cgroup-manager",
        "cgroupfs",
    ])
    .args([
        "--ulimit",
        "nofile=1024:1024",
        "--ulimit",
        "nproc=1024:1024",
    ])
    .args(["--network", "host"]);
    for e in env {
        run.args(["--env", e]);
    }
    for (d, ro) in [("plan", ":ro"), ("secrets", ":ro"), ("journal", "")] {
        run.arg("-v")
            .arg(format!("{}:/{d}{ro}", pod.join(d).display()));
    }
    run.arg(id);
    run.args(args.iter().filter(|a| !a.is_empty()));
    run.output().expect("podman run")
}

#[test]
fn the_image_runs_a_part_of_the_plan_as_the_job_would() {
    let h = harness();
    let p = seed(h, "pod");
    let work = tempfile::tempdir().expect("tmp");
    let id = pulled_image(h, &p.ns, work.path());
    let pod = pod_files(h, &p, work.path());
    let docs = docs();
    let args = job_args(&docs);
    let at = args.iter().position(|a| a == "--shards").expect("--shards");
    let n: u32 = args[at + 1].parse().expect("N");
    // The part with the most of this project's tags.
    let index = (0..n)
        .max_by_key(|i| {
            p.tags
                .iter()
                .filter(|(r, _, _)| rahti_migrate::shard::shard_of(r, n) == *i)
                .count()
        })
        .unwrap_or(0);
    let out = in_pod(
        work.path(),
        &id,
        &pod,
        &[format!("JOB_COMPLETION_INDEX={index}")],
        &args,
    );
    let err = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(out.status.success(), "the pod failed: {err}");
    // Part 0 of N wrote its own journal on the volume, with only its
    // repositories, every one of them done in the target.
    let journal = pod.join(format!("journal/migration.shard-{index}-of-{n}.journal"));
    let text = std::fs::read_to_string(&journal)
        .unwrap_or_else(|e| panic!("{}: {e}\n{err}", journal.display()));
    let mine: Vec<&(String, String, String)> = p
        .tags
        .iter()
        .filter(|(r, _, _)| rahti_migrate::shard::shard_of(r, n) == index)
        .collect();
    for (repo, tag, _) in &p.tags {
        let done = text.contains(&format!("\"kind\":\"done\",\"source\":\"{repo}:{tag}\""));
        let is_mine = mine.iter().any(|(r, t, _)| r == repo && t == tag);
        assert_eq!(
            done,
            is_mine,
            "{repo}:{tag} (part {}): {err}",
            rahti_migrate::shard::shard_of(repo, n)
        );
        if is_mine {
            assert!(!h.target_digest(&format!("{repo}:{tag}")).is_empty());
        }
    }
    eprintln!(
        "part {index} of {n} copied {} tags in a podman container",
        mine.len()
    );
}

const CRONJOB: &str = include_str!("../../examples/openshift/cronjob.yaml");

/// A container's args in the CronJob's pod (`initContainers` or
/// `containers`).
fn cron_args(pod: &Yaml, list: &str) -> Vec<String> {
    args_of(&pod[list][0])
}

/// The CronJob: never two syncs at once, the sync (an init container)
/// before the verify, both on the plan, tokens and journal volume of the
/// Job's manifests. Its pod run twice with podman as the cluster would:
/// the first sync copies the project and verifies it, the second copies
/// nothing and verifies again.
#[test]
fn the_cronjob_syncs_then_verifies_and_a_second_run_is_a_no_op() {
    let docs = YamlLoader::load_from_str(CRONJOB).unwrap_or_else(|e| panic!("cronjob.yaml: {e}"));
    let cron = &of_kind(&docs, "CronJob")["spec"];
    assert_eq!(cron["concurrencyPolicy"].as_str(), Some("Forbid"));
    assert!(cron["schedule"]
        .as_str()
        .is_some_and(|s| s.split_whitespace().count() == 5));
    let pod = &cron["jobTemplate"]["spec"]["template"]["spec"];
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    let sync = cron_args(pod, "initContainers");
    let verify = cron_args(pod, "containers");
    assert_eq!(sync.first().map(String::as_str), Some("run"));
    assert_eq!(verify.first().map(String::as_str), Some("verify"));
    let job_plan = job_args(&self::docs()).last().cloned().expect("plan");
    assert_eq!(sync.last(), Some(&job_plan), "the Job's plan");
    assert_eq!(verify.last(), Some(&job_plan), "the Job's plan");
    // The same ConfigMap, Secret and volume claim as job.yaml.
    let job_docs = self::docs();
    let names = |pod: &Yaml| -> Vec<String> {
        pod["volumes"]
            .as_vec()
            .into_iter()
            .flatten()
            .map(|v| {
                [
                    &v["configMap"]["name"],
                    &v["secret"]["secretName"],
                    &v["persistentVolumeClaim"]["claimName"],
                ]
                .iter()
                .find_map(|n| n.as_str())
                .unwrap_or("")
                .to_string()
            })
            .collect()
    };
    let mut a = names(pod);
    let mut b = names(&of_kind(&job_docs, "Job")["spec"]["template"]["spec"]);
    a.sort();
    b.sort();
    assert_eq!(a, b);

    let h = harness();
    let p = seed(h, "cron");
    let work = tempfile::tempdir().expect("tmp");
    let id = pulled_image(h, &p.ns, work.path());
    let pod_dir = pod_files(h, &p, work.path());
    let mut copied = Vec::new();
    for round in 0..2 {
        let out = in_pod(work.path(), &id, &pod_dir, &[], &sync);
        let err = String::from_utf8_lossy(&out.stderr).to_string();
        assert!(out.status.success(), "sync {round}: {err}");
        let summary: serde_json::Value = err
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .find(|v| v["event"] == "summary")
            .unwrap_or_else(|| panic!("no summary: {err}"));
        copied.push(summary["copied"].as_u64().unwrap_or(u64::MAX));
        let out = in_pod(work.path(), &id, &pod_dir, &[], &verify);
        assert!(
            out.status.success(),
            "verify {round}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        copied,
        [p.tags.len() as u64, 0],
        "the second sync copies nothing"
    );
}
