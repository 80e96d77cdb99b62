//! A service's `env` block: what it adds to the environment of its processes.

use std::collections::BTreeMap;

/// `KEY value` pairs sorted by key, each key once: a map with the lookups the daemon needs,
/// kept as one vector of exactly its length. A `BTreeMap` allocates a node of eleven slots
/// (544 bytes) for even one variable; every service holds its map for as long as it is
/// loaded, so with 1,000 services of one variable each that was 0.5 MiB of the daemon's
/// heap (heaptrack, bench/PROFILES.md, memory).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnvVars(Vec<(String, String)>);

impl EnvVars {
    pub fn new() -> EnvVars {
        EnvVars(Vec::new())
    }

    fn position(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    pub fn get(&self, key: &str) -> Option<&String> {
        self.position(key).ok().map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    /// Sets `key`; returns the value it replaced, as a map does.
    pub fn insert(&mut self, key: String, value: String) -> Option<String> {
        match self.position(&key) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, value)),
            Err(i) => {
                self.0.insert(i, (key, value));
                None
            }
        }
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// In key order, as a `BTreeMap` iterates.
    pub fn iter(&self) -> impl Iterator<Item = (&String, &String)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// The same pairs as a map, for a start that adds its own variables to them.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.0.iter().cloned().collect()
    }
}

impl Extend<(String, String)> for EnvVars {
    /// A later value of a key replaces an earlier one, as a map's `extend` does.
    fn extend<I: IntoIterator<Item = (String, String)>>(&mut self, pairs: I) {
        for (key, value) in pairs {
            self.insert(key, value);
        }
        self.0.shrink_to_fit();
    }
}

impl From<BTreeMap<String, String>> for EnvVars {
    fn from(map: BTreeMap<String, String>) -> EnvVars {
        // A map's order is already the key order; the vector is exactly as long.
        EnvVars(map.into_iter().collect())
    }
}

impl<const N: usize> From<[(String, String); N]> for EnvVars {
    fn from(pairs: [(String, String); N]) -> EnvVars {
        pairs.into_iter().collect()
    }
}

impl FromIterator<(String, String)> for EnvVars {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(pairs: I) -> EnvVars {
        let mut vars = EnvVars::new();
        vars.extend(pairs);
        vars
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> EnvVars {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn behaves_as_a_map_sorted_by_key_with_the_last_value_of_a_key() {
        let mut env = vars(&[("PORT", "80"), ("MODE", "dev"), ("PORT", "8080")]);
        assert_eq!(env.len(), 2);
        assert_eq!(env.get("PORT").map(String::as_str), Some("8080"));
        assert!(env.contains_key("MODE") && !env.contains_key("HOME"));
        assert_eq!(env.insert("MODE".into(), "prod".into()), Some("dev".into()));
        assert_eq!(env.insert("A".into(), "1".into()), None);
        let order: Vec<_> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(order, ["A=1", "MODE=prod", "PORT=8080"]);
        let map = env.to_map();
        assert_eq!(EnvVars::from(map.clone()), env);
        assert!(map.iter().eq(env.iter()));
    }

    #[test]
    fn holds_no_spare_room() {
        let env = vars(&[("BENCH_SVC", "svc-0001")]);
        assert_eq!(env.0.capacity(), 1);
        assert!(EnvVars::new().is_empty());
    }
}
