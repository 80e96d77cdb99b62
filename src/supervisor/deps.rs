//! Who waits for whom, precomputed from a config so the core's checks are map lookups.
//! (Validation of the graph — unknown names, cycles — happens at load, in `graph.rs`.)

use crate::config::Config;
use std::collections::BTreeMap;

/// How a service depends on another (SPEC.md: requires, wants, after/before).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DepKind {
    /// Must be RUNNING (oneshot: succeeded) first; its failure holds this one back.
    Requires,
    /// Started too and waited for, but its failure does not block.
    Wants,
    /// Ordering only: waited for only while it is itself starting.
    After,
}

#[derive(Debug, Clone, Default)]
pub struct DepTable {
    /// service → what it waits for before starting.
    waits_for: BTreeMap<String, Vec<(String, DepKind)>>,
    /// service → services that wait for it (every kind); they stop before it.
    waited_by: BTreeMap<String, Vec<String>>,
    /// service → services that `require` it (or bind to it); they stop when it stops.
    required_by: BTreeMap<String, Vec<String>>,
    /// service → services that `binds-to` it: they are bounced whenever its process exits.
    bound_by: BTreeMap<String, Vec<String>>,
}

impl DepTable {
    pub fn new(config: &Config) -> DepTable {
        let mut table = DepTable::default();
        for (name, spec) in &config.services {
            let deps = &spec.deps;
            let kinds = [
                (&deps.requires, DepKind::Requires),
                (&deps.binds_to, DepKind::Requires),
                (&deps.wants, DepKind::Wants),
                (&deps.after, DepKind::After),
            ];
            for (names, kind) in kinds {
                for dep in names {
                    table.add(name, dep, kind);
                }
            }
            for dep in &deps.binds_to {
                let bound = table.bound_by.entry(dep.clone()).or_default();
                if !bound.contains(name) {
                    bound.push(name.clone());
                }
            }
            // `before X` here means X is `after` this one.
            for later in &deps.before {
                table.add(later, name, DepKind::After);
            }
        }
        table
    }

    fn add(&mut self, service: &str, dep: &str, kind: DepKind) {
        let list = self.waits_for.entry(service.to_string()).or_default();
        if let Some(existing) = list.iter_mut().find(|(name, _)| name == dep) {
            // The strongest relation wins: requires > wants > after.
            existing.1 = strongest(existing.1, kind);
        } else {
            list.push((dep.to_string(), kind));
            self.waited_by
                .entry(dep.to_string())
                .or_default()
                .push(service.to_string());
        }
        if kind == DepKind::Requires {
            let dependents = self.required_by.entry(dep.to_string()).or_default();
            if !dependents.iter().any(|d| d == service) {
                dependents.push(service.to_string());
            }
        }
    }

    pub fn waits_for(&self, service: &str) -> &[(String, DepKind)] {
        self.waits_for.get(service).map_or(&[], Vec::as_slice)
    }

    pub fn waited_by(&self, service: &str) -> &[String] {
        self.waited_by.get(service).map_or(&[], Vec::as_slice)
    }

    pub fn required_by(&self, service: &str) -> &[String] {
        self.required_by.get(service).map_or(&[], Vec::as_slice)
    }

    pub fn bound_by(&self, service: &str) -> &[String] {
        self.bound_by.get(service).map_or(&[], Vec::as_slice)
    }
}

fn strongest(a: DepKind, b: DepKind) -> DepKind {
    use DepKind::*;
    match (a, b) {
        (Requires, _) | (_, Requires) => Requires,
        (Wants, _) | (_, Wants) => Wants,
        _ => After,
    }
}
