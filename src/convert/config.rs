//! Image configs: the OCI `Image` struct as skopeo's Go code decodes a
//! Docker config into it and writes it again (docs/conversion.md §3), and
//! the list of Docker-only fields that conversion drops.

use super::gojson::{
    self, decode_struct, key, write_string, write_strings, DecodeError, Empty, GoDecode, GoTime,
    Value,
};
use std::collections::BTreeMap;

const IMAGE_FIELDS: &[&str] = &[
    "created",
    "author",
    "architecture",
    "variant",
    "os",
    "os.version",
    "os.features",
    "config",
    "rootfs",
    "history",
];

const CONFIG_FIELDS: &[&str] = &[
    "User",
    "ExposedPorts",
    "Env",
    "Entrypoint",
    "Cmd",
    "Volumes",
    "WorkingDir",
    "Labels",
    "StopSignal",
    "ArgsEscaped",
];

const ROOTFS_FIELDS: &[&str] = &["type", "diff_ids"];
const HISTORY_FIELDS: &[&str] = &["created", "created_by", "author", "comment", "empty_layer"];

/// `ImageConfig` of image-spec v1.1.0-rc2 (with Debian's `ArgsEscaped`).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct ImageConfig {
    user: String,
    exposed_ports: Option<BTreeMap<String, Empty>>,
    env: Option<Vec<String>>,
    entrypoint: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    volumes: Option<BTreeMap<String, Empty>>,
    working_dir: String,
    labels: Option<BTreeMap<String, String>>,
    stop_signal: String,
    args_escaped: bool,
}

impl GoDecode for ImageConfig {
    fn decode(&mut self, v: &Value, path: &str) -> Result<(), DecodeError> {
        let p = |f: &str| format!("{path}.{f}");
        decode_struct(v, path, CONFIG_FIELDS, |i, v| match i {
            0 => self.user.decode(v, &p("User")),
            1 => self.exposed_ports.decode(v, &p("ExposedPorts")),
            2 => self.env.decode(v, &p("Env")),
            3 => self.entrypoint.decode(v, &p("Entrypoint")),
            4 => self.cmd.decode(v, &p("Cmd")),
            5 => self.volumes.decode(v, &p("Volumes")),
            6 => self.working_dir.decode(v, &p("WorkingDir")),
            7 => self.labels.decode(v, &p("Labels")),
            8 => self.stop_signal.decode(v, &p("StopSignal")),
            _ => self.args_escaped.decode(v, &p("ArgsEscaped")),
        })
    }
}

/// `RootFS`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct RootFs {
    typ: String,
    diff_ids: Option<Vec<String>>,
}

impl GoDecode for RootFs {
    fn decode(&mut self, v: &Value, path: &str) -> Result<(), DecodeError> {
        decode_struct(v, path, ROOTFS_FIELDS, |i, v| match i {
            0 => self.typ.decode(v, "rootfs.type"),
            _ => self.diff_ids.decode(v, "rootfs.diff_ids"),
        })
    }
}

/// `History`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct History {
    created: Option<GoTime>,
    created_by: String,
    author: String,
    comment: String,
    empty_layer: bool,
}

impl GoDecode for History {
    fn decode(&mut self, v: &Value, path: &str) -> Result<(), DecodeError> {
        decode_struct(v, path, HISTORY_FIELDS, |i, v| match i {
            0 => self.created.decode(v, "history.created"),
            1 => self.created_by.decode(v, "history.created_by"),
            2 => self.author.decode(v, "history.author"),
            3 => self.comment.decode(v, "history.comment"),
            _ => self.empty_layer.decode(v, "history.empty_layer"),
        })
    }
}

/// The OCI `Image` config.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct OciImage {
    created: Option<GoTime>,
    author: String,
    /// CPU architecture.
    pub architecture: String,
    /// CPU variant.
    pub variant: String,
    /// Operating system.
    pub os: String,
    os_version: String,
    os_features: Option<Vec<String>>,
    config: ImageConfig,
    rootfs: RootFs,
    history: Option<Vec<History>>,
}

impl GoDecode for OciImage {
    fn decode(&mut self, v: &Value, path: &str) -> Result<(), DecodeError> {
        decode_struct(v, path, IMAGE_FIELDS, |i, v| match i {
            0 => self.created.decode(v, "created"),
            1 => self.author.decode(v, "author"),
            2 => self.architecture.decode(v, "architecture"),
            3 => self.variant.decode(v, "variant"),
            4 => self.os.decode(v, "os"),
            5 => self.os_version.decode(v, "os.version"),
            6 => self.os_features.decode(v, "os.features"),
            7 => self.config.decode(v, "config"),
            8 => self.rootfs.decode(v, "rootfs"),
            _ => self.history.decode(v, "history"),
        })
    }
}

fn write_set(out: &mut String, m: &BTreeMap<String, Empty>) {
    out.push('{');
    for (i, k) in m.keys().enumerate() {
        if i > 0 {
            out.push(',');
        }
        write_string(out, k);
        out.push_str(":{}");
    }
    out.push('}');
}

fn nonempty<T>(v: &Option<Vec<T>>) -> Option<&Vec<T>> {
    v.as_ref().filter(|v| !v.is_empty())
}

impl OciImage {
    /// Decodes config JSON as Go's `json.Unmarshal` into `v1.Image` does.
    pub fn from_json(raw: &[u8]) -> Result<OciImage, ConfigError> {
        let v = gojson::parse(raw).map_err(ConfigError::Syntax)?;
        let mut img = OciImage::default();
        img.decode(&v, "").map_err(ConfigError::Field)?;
        Ok(img)
    }

    /// The bytes `json.Marshal` writes for it.
    pub fn to_json(&self) -> String {
        let mut o = String::from("{");
        let mut first = true;
        if let Some(t) = &self.created {
            key(&mut o, &mut first, "created");
            write_string(&mut o, &t.to_string());
        }
        if !self.author.is_empty() {
            key(&mut o, &mut first, "author");
            write_string(&mut o, &self.author);
        }
        key(&mut o, &mut first, "architecture");
        write_string(&mut o, &self.architecture);
        if !self.variant.is_empty() {
            key(&mut o, &mut first, "variant");
            write_string(&mut o, &self.variant);
        }
        key(&mut o, &mut first, "os");
        write_string(&mut o, &self.os);
        if !self.os_version.is_empty() {
            key(&mut o, &mut first, "os.version");
            write_string(&mut o, &self.os_version);
        }
        if nonempty(&self.os_features).is_some() {
            key(&mut o, &mut first, "os.features");
            write_strings(&mut o, &self.os_features);
        }
        key(&mut o, &mut first, "config");
        self.write_config(&mut o);
        key(&mut o, &mut first, "rootfs");
        o.push_str("{\"type\":");
        write_string(&mut o, &self.rootfs.typ);
        o.push_str(",\"diff_ids\":");
        write_strings(&mut o, &self.rootfs.diff_ids);
        o.push('}');
        if let Some(h) = nonempty(&self.history) {
            key(&mut o, &mut first, "history");
            o.push('[');
            for (i, e) in h.iter().enumerate() {
                if i > 0 {
                    o.push(',');
                }
                write_history(&mut o, e);
            }
            o.push(']');
        }
        o.push('}');
        o
    }

    fn write_config(&self, o: &mut String) {
        let c = &self.config;
        let mut first = true;
        o.push('{');
        if !c.user.is_empty() {
            key(o, &mut first, "User");
            write_string(o, &c.user);
        }
        if let Some(m) = c.exposed_ports.as_ref().filter(|m| !m.is_empty()) {
            key(o, &mut first, "ExposedPorts");
            write_set(o, m);
        }
        for (name, v) in [
            ("Env", &c.env),
            ("Entrypoint", &c.entrypoint),
            ("Cmd", &c.cmd),
        ] {
            if nonempty(v).is_some() {
                key(o, &mut first, name);
                write_strings(o, v);
            }
        }
        if let Some(m) = c.volumes.as_ref().filter(|m| !m.is_empty()) {
            key(o, &mut first, "Volumes");
            write_set(o, m);
        }
        if !c.working_dir.is_empty() {
            key(o, &mut first, "WorkingDir");
            write_string(o, &c.working_dir);
        }
        if let Some(m) = c.labels.as_ref().filter(|m| !m.is_empty()) {
            key(o, &mut first, "Labels");
            o.push('{');
            for (i, (k, v)) in m.iter().enumerate() {
                if i > 0 {
                    o.push(',');
                }
                write_string(o, k);
                o.push(':');
                write_string(o, v);
            }
            o.push('}');
        }
        if !c.stop_signal.is_empty() {
            key(o, &mut first, "StopSignal");
            write_string(o, &c.stop_signal);
        }
        if c.args_escaped {
            key(o, &mut first, "ArgsEscaped");
            o.push_str("true");
        }
        o.push('}');
    }
}

fn write_history(o: &mut String, h: &History) {
    let mut first = true;
    o.push('{');
    if let Some(t) = &h.created {
        key(o, &mut first, "created");
        write_string(o, &t.to_string());
    }
    for (name, v) in [
        ("created_by", &h.created_by),
        ("author", &h.author),
        ("comment", &h.comment),
    ] {
        if !v.is_empty() {
            key(o, &mut first, name);
            write_string(o, v);
        }
    }
    if h.empty_layer {
        key(o, &mut first, "empty_layer");
        o.push_str("true");
    }
    o.push('}');
}

/// A config that cannot be converted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// Not JSON.
    #[error("config is not valid JSON: {0}")]
    Syntax(gojson::SyntaxError),
    /// A field of the wrong type.
    #[error("config {0}")]
    Field(DecodeError),
}

/// Dropped fields that are build metadata: they say how the image was made
/// and change nothing about how a container from it runs. Any other
/// dropped field may change behaviour (`config.Healthcheck`,
/// `config.OnBuild`, `config.Shell`, `config.StopTimeout`,
/// `config.Domainname`, `config.MacAddress`, `config.NetworkDisabled`, and
/// any field this list does not know).
pub const BUILD_METADATA_FIELDS: &[&str] = &[
    "container",
    "container_config",
    "parent",
    "docker_version",
    "id",
    "config.Hostname",
    "config.Image",
    "config.AttachStdin",
    "config.AttachStdout",
    "config.AttachStderr",
    "config.Tty",
    "config.OpenStdin",
    "config.StdinOnce",
    "config.ArgsEscaped",
];

/// True for a dropped field (as [`dropped_fields`] names it) that may
/// change how a container runs.
pub fn changes_runtime(field: &str) -> bool {
    !BUILD_METADATA_FIELDS
        .iter()
        .any(|m| m.eq_ignore_ascii_case(field))
}

/// The keys of a Docker config that the OCI config has no place for,
/// e.g. `container_config`, `config.Healthcheck`, `config.OnBuild`.
/// Keys with empty values (`""`, `null`, `false`, `[]`, `{}`) lose nothing
/// and are not listed.
pub fn dropped_fields(raw: &[u8]) -> Vec<String> {
    let Ok(Value::Object(top)) = gojson::parse(raw) else {
        return Vec::new();
    };
    let empty = |v: &Value| match v {
        Value::Null | Value::Bool(false) => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    let mut out = Vec::new();
    for (k, v) in &top {
        match gojson::field_index(IMAGE_FIELDS, k) {
            None if !empty(v) => out.push(k.clone()),
            Some(7) => {
                if let Value::Object(cfg) = v {
                    for (ck, cv) in cfg {
                        if gojson::field_index(CONFIG_FIELDS, ck).is_none() && !empty(cv) {
                            out.push(format!("config.{ck}"));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    out.sort();
    out.dedup();
    out
}
