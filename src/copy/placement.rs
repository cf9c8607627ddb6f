//! Where each blob is in the target, in few bytes per blob: which target
//! repositories hold it (the sources of cross-repository mounts) and which
//! are getting it now. The run's blob state (`blob::Blobs`) keeps one of
//! these for the whole plan, and a plan has a few blobs per tag, so an
//! entry is a digest and 16 bytes: repositories are named by number, and
//! a blob in several repositories has its list boxed.

use crate::oci::Digest;
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::OnceCell;

/// A target repository, by its place in the table of names.
pub type RepoId = u32;

/// What is known of a blob in one repository.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Known {
    /// The journal says it is there: a source to mount from, but looked
    /// up before it counts as present.
    Recorded,
    /// Present: made present, or found there, in this run.
    Present,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Holder {
    repo: RepoId,
    known: Known,
}

/// The repositories of one blob: most blobs are in one, held in place.
enum Holders {
    One(Holder),
    Many(Box<[Holder]>),
}

impl Holders {
    fn as_slice(&self) -> &[Holder] {
        match self {
            Holders::One(h) => std::slice::from_ref(h),
            Holders::Many(v) => v,
        }
    }
}

/// A write of a blob into a repository under way: others wait on it.
pub type Pending = Arc<OnceCell<()>>;

/// The blobs of the target, as far as this run knows them.
#[derive(Default)]
pub struct Placement {
    names: Vec<Arc<str>>,
    ids: HashMap<Arc<str>, RepoId>,
    blobs: HashMap<Digest, Holders>,
    /// Writes under way, by blob and repository. Every write of a blob
    /// into a repository goes through one, so no two run at once
    /// (distribution rewrites the repository's link file on each commit,
    /// and a manifest push reading it at that moment fails with "blob
    /// unknown"). Gone once the blob is present.
    pending: HashMap<(Digest, RepoId), Pending>,
}

impl Placement {
    /// The number of `name`, given on first use.
    pub fn repo(&mut self, name: &str) -> RepoId {
        if let Some(id) = self.ids.get(name) {
            return *id;
        }
        // A plan names far fewer than 2^32 target repositories (each has a
        // tag job); saturating keeps this total.
        let id = RepoId::try_from(self.names.len()).unwrap_or(RepoId::MAX);
        let name: Arc<str> = name.into();
        self.names.push(name.clone());
        self.ids.insert(name, id);
        id
    }

    /// The name of repository `id`.
    pub fn name(&self, id: RepoId) -> Option<&Arc<str>> {
        self.names.get(id as usize)
    }

    /// What is known of `digest` in `repo`.
    pub fn get(&self, digest: &Digest, repo: RepoId) -> Option<Known> {
        self.holders(digest)
            .find(|(r, _)| *r == repo)
            .map(|(_, known)| known)
    }

    /// The repositories known to hold `digest`.
    pub fn holders(&self, digest: &Digest) -> impl Iterator<Item = (RepoId, Known)> + '_ {
        self.blobs
            .get(digest)
            .map(Holders::as_slice)
            .unwrap_or_default()
            .iter()
            .map(|h| (h.repo, h.known))
    }

    /// Notes what is known of `digest` in `repo`.
    pub fn set(&mut self, digest: &Digest, repo: RepoId, known: Known) {
        let new = Holder { repo, known };
        match self.blobs.get_mut(digest) {
            None => {
                self.blobs.insert(digest.clone(), Holders::One(new));
            }
            Some(Holders::One(h)) if h.repo == repo => h.known = known,
            Some(Holders::Many(v)) if v.iter().any(|h| h.repo == repo) => {
                for h in v.iter_mut().filter(|h| h.repo == repo) {
                    h.known = known;
                }
            }
            // A new repository for a blob held elsewhere: rare (a plan
            // shares blobs across repositories by base images), so the
            // list is rebuilt rather than kept with room to grow.
            Some(holders) => {
                let mut v = holders.as_slice().to_vec();
                v.push(new);
                *holders = Holders::Many(v.into_boxed_slice());
            }
        }
    }

    /// The write of `digest` into `repo` under way, or a new one.
    pub fn pending(&mut self, digest: &Digest, repo: RepoId) -> Pending {
        self.pending
            .entry((digest.clone(), repo))
            .or_default()
            .clone()
    }

    /// `digest` is present in `repo`: any write of it there is over.
    pub fn present(&mut self, digest: &Digest, repo: RepoId) {
        self.set(digest, repo, Known::Present);
        self.pending.remove(&(digest.clone(), repo));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_is_known_per_repository() {
        let mut p = Placement::default();
        let (a, b, c) = (p.repo("ns/a"), p.repo("ns/b"), p.repo("ns/c"));
        assert_eq!(p.repo("ns/a"), a, "a name keeps its number");
        assert_eq!(p.name(b).map(|n| &**n), Some("ns/b"));
        let d = Digest::of(b"layer");
        assert_eq!(p.get(&d, a), None);
        p.set(&d, a, Known::Recorded);
        p.set(&d, b, Known::Present);
        p.set(&d, c, Known::Recorded);
        p.set(&d, a, Known::Present);
        assert_eq!(p.get(&d, a), Some(Known::Present));
        assert_eq!(p.get(&d, b), Some(Known::Present));
        assert_eq!(p.get(&d, c), Some(Known::Recorded));
        let all: Vec<_> = p.holders(&d).collect();
        assert_eq!(
            all,
            vec![
                (a, Known::Present),
                (b, Known::Present),
                (c, Known::Recorded)
            ]
        );
        assert_eq!(p.holders(&Digest::of(b"other")).count(), 0);
    }

    #[test]
    fn a_write_under_way_is_shared_until_the_blob_is_present() {
        let mut p = Placement::default();
        let a = p.repo("ns/a");
        let d = Digest::of(b"layer");
        let w = p.pending(&d, a);
        assert!(
            Arc::ptr_eq(&w, &p.pending(&d, a)),
            "one write per blob and repository"
        );
        p.present(&d, a);
        assert_eq!(p.get(&d, a), Some(Known::Present));
        assert!(
            !Arc::ptr_eq(&w, &p.pending(&d, a)),
            "the finished write is forgotten"
        );
    }

    #[test]
    fn an_entry_is_small() {
        // The point of this module: a plan holds one entry per blob (the
        // size README's Performance section quotes).
        assert!(std::mem::size_of::<Holders>() <= 16);
        assert!(std::mem::size_of::<(Digest, Holders)>() <= 56);
    }
}
