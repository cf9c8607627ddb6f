//! Manifest and index re-serialization (docs/conversion.md §3, §4, §6):
//! Docker schema 2 -> OCI, OCI -> Docker schema 2, and lists / indexes.

use super::gojson::{self, key, write_string, Value};
use super::{Action, ConvertError, Converted};
use crate::oci::{media, Digest, ManifestKind};

/// One member of a parsed descriptor, as needed here.
#[derive(Debug, Default, Clone)]
pub(super) struct Desc {
    pub media_type: String,
    pub digest: String,
    pub size: i64,
    pub urls: Vec<String>,
    pub platform: Option<Platform>,
}

#[derive(Debug, Default, Clone, PartialEq)]
pub(super) struct Platform {
    pub architecture: String,
    pub os: String,
    pub os_version: String,
    pub os_features: Vec<String>,
    pub variant: String,
    pub features: Vec<String>,
}

fn bad(m: impl Into<String>) -> ConvertError {
    ConvertError::Manifest(m.into())
}

fn get<'a>(obj: &'a [(String, Value)], names: &[&str], name: &str) -> Option<&'a Value> {
    // Last matching key wins, as Go decodes repeats in order.
    obj.iter()
        .rev()
        .find(|(k, _)| {
            gojson::field_index(names, k)
                .map(|i| names[i] == name)
                .unwrap_or(false)
        })
        .map(|(_, v)| v)
}

fn string_of(v: Option<&Value>, what: &str) -> Result<String, ConvertError> {
    match v {
        None | Some(Value::Null) => Ok(String::new()),
        Some(Value::String(s)) => Ok(s.clone()),
        Some(o) => Err(bad(format!("{what} is a {}, not a string", o.kind()))),
    }
}

fn strings_of(v: Option<&Value>, what: &str) -> Result<Vec<String>, ConvertError> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => a.iter().map(|x| string_of(Some(x), what)).collect(),
        Some(o) => Err(bad(format!("{what} is a {}, not a list", o.kind()))),
    }
}

const DESC_FIELDS: &[&str] = &["mediaType", "digest", "size", "urls", "platform"];
const PLATFORM_FIELDS: &[&str] = &[
    "architecture",
    "os",
    "os.version",
    "os.features",
    "variant",
    "features",
];

fn desc_of(v: &Value) -> Result<Desc, ConvertError> {
    let Value::Object(o) = v else {
        return Err(bad("a descriptor is not an object"));
    };
    let size = match get(o, DESC_FIELDS, "size") {
        None | Some(Value::Null) => 0,
        Some(Value::Number(n)) => n
            .parse::<i64>()
            .map_err(|_| bad(format!("size {n} is not an integer")))?,
        Some(x) => return Err(bad(format!("size is a {}", x.kind()))),
    };
    let platform = match get(o, DESC_FIELDS, "platform") {
        Some(Value::Object(p)) => Some(Platform {
            architecture: string_of(
                get(p, PLATFORM_FIELDS, "architecture"),
                "platform.architecture",
            )?,
            os: string_of(get(p, PLATFORM_FIELDS, "os"), "platform.os")?,
            os_version: string_of(get(p, PLATFORM_FIELDS, "os.version"), "platform.os.version")?,
            os_features: strings_of(
                get(p, PLATFORM_FIELDS, "os.features"),
                "platform.os.features",
            )?,
            variant: string_of(get(p, PLATFORM_FIELDS, "variant"), "platform.variant")?,
            features: strings_of(get(p, PLATFORM_FIELDS, "features"), "platform.features")?,
        }),
        _ => None,
    };
    Ok(Desc {
        media_type: string_of(get(o, DESC_FIELDS, "mediaType"), "mediaType")?,
        digest: string_of(get(o, DESC_FIELDS, "digest"), "digest")?,
        size,
        urls: strings_of(get(o, DESC_FIELDS, "urls"), "urls")?,
        platform,
    })
}

/// The `config`, `layers` and `manifests` of a manifest document.
/// `config`, `layers`, `manifests`.
type Parts = (Option<Desc>, Vec<Desc>, Vec<Desc>);

fn parts(raw: &[u8]) -> Result<Parts, ConvertError> {
    let v = gojson::parse(raw).map_err(|e| bad(e.to_string()))?;
    let Value::Object(o) = v else {
        return Err(bad("not a JSON object"));
    };
    let names = ["config", "layers", "manifests"];
    let config = match get(&o, &names, "config") {
        Some(c @ Value::Object(_)) => Some(desc_of(c)?),
        _ => None,
    };
    let list = |name: &str| -> Result<Vec<Desc>, ConvertError> {
        match get(&o, &names, name) {
            Some(Value::Array(a)) => a.iter().map(desc_of).collect(),
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(x) => Err(bad(format!("{name} is a {}", x.kind()))),
        }
    };
    Ok((config, list("layers")?, list("manifests")?))
}

fn write_urls(o: &mut String, first: &mut bool, urls: &[String]) {
    if !urls.is_empty() {
        key(o, first, "urls");
        o.push('[');
        for (i, u) in urls.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            write_string(o, u);
        }
        o.push(']');
    }
}

/// An OCI descriptor: mediaType, digest, size, urls.
fn write_oci_desc(o: &mut String, media_type: &str, digest: &str, size: i64, urls: &[String]) {
    let mut first = true;
    o.push('{');
    key(o, &mut first, "mediaType");
    write_string(o, media_type);
    key(o, &mut first, "digest");
    write_string(o, digest);
    key(o, &mut first, "size");
    o.push_str(&size.to_string());
    write_urls(o, &mut first, urls);
}

/// A Docker schema 2 descriptor: mediaType, size, digest, urls.
fn write_docker_desc(o: &mut String, media_type: &str, digest: &str, size: i64, urls: &[String]) {
    let mut first = true;
    o.push('{');
    key(o, &mut first, "mediaType");
    write_string(o, media_type);
    key(o, &mut first, "size");
    o.push_str(&size.to_string());
    key(o, &mut first, "digest");
    write_string(o, digest);
    write_urls(o, &mut first, urls);
}

fn docker_layer_to_oci(d: &Desc) -> Result<&'static str, ConvertError> {
    Ok(match d.media_type.as_str() {
        media::DOCKER_LAYER_GZIP => media::OCI_LAYER_GZIP,
        media::DOCKER_LAYER => media::OCI_LAYER,
        media::DOCKER_FOREIGN_LAYER => media::OCI_NONDIST_LAYER,
        media::DOCKER_FOREIGN_LAYER_GZIP => media::OCI_NONDIST_LAYER_GZIP,
        other => {
            return Err(ConvertError::Layer {
                digest: d.digest.clone(),
                media_type: other.to_string(),
                reason: "is not a Docker schema 2 layer type",
            })
        }
    })
}

fn oci_layer_to_docker(d: &Desc) -> Result<&'static str, ConvertError> {
    let t = d.media_type.as_str();
    Ok(match t {
        media::OCI_LAYER_GZIP => media::DOCKER_LAYER_GZIP,
        media::OCI_LAYER => media::DOCKER_LAYER,
        media::OCI_NONDIST_LAYER => media::DOCKER_FOREIGN_LAYER,
        media::OCI_NONDIST_LAYER_GZIP => media::DOCKER_FOREIGN_LAYER_GZIP,
        _ if t.ends_with("+zstd") => {
            return Err(ConvertError::Compression {
                digest: d.digest.clone(),
                media_type: t.to_string(),
            })
        }
        _ => {
            return Err(ConvertError::Layer {
                digest: d.digest.clone(),
                media_type: t.to_string(),
                reason: "has no Docker equivalent",
            })
        }
    })
}

/// A descriptor writer: mediaType, digest, size, urls in its format's
/// key order, leaving the object open.
type DescWriter = fn(&mut String, &str, &str, i64, &[String]);

/// `{"schemaVersion":2,"mediaType":…,"config":…,"layers":[…]}` with each
/// layer's media type mapped by `map`.
fn image_manifest(
    media_type: &str,
    write: DescWriter,
    config: (&str, &str, i64),
    layers: &[Desc],
    map: fn(&Desc) -> Result<&'static str, ConvertError>,
) -> Result<String, ConvertError> {
    let mut o = String::from("{\"schemaVersion\":2,\"mediaType\":");
    write_string(&mut o, media_type);
    o.push_str(",\"config\":");
    write(&mut o, config.0, config.1, config.2, &[]);
    o.push_str("},\"layers\":[");
    for (i, l) in layers.iter().enumerate() {
        if i > 0 {
            o.push(',');
        }
        write(&mut o, map(l)?, &l.digest, l.size, &l.urls);
        o.push('}');
    }
    o.push_str("]}");
    Ok(o)
}

/// Docker schema 2 -> OCI manifest, with the new config's digest and size.
pub(super) fn docker_to_oci(
    raw: &[u8],
    config_digest: &Digest,
    config_size: u64,
) -> Result<String, ConvertError> {
    let (_, layers, _) = parts(raw)?;
    let digest = config_digest.to_string();
    image_manifest(
        media::OCI_MANIFEST,
        write_oci_desc,
        (media::OCI_CONFIG, &digest, config_size as i64),
        &layers,
        docker_layer_to_oci,
    )
}

/// OCI manifest -> Docker schema 2 (config reused byte for byte).
pub(super) fn oci_to_docker(raw: &[u8]) -> Result<String, ConvertError> {
    let (config, layers, _) = parts(raw)?;
    let config = config.ok_or_else(|| bad("no config"))?;
    if config.media_type != media::OCI_CONFIG {
        return Err(ConvertError::Artifact(config.media_type));
    }
    image_manifest(
        media::DOCKER_MANIFEST,
        write_docker_desc,
        (media::DOCKER_CONFIG, &config.digest, config.size),
        &layers,
        oci_layer_to_docker,
    )
}

/// A child manifest as pushed, for building its index entry.
#[derive(Debug, Clone)]
pub struct ChildOut {
    /// Position of the entry in the source index.
    pub position: usize,
    /// Digest of what was pushed.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// Its media type.
    pub media_type: &'static str,
    /// Platform from the child's config (for entries without one).
    pub config_platform: Option<(String, String)>,
}

fn write_platform_oci(o: &mut String, p: &Platform) {
    let mut first = true;
    o.push('{');
    key(o, &mut first, "architecture");
    write_string(o, &p.architecture);
    key(o, &mut first, "os");
    write_string(o, &p.os);
    if !p.os_version.is_empty() {
        key(o, &mut first, "os.version");
        write_string(o, &p.os_version);
    }
    if !p.os_features.is_empty() {
        key(o, &mut first, "os.features");
        gojson::write_strings(o, &Some(p.os_features.clone()));
    }
    if !p.variant.is_empty() {
        key(o, &mut first, "variant");
        write_string(o, &p.variant);
    }
}

/// Builds the index pushed for a list or index whose children were pushed
/// as `children` (in source order; entries left out by a platform filter
/// are absent). Keeps the source bytes when nothing changed.
pub fn index(
    action: Action,
    kind: ManifestKind,
    raw: &[u8],
    children: &[ChildOut],
) -> Result<Converted, ConvertError> {
    let (_, _, entries) = parts(raw)?;
    let unchanged = children.len() == entries.len()
        && children.iter().all(|c| {
            entries
                .get(c.position)
                .map(|e| {
                    e.digest == c.digest.to_string()
                        && e.size == c.size as i64
                        && e.media_type == c.media_type
                })
                .unwrap_or(false)
        });
    let out_kind = super::target_kind(action, kind);
    if unchanged && out_kind == kind {
        return Ok(Converted::new(
            raw.to_vec(),
            kind.media_type(),
            None,
            Vec::new(),
        ));
    }
    let mut o = String::from("{\"schemaVersion\":2,\"mediaType\":");
    write_string(&mut o, out_kind.media_type());
    o.push_str(",\"manifests\":[");
    for (i, c) in children.iter().enumerate() {
        let e = entries
            .get(c.position)
            .ok_or_else(|| bad("child position out of range"))?;
        if i > 0 {
            o.push(',');
        }
        let plat = e.platform.clone().unwrap_or_else(|| {
            let (os, arch) = c
                .config_platform
                .clone()
                .unwrap_or_else(|| ("linux".into(), "amd64".into()));
            Platform {
                os,
                architecture: arch,
                ..Platform::default()
            }
        });
        // The two formats differ in descriptor key order and in Docker's
        // extra `platform.features`.
        let oci = out_kind == ManifestKind::OciIndex;
        let write: DescWriter = if oci {
            write_oci_desc
        } else {
            write_docker_desc
        };
        write(
            &mut o,
            c.media_type,
            &c.digest.to_string(),
            c.size as i64,
            &e.urls,
        );
        o.push_str(",\"platform\":");
        write_platform_oci(&mut o, &plat);
        if !oci && !plat.features.is_empty() {
            o.push_str(",\"features\":");
            gojson::write_strings(&mut o, &Some(plat.features.clone()));
        }
        o.push_str("}}");
    }
    o.push_str("]}");
    Ok(Converted::new(o, out_kind.media_type(), None, Vec::new()))
}
