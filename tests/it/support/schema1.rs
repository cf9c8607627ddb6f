//! Signed schema 1 manifests with any `v1Compatibility` we like, for the
//! edge cases skopeo's own schema 1 writer never produces (old builders
//! left out `created`, `Size`, `container_config`, ...). Signed as libtrust
//! signs them (JWS, ES256, pretty signature), because distribution 2.8
//! refuses unsigned schema 1.

use super::fixtures::Pusher;
use base64::Engine as _;

const B64URL: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Base32 (RFC 4648, no padding), for libtrust's key ID.
fn base32(data: &[u8]) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut out = String::new();
    let (mut buffer, mut bits) = (0u64, 0u32);
    for &b in data {
        buffer = (buffer << 8) | u64::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(ALPHABET[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

/// libtrust's key ID: SHA-256 of the DER public key, 240 bits, base32 in
/// groups of four.
fn key_id(spki_der: &[u8]) -> String {
    use sha2::Digest as _;
    let sum = sha2::Sha256::digest(spki_der);
    let s = base32(&sum[..30]);
    s.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).to_string())
        .collect::<Vec<_>>()
        .join(":")
}

/// Signs `content` (pretty JSON ending in `\n}`) as libtrust does.
pub fn sign(content: &[u8]) -> Result<Vec<u8>, String> {
    let key = rcgen::KeyPair::generate().map_err(|e| e.to_string())?;
    let raw = key.public_key_raw();
    if raw.len() != 65 || raw[0] != 4 {
        return Err("not an uncompressed P-256 point".into());
    }
    let (x, y) = (&raw[1..33], &raw[33..65]);
    let close = content
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .ok_or("empty content")?;
    let last = content[..close]
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .ok_or("no body")?;
    let format_length = last + 1;
    let tail = &content[format_length..];
    let protected = serde_json::json!({
        "formatLength": format_length,
        "formatTail": B64URL.encode(tail),
        "time": "2015-01-01T00:00:00Z",
    });
    let protected = B64URL.encode(serde_json::to_vec(&protected).map_err(|e| e.to_string())?);
    let signing_input = format!("{protected}.{}", B64URL.encode(content));
    let ek = jsonwebtoken::EncodingKey::from_ec_pem(key.serialize_pem().as_bytes())
        .map_err(|e| e.to_string())?;
    let signature = jsonwebtoken::crypto::sign(
        signing_input.as_bytes(),
        &ek,
        jsonwebtoken::Algorithm::ES256,
    )
    .map_err(|e| e.to_string())?;
    let sigs = serde_json::json!([{
        "header": {
            "jwk": {
                "crv": "P-256",
                "kid": key_id(&key.public_key_der()),
                "kty": "EC",
                "x": B64URL.encode(x),
                "y": B64URL.encode(y),
            },
            "alg": "ES256",
        },
        "signature": signature,
        "protected": protected,
    }]);
    let mut out = content[..format_length].to_vec();
    out.extend_from_slice(b",\n   \"signatures\": ");
    out.extend_from_slice(&serde_json::to_vec_pretty(&sigs).map_err(|e| e.to_string())?);
    out.extend_from_slice(tail);
    Ok(out)
}

/// Pushes a signed schema 1 image: `layers` and `compat` (each entry's
/// `v1Compatibility` object) top first, as schema 1 lists them.
pub async fn push(
    r: &Pusher,
    repo: &str,
    tag: &str,
    layers: &[Vec<u8>],
    compat: &[serde_json::Value],
) -> Result<String, String> {
    let mut fs = Vec::new();
    for l in layers {
        fs.push(serde_json::json!({"blobSum": r.blob(repo, l).await?}));
    }
    let history: Vec<serde_json::Value> = compat
        .iter()
        .map(|c| serde_json::json!({"v1Compatibility": c.to_string()}))
        .collect();
    let m = serde_json::json!({
        "schemaVersion": 1,
        "name": repo,
        "tag": tag,
        "architecture": "amd64",
        "fsLayers": fs,
        "history": history,
    });
    let content = serde_json::to_vec_pretty(&m).map_err(|e| e.to_string())?;
    let signed = sign(&content)?;
    r.manifest(
        repo,
        tag,
        "application/vnd.docker.distribution.manifest.v1+prettyjws",
        &signed,
    )
    .await
}
