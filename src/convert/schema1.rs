//! Docker schema 1 (signed or not) -> schema 2 config -> OCI or Docker
//! schema 2 (docs/conversion.md §5): validate the v1 history chain, synthesize
//! the schema 2 config from the top `v1Compatibility`, the layers' diff_ids
//! and the history, then convert as for any schema 2 image.

use super::config::OciImage;
use super::gojson::{
    self, compact, decode_struct, key, write_string, DecodeError, GoDecode, GoTime, Value,
};
use super::{Action, ConvertError, Converted, LayerFacts};
use crate::oci::{media, Digest};
use std::collections::{BTreeMap, HashMap, HashSet};

/// The empty gzip layer old and new Docker use for metadata-only steps.
pub const EMPTY_GZIP_LAYER: &str =
    "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8c7c22955b46d4";

#[derive(Default, Debug)]
struct ContainerConfig {
    cmd: Option<Vec<String>>,
}

impl GoDecode for ContainerConfig {
    fn decode(&mut self, v: &Value, path: &str) -> Result<(), DecodeError> {
        decode_struct(v, path, &["Cmd"], |_, v| {
            self.cmd.decode(v, "container_config.Cmd")
        })
    }
}

#[derive(Default, Debug)]
struct V1Compat {
    id: String,
    parent: String,
    comment: String,
    created: GoTime,
    container_config: ContainerConfig,
    author: String,
    throwaway: bool,
}

impl GoDecode for V1Compat {
    fn decode(&mut self, v: &Value, path: &str) -> Result<(), DecodeError> {
        let names = [
            "id",
            "parent",
            "comment",
            "created",
            "container_config",
            "author",
            "throwaway",
        ];
        decode_struct(v, path, &names, |i, v| match i {
            0 => self.id.decode(v, "id"),
            1 => self.parent.decode(v, "parent"),
            2 => self.comment.decode(v, "comment"),
            3 => self.created.decode(v, "created"),
            4 => self.container_config.decode(v, "container_config"),
            5 => self.author.decode(v, "author"),
            _ => self.throwaway.decode(v, "throwaway"),
        })
    }
}

fn err(m: impl Into<String>) -> ConvertError {
    ConvertError::Schema1(m.into())
}

struct Entry {
    blob_sum: String,
    raw: String,
    compat: V1Compat,
}

fn entries(manifest: &[u8]) -> Result<Vec<Entry>, ConvertError> {
    let v = gojson::parse(manifest).map_err(|e| err(e.to_string()))?;
    let Value::Object(top) = v else {
        return Err(err("manifest is not a JSON object"));
    };
    let names = ["schemaVersion", "fsLayers", "history"];
    let last = |n: &str| {
        top.iter()
            .rev()
            .find(|(k, _)| {
                gojson::field_index(&names, k)
                    .map(|i| names[i] == n)
                    .unwrap_or(false)
            })
            .map(|(_, v)| v)
    };
    if !matches!(last("schemaVersion"), Some(Value::Number(n)) if n == "1") {
        return Err(err("schemaVersion is not 1"));
    }
    let arr = |n: &str| match last(n) {
        Some(Value::Array(a)) => Ok(a.clone()),
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(_) => Err(err(format!("{n} is not a list"))),
    };
    let (fs, hist) = (arr("fsLayers")?, arr("history")?);
    if fs.len() != hist.len() {
        return Err(err("length of history not equal to number of layers"));
    }
    if fs.is_empty() {
        return Err(err("no FSLayers in manifest"));
    }
    let field = |v: &Value, name: &str| -> Result<String, ConvertError> {
        let Value::Object(o) = v else {
            return Err(err(format!(
                "an entry of the manifest is not an object ({name})"
            )));
        };
        let mut s = String::new();
        for (k, x) in o {
            if k.eq_ignore_ascii_case(name) {
                s.decode(x, name).map_err(|e| err(e.to_string()))?;
            }
        }
        Ok(s)
    };
    fs.iter()
        .zip(hist.iter())
        .map(|(l, h)| {
            let raw = field(h, "v1Compatibility")?;
            let parsed =
                gojson::parse(raw.as_bytes()).map_err(|e| err(format!("v1Compatibility: {e}")))?;
            let mut compat = V1Compat::default();
            compat
                .decode(&parsed, "")
                .map_err(|e| err(format!("v1Compatibility {e}")))?;
            Ok(Entry {
                blob_sum: field(l, "blobSum")?,
                raw,
                compat,
            })
        })
        .collect()
}

/// skopeo's `fixManifestLayers`: IDs valid, base without parent, no
/// repeated IDs except adjacent ones (the upper copy is dropped), parents
/// chained.
fn fix_layers(mut e: Vec<Entry>) -> Result<Vec<Entry>, ConvertError> {
    for x in &e {
        let id = &x.compat.id;
        if id.len() != 64 || !id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return Err(err(format!("image ID {id:?} is invalid")));
        }
    }
    if e.last()
        .map(|x| !x.compat.parent.is_empty())
        .unwrap_or(false)
    {
        return Err(err("Invalid parent ID in the base layer of the image"));
    }
    let mut seen = HashSet::new();
    let mut last = String::new();
    for x in &e {
        if x.compat.id != last && seen.contains(&x.compat.id) {
            return Err(err(format!(
                "ID {} appears multiple times in manifest",
                x.compat.id
            )));
        }
        last = x.compat.id.clone();
        seen.insert(last.clone());
    }
    let mut i = e.len().saturating_sub(1);
    while i > 0 {
        i -= 1;
        if e[i].compat.id == e[i + 1].compat.id {
            e.remove(i);
        } else if e[i].compat.parent != e[i + 1].compat.id {
            return Err(err(format!(
                "Invalid parent ID. Expected {}, got {}",
                e[i + 1].compat.id,
                e[i].compat.parent
            )));
        }
    }
    Ok(e)
}

fn docker_version_below_1_8_3(v: &str) -> bool {
    if v.is_empty() {
        return false;
    }
    let parts: Vec<u64> = v.split('.').map(|p| p.parse().unwrap_or(0)).collect();
    let want = [1u64, 8, 3];
    for i in 0..parts.len().max(3) {
        let a = parts.get(i).copied().unwrap_or(0);
        let b = want.get(i).copied().unwrap_or(0);
        if a != b {
            return a < b;
        }
    }
    false
}

/// The config bytes and the layers (blobSum, facts), bottom first.
type Synthesized = (Vec<u8>, Vec<(String, LayerFacts)>);

/// The schema 2 config skopeo synthesizes (docs/conversion.md §5, step 3), and the layers in
/// manifest order (bottom first) with their facts.
fn synthesize(
    entries: &[Entry],
    facts: &HashMap<Digest, LayerFacts>,
) -> Result<Synthesized, ConvertError> {
    let top = entries
        .first()
        .ok_or_else(|| err("no FSLayers in manifest"))?;
    let mut map = top_config(top)?;
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    let mut history = String::from("[");
    for (n, e) in entries.iter().rev().enumerate() {
        if !e.compat.throwaway {
            let d: Digest = e
                .blob_sum
                .parse()
                .map_err(|_| err(format!("blobSum {:?} is not a sha256 digest", e.blob_sum)))?;
            let f = facts
                .get(&d)
                .ok_or_else(|| ConvertError::MissingFacts(e.blob_sum.clone()))?;
            let diff = f
                .diff_id
                .clone()
                .ok_or_else(|| ConvertError::MissingFacts(e.blob_sum.clone()))?;
            diff_ids.push(diff.to_string());
            layers.push((e.blob_sum.clone(), f.clone()));
        }
        if n > 0 {
            history.push(',');
        }
        history_entry(&mut history, &e.compat);
    }
    history.push(']');
    let mut rootfs = String::from("{\"type\":\"layers\"");
    if !diff_ids.is_empty() {
        rootfs.push_str(",\"diff_ids\":");
        gojson::write_strings(&mut rootfs, &Some(diff_ids));
    }
    rootfs.push('}');
    map.insert("rootfs".into(), rootfs.into_bytes());
    map.insert("history".into(), history.into_bytes());
    let mut out = Vec::from(&b"{"[..]);
    for (i, (k, v)) in map.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.extend_from_slice(gojson::string_lit(k).as_bytes());
        out.push(b':');
        out.extend_from_slice(v);
    }
    out.push(b'}');
    Ok((out, layers))
}

/// The top entry's v1Compatibility members, compacted, less those that
/// name v1 layers (`id`, `parent`, ...): the base of the config. Images of
/// Docker before 1.8.3 are refused, as skopeo refuses them.
fn top_config(top: &Entry) -> Result<BTreeMap<String, Vec<u8>>, ConvertError> {
    let members = gojson::raw_members(top.raw.as_bytes())
        .map_err(|e| err(format!("v1Compatibility: {e}")))?;
    let mut map: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for (k, raw) in members {
        map.insert(k, compact(raw));
    }
    if let Some(v) = map.get("docker_version") {
        let ver = match gojson::parse(v) {
            Ok(Value::String(s)) => s,
            _ => String::new(),
        };
        if docker_version_below_1_8_3(&ver) {
            return Err(err(format!(
                "images built by Docker {ver} (before 1.8.3) are not supported"
            )));
        }
    }
    for k in ["id", "parent", "parent_id", "layer_id", "throwaway", "Size"] {
        map.remove(k);
    }
    Ok(map)
}

/// One `history` entry, written from a v1Compatibility as skopeo writes
/// it: `created`, then what is set of author, created_by, comment and
/// empty_layer.
fn history_entry(history: &mut String, c: &V1Compat) {
    let mut first = true;
    history.push('{');
    key(history, &mut first, "created");
    write_string(history, &c.created.to_string());
    if !c.author.is_empty() {
        key(history, &mut first, "author");
        write_string(history, &c.author);
    }
    let created_by = c.container_config.cmd.clone().unwrap_or_default().join(" ");
    if !created_by.is_empty() {
        key(history, &mut first, "created_by");
        write_string(history, &created_by);
    }
    if !c.comment.is_empty() {
        key(history, &mut first, "comment");
        write_string(history, &c.comment);
    }
    if c.throwaway {
        key(history, &mut first, "empty_layer");
        history.push_str("true");
    }
    history.push('}');
}

/// Converts a schema 1 manifest; `facts` must hold every non-throwaway
/// layer's size and diff_id.
pub(super) fn convert(
    action: Action,
    manifest: &[u8],
    facts: &HashMap<Digest, LayerFacts>,
) -> Result<Converted, ConvertError> {
    let entries = fix_layers(entries(manifest)?)?;
    let (v2_config, layers) = synthesize(&entries, facts)?;
    let to_oci = action == Action::ToOci;
    let (config, config_type, dropped) = if to_oci {
        let oci = OciImage::from_json(&v2_config)?.to_json().into_bytes();
        let dropped = super::config::dropped_fields(&v2_config);
        (oci, media::OCI_CONFIG, dropped)
    } else {
        (v2_config, media::DOCKER_CONFIG, Vec::new())
    };
    let cd = Digest::of(&config);
    let layer_type = |compressed: bool| match (to_oci, compressed) {
        (true, true) => media::OCI_LAYER_GZIP,
        (true, false) => media::OCI_LAYER,
        (false, true) => media::DOCKER_LAYER_GZIP,
        (false, false) => media::DOCKER_LAYER,
    };
    let mut o = String::from("{\"schemaVersion\":2,\"mediaType\":");
    write_string(
        &mut o,
        if to_oci {
            media::OCI_MANIFEST
        } else {
            media::DOCKER_MANIFEST
        },
    );
    o.push_str(",\"config\":{\"mediaType\":");
    write_string(&mut o, config_type);
    let desc = |o: &mut String, d: &str, size: u64| {
        if to_oci {
            o.push_str(",\"digest\":");
            write_string(o, d);
            o.push_str(&format!(",\"size\":{size}}}"));
        } else {
            o.push_str(&format!(",\"size\":{size},\"digest\":"));
            write_string(o, d);
            o.push('}');
        }
    };
    desc(&mut o, &cd.to_string(), config.len() as u64);
    o.push_str(",\"layers\":");
    if layers.is_empty() && !to_oci {
        o.push_str("null");
    } else {
        o.push('[');
        for (i, (d, f)) in layers.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            o.push_str("{\"mediaType\":");
            write_string(&mut o, layer_type(f.compressed));
            desc(&mut o, d, f.size);
        }
        o.push(']');
    }
    o.push('}');
    let mt = if to_oci {
        media::OCI_MANIFEST
    } else {
        media::DOCKER_MANIFEST
    };
    Ok(Converted::new(o, mt, Some(config), dropped))
}

/// The layer blobs of a schema 1 manifest whose diff_id is needed (the
/// non-throwaway ones), after the history is validated.
pub fn needed_layers(manifest: &[u8]) -> Result<Vec<Digest>, ConvertError> {
    let entries = fix_layers(entries(manifest)?)?;
    let mut out = Vec::new();
    for e in entries.iter().rev().filter(|e| !e.compat.throwaway) {
        let d: Digest = e
            .blob_sum
            .parse()
            .map_err(|_| err(format!("blobSum {:?} is not a sha256 digest", e.blob_sum)))?;
        if !out.contains(&d) {
            out.push(d);
        }
    }
    Ok(out)
}

/// The config fields a conversion to OCI drops, known without the layers'
/// diff_ids (they do not change which fields exist).
pub fn dropped_fields(manifest: &[u8]) -> Result<Vec<String>, ConvertError> {
    let entries = fix_layers(entries(manifest)?)?;
    let placeholder = LayerFacts {
        size: 0,
        diff_id: Some(Digest::of(b"")),
        compressed: true,
    };
    let facts: HashMap<Digest, LayerFacts> = needed_layers(manifest)?
        .into_iter()
        .map(|d| (d, placeholder.clone()))
        .collect();
    let (v2_config, _) = synthesize(&entries, &facts)?;
    Ok(super::config::dropped_fields(&v2_config))
}
