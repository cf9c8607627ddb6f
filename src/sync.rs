//! Two small pieces of shared state the engine, `check` and the registry
//! client all need, written once: a mutex lock that survives a panicked
//! holder, and [`OnceMap`], one shared value per key made on first use
//! (a `OnceCell` that runs a read once however many tags want it, or an
//! async mutex that serialises the work on one digest or token scope).
//! Written here rather than taken from a crate: `dashmap` or `moka` would
//! bring sharding or eviction this does not need.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

/// Locks `m`, taking the data of a holder that panicked: every value
/// behind these locks stays consistent between statements, so a panic
/// elsewhere must not turn every later lock into one.
pub fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One shared `V` per key, created (by `Default`) the first time the key
/// is asked for and handed out as an `Arc` to everyone who asks.
#[derive(Debug)]
pub struct OnceMap<K, V> {
    cells: Mutex<HashMap<K, Arc<V>>>,
}

impl<K, V> Default for OnceMap<K, V> {
    fn default() -> Self {
        OnceMap {
            cells: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Eq + Hash + Clone, V: Default> OnceMap<K, V> {
    /// The value for `key`.
    pub fn get(&self, key: &K) -> Arc<V> {
        let mut m = lock(&self.cells);
        match m.get(key) {
            Some(v) => v.clone(),
            None => m.entry(key.clone()).or_default().clone(),
        }
    }

    /// The values for `keys`, under one lock.
    pub fn get_all<'k>(&self, keys: impl IntoIterator<Item = &'k K>) -> Vec<Arc<V>>
    where
        K: 'k,
    {
        let mut m = lock(&self.cells);
        keys.into_iter()
            .map(|k| m.entry(k.clone()).or_default().clone())
            .collect()
    }

    /// Forgets `key`.
    pub fn remove(&self, key: &K) {
        lock(&self.cells).remove(key);
    }

    /// Forgets `key` if it still holds `value` (not one made after it).
    pub fn remove_if_same(&self, key: &K, value: &Arc<V>) {
        let mut m = lock(&self.cells);
        if m.get(key).is_some_and(|v| Arc::ptr_eq(v, value)) {
            m.remove(key);
        }
    }

    /// Calls `f` with the map, under its lock.
    pub fn with<R>(&self, f: impl FnOnce(&HashMap<K, Arc<V>>) -> R) -> R {
        f(&lock(&self.cells))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_value_per_key_until_removed() {
        let m: OnceMap<u8, Mutex<u32>> = OnceMap::default();
        let a = m.get(&1);
        *lock(&a) += 1;
        assert_eq!(*lock(&m.get(&1)), 1, "the same value");
        let all = m.get_all([&1, &2]);
        assert!(Arc::ptr_eq(&all[0], &a));
        let fresh = Arc::new(Mutex::new(0));
        m.remove_if_same(&1, &fresh);
        assert_eq!(*lock(&m.get(&1)), 1, "another value: kept");
        m.remove_if_same(&1, &a);
        assert_eq!(*lock(&m.get(&1)), 0, "removed: made again");
        m.remove(&2);
        assert_eq!(m.with(|m| m.len()), 1);
    }

    #[test]
    fn a_poisoned_lock_still_gives_its_data() {
        let m = Arc::new(Mutex::new(5));
        let m2 = m.clone();
        let _ = std::thread::spawn(move || {
            let _g = lock(&m2);
            panic!("holder dies");
        })
        .join();
        assert!(m.is_poisoned());
        assert_eq!(*lock(&m), 5);
    }
}
