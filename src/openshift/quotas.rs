//! A project's ResourceQuota objects and the tightest limit they set on
//! image streams and images: what `check` compares the plan with.

use super::wire::RawQuota;

/// The quota resource counting a project's image streams.
pub const IMAGESTREAMS: &str = "openshift.io/imagestreams";
/// The quota resource counting a project's unique images (history too).
pub const IMAGES: &str = "openshift.io/images";

/// A project's ResourceQuota objects.
pub struct Quotas(pub(super) Vec<RawQuota>);

impl Quotas {
    /// The tightest quota on `resource` ([`IMAGESTREAMS`] or [`IMAGES`]),
    /// if any object limits it.
    pub fn tightest(&self, resource: &str) -> Option<Quota> {
        let mut best: Option<Quota> = None;
        for q in &self.0 {
            let parse = |m: &std::collections::HashMap<String, String>| {
                m.get(resource).and_then(|v| v.parse::<u64>().ok())
            };
            if let Some(hard) = parse(&q.status.hard) {
                let used = parse(&q.status.used).unwrap_or(0);
                // The tightest quota is the one that binds.
                if best.is_none_or(|b| hard.saturating_sub(used) < b.hard.saturating_sub(b.used)) {
                    best = Some(Quota { hard, used });
                }
            }
        }
        best
    }
}

/// One ResourceQuota resource of a project: its hard limit and use.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Quota {
    /// The hard limit.
    pub hard: u64,
    /// In use.
    pub used: u64,
}
