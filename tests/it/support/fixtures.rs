//! Fixture images, pushed by the tests themselves through the registry HTTP
//! API with tokens minted by the test signer (independent of the code under
//! test), and read back for assertions.

use super::token::Signer;
use flate2::write::GzEncoder;
use sha2::{Digest as _, Sha256};
use std::io::Write;

pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
pub const DOCKER_LAYER: &str = "application/vnd.docker.image.rootfs.diff.tar.gzip";
pub const ACCEPT: &str = "application/vnd.oci.image.manifest.v1+json, application/vnd.oci.image.index.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json, application/vnd.docker.distribution.manifest.v1+prettyjws, application/vnd.docker.distribution.manifest.v1+json";

pub fn sha256(data: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(data)))
}

/// Deterministic pseudo-random bytes.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A gzip-compressed layer of `len` pseudo-random bytes.
pub fn layer(seed: u64, len: usize) -> Vec<u8> {
    let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let _ = gz.write_all(&noise(seed, len));
    gz.finish().unwrap_or_default()
}

#[derive(Clone)]
pub struct Pusher {
    pub http: reqwest::Client,
    pub base: String,
    pub signer: Signer,
    pub service: String,
}

pub struct Got {
    pub body: Vec<u8>,
    pub content_type: String,
    pub digest: String,
}

impl Pusher {
    fn auth(&self, scope: &str) -> String {
        let t = self
            .signer
            .token("fixture", &self.service, &[scope.to_string()])
            .unwrap_or_default();
        format!("Bearer {t}")
    }

    fn repo_auth(&self, repo: &str) -> String {
        self.auth(&format!("repository:{repo}:pull,push"))
    }

    pub async fn blob(&self, repo: &str, data: &[u8]) -> Result<String, String> {
        let d = sha256(data);
        let r = self
            .http
            .post(format!("{}/v2/{repo}/blobs/uploads/", self.base))
            .header("authorization", self.repo_auth(repo))
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        if r.status().as_u16() != 202 {
            return Err(format!("start upload: {}", r.status()));
        }
        let loc = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let loc = if loc.starts_with("http") {
            loc
        } else {
            format!("{}{loc}", self.base)
        };
        let sep = if loc.contains('?') { '&' } else { '?' };
        let r = self
            .http
            .put(format!("{loc}{sep}digest={d}"))
            .header("authorization", self.repo_auth(repo))
            .header("content-type", "application/octet-stream")
            .body(data.to_vec())
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        if r.status().as_u16() != 201 {
            return Err(format!(
                "put blob: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            ));
        }
        Ok(d)
    }

    pub async fn manifest(
        &self,
        repo: &str,
        reference: &str,
        media_type: &str,
        body: &[u8],
    ) -> Result<String, String> {
        let r = self
            .http
            .put(format!("{}/v2/{repo}/manifests/{reference}", self.base))
            .header("authorization", self.repo_auth(repo))
            .header("content-type", media_type)
            .body(body.to_vec())
            .send()
            .await
            .map_err(|e| format!("{e:?}"))?;
        if r.status().as_u16() != 201 {
            return Err(format!(
                "put manifest {repo}:{reference}: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            ));
        }
        Ok(r.headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string())
    }

    pub async fn get_manifest(&self, repo: &str, reference: &str) -> Option<Got> {
        let r = self
            .http
            .get(format!("{}/v2/{repo}/manifests/{reference}", self.base))
            .header("authorization", self.repo_auth(repo))
            .header("accept", ACCEPT)
            .send()
            .await
            .ok()?;
        if r.status().as_u16() != 200 {
            return None;
        }
        let content_type = r
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let digest = r
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let body = r.bytes().await.ok()?.to_vec();
        Some(Got {
            body,
            content_type,
            digest,
        })
    }

    /// Deletes a blob from a repository (the registry allows deletes).
    pub async fn delete_blob(&self, repo: &str, digest: &str) -> Result<(), String> {
        let r = self
            .http
            .delete(format!("{}/v2/{repo}/blobs/{digest}", self.base))
            .header("authorization", self.auth(&format!("repository:{repo}:*")))
            .send()
            .await
            .map_err(|e| e.to_string())?;
        match r.status().as_u16() {
            202 => Ok(()),
            s => Err(format!("DELETE blob {digest}: HTTP {s}")),
        }
    }

    pub async fn blob_size(&self, repo: &str, digest: &str) -> Option<u64> {
        let r = self
            .http
            .head(format!("{}/v2/{repo}/blobs/{digest}", self.base))
            .header("authorization", self.repo_auth(repo))
            .send()
            .await
            .ok()?;
        if r.status().as_u16() != 200 {
            return None;
        }
        r.headers()
            .get("content-length")?
            .to_str()
            .ok()?
            .parse()
            .ok()
    }

    pub async fn tags(&self, repo: &str) -> Vec<String> {
        let r = self
            .http
            .get(format!("{}/v2/{repo}/tags/list", self.base))
            .header("authorization", self.repo_auth(repo))
            .send()
            .await;
        let Ok(r) = r else { return Vec::new() };
        let v: serde_json::Value =
            serde_json::from_slice(&r.bytes().await.unwrap_or_default()).unwrap_or_default();
        let mut t: Vec<String> = v["tags"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        t.sort();
        t
    }

    pub async fn catalog(&self) -> Vec<String> {
        let r = self
            .http
            .get(format!("{}/v2/_catalog?n=10000", self.base))
            .header("authorization", self.auth("registry:catalog:*"))
            .send()
            .await;
        let Ok(r) = r else { return Vec::new() };
        let v: serde_json::Value =
            serde_json::from_slice(&r.bytes().await.unwrap_or_default()).unwrap_or_default();
        v["repositories"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Pushes a Docker schema 2 image: its layers, a config, the manifest
    /// under `tag`. Returns (manifest digest, layer digests).
    pub async fn image(
        &self,
        repo: &str,
        tag: &str,
        layers: &[Vec<u8>],
        config: serde_json::Value,
    ) -> Result<(String, Vec<String>), String> {
        let cfg = serde_json::to_vec(&config).map_err(|e| e.to_string())?;
        self.image_raw(repo, tag, layers, &cfg, DOCKER_LAYER).await
    }

    /// Like `image`, with the config bytes as given and one layer type.
    pub async fn image_raw(
        &self,
        repo: &str,
        tag: &str,
        layers: &[Vec<u8>],
        cfg: &[u8],
        layer_type: &str,
    ) -> Result<(String, Vec<String>), String> {
        let mut descs = Vec::new();
        let mut digests = Vec::new();
        for l in layers {
            let d = self.blob(repo, l).await?;
            descs.push(serde_json::json!({"mediaType": layer_type, "size": l.len(), "digest": d}));
            digests.push(d);
        }
        let cd = self.blob(repo, cfg).await?;
        let m = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": DOCKER_MANIFEST,
            "config": {"mediaType": DOCKER_CONFIG, "size": cfg.len(), "digest": cd},
            "layers": descs,
        });
        let body = serde_json::to_vec_pretty(&m).map_err(|e| format!("{e:?}"))?;
        let d = self.manifest(repo, tag, DOCKER_MANIFEST, &body).await?;
        Ok((d, digests))
    }
}

/// A minimal Docker config for `arch` with `n` layers' diff ids.
pub fn config(arch: &str, layers: &[Vec<u8>]) -> serde_json::Value {
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| {
            let mut d = flate2::read::GzDecoder::new(&l[..]);
            let mut out = Vec::new();
            let _ = std::io::Read::read_to_end(&mut d, &mut out);
            sha256(&out)
        })
        .collect();
    serde_json::json!({
        "architecture": arch, "os": "linux",
        "config": {"Env": ["PATH=/usr/bin"], "Cmd": ["/bin/sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "created": "2024-01-02T03:04:05Z",
        "history": [{"created": "2024-01-02T03:04:05Z", "created_by": "test fixture"}]
    })
}
