//! A small Rahti-1-like sample project, pushed into the source registry:
//! shared base layers across repositories, several tags, and a
//! two-platform manifest list. Used by the tests and the demo.

use super::fixtures::{config, layer, DOCKER_LIST, DOCKER_MANIFEST};
use super::Harness;

/// A small Rahti-1-like project: shared base layers across repositories,
/// several tags, and a two-platform manifest list.
pub struct Project {
    pub ns: String,
    /// (repo, tag, manifest digest)
    pub tags: Vec<(String, String, String)>,
    /// Layer digests by name, for fault rules.
    pub layer: std::collections::HashMap<&'static str, String>,
}

impl Project {
    /// `[[images]]` for every repository of the project, each into the
    /// same name behind `prefix` (`""`: the same name).
    pub fn images_into(&self, prefix: &str) -> String {
        let repos: std::collections::BTreeSet<&String> =
            self.tags.iter().map(|(r, _, _)| r).collect();
        repos
            .iter()
            .map(|r| format!("[[images]]\nsource = \"{r}\"\ntarget = \"{prefix}{r}\"\n"))
            .collect()
    }
}

pub fn seed(h: &Harness, prefix: &str) -> Project {
    let ns = h.unique(prefix);
    let s = (ns.len() as u64) << 32 | h.unique("").parse::<u64>().unwrap_or(0) << 8;
    let base = layer(s + 1, 300_000);
    let app1 = layer(s + 2, 50_000);
    let app2 = layer(s + 3, 60_000);
    let work = layer(s + 4, 40_000);
    let arm = layer(s + 5, 30_000);
    let r1 = &h.r1;
    let mut tags = Vec::new();
    let mut names = std::collections::HashMap::new();
    let nsr = &ns;
    h.block_on(async {
        let ns = nsr;
        let app = format!("{ns}/app");
        let l1 = vec![base.clone(), app1.clone()];
        let (d1, ds) = r1.image(&app, "v1", &l1, config("amd64", &l1)).await.expect("push app:v1");
        names.insert("base", ds[0].clone());
        names.insert("app1", ds[1].clone());
        let l2 = vec![base.clone(), app2.clone()];
        let (d2, ds) = r1.image(&app, "v2", &l2, config("amd64", &l2)).await.expect("push app:v2");
        names.insert("app2", ds[1].clone());
        let m = r1.get_manifest(&app, "v2").await.expect("get v2");
        r1.manifest(&app, "latest", DOCKER_MANIFEST, &m.body).await.expect("tag latest");
        tags.push((app.clone(), "latest".to_string(), d2.clone()));
        tags.push((app.clone(), "v1".to_string(), d1));
        tags.push((app.clone(), "v2".to_string(), d2));

        let worker = format!("{ns}/worker");
        let lw = vec![base.clone(), work.clone()];
        let (dw, ds) = r1.image(&worker, "v1", &lw, config("amd64", &lw)).await.expect("push worker");
        names.insert("work", ds[1].clone());
        tags.push((worker, "v1".to_string(), dw));

        let multi = format!("{ns}/multi");
        let la = vec![base.clone()];
        let (da, _) = r1.image(&multi, "amd64-only", &la, config("amd64", &la)).await.expect("amd64");
        let lr = vec![arm.clone()];
        let (dr, ds) = r1.image(&multi, "arm64-only", &lr, config("arm64", &lr)).await.expect("arm64");
        names.insert("arm", ds[0].clone());
        let size_a = r1.get_manifest(&multi, &da).await.map(|g| g.body.len()).unwrap_or(0);
        let size_r = r1.get_manifest(&multi, &dr).await.map(|g| g.body.len()).unwrap_or(0);
        let list = serde_json::json!({
            "schemaVersion": 2, "mediaType": DOCKER_LIST,
            "manifests": [
                {"mediaType": DOCKER_MANIFEST, "size": size_a, "digest": da, "platform": {"architecture": "amd64", "os": "linux"}},
                {"mediaType": DOCKER_MANIFEST, "size": size_r, "digest": dr, "platform": {"architecture": "arm64", "os": "linux", "variant": "v8"}}
            ]
        });
        let body = serde_json::to_vec_pretty(&list).expect("json");
        let dl = r1.manifest(&multi, "v1", DOCKER_LIST, &body).await.expect("push list");
        tags.push((multi.clone(), "amd64-only".to_string(), da));
        tags.push((multi.clone(), "arm64-only".to_string(), dr));
        tags.push((multi, "v1".to_string(), dl));
    });
    tags.sort();
    Project {
        ns,
        tags,
        layer: names,
    }
}
