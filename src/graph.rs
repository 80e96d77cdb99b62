//! The dependency graph of a [`Config`]: start order, layers, who waits for whom, cycles.
//!
//! Edges point from a dependency to its dependent (`db → web` when web requires db), so a
//! topological order is a start order and its reverse a stop order. `a before b` is the
//! edge `a → b`, exactly as `b after a`. Nodes are indexes into the sorted list of names,
//! which makes every "ties broken by name" a comparison of indexes.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use petgraph::algo::tarjan_scc;
use petgraph::graphmap::DiGraphMap;
use petgraph::Direction::{Incoming, Outgoing};

use crate::config::suggest::did_you_mean;
use crate::config::{Config, ConfigError, ServiceSpec};

/// Why one service waits for another; one edge may carry several reasons.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Relation {
    requires: bool,
    wants: bool,
    /// `after` or `before`: order only, nothing pulled in.
    ordering: bool,
}

/// An acyclic dependency graph with every name known. Owns its data, so it can outlive the
/// [`Config`] it came from (the supervisor keeps it across reloads).
#[derive(Debug, Clone)]
pub struct DependencyGraph {
    /// Every service name, sorted; node `i` is `names[i]`.
    names: Vec<String>,
    edges: DiGraphMap<usize, Relation>,
}

impl DependencyGraph {
    /// Check and build the graph: every dependency names a service, and there is no cycle.
    /// All problems are returned at once, each at the location of the service concerned.
    pub fn build(config: &Config) -> Result<DependencyGraph, Vec<ConfigError>> {
        Self::build_checked(config, &|_| false)
    }

    /// Like [`build`](Self::build), but a name for which `defined_elsewhere` is true is not
    /// "unknown" (a service whose own file failed to load): its edges are left out.
    pub(crate) fn build_checked(
        config: &Config,
        defined_elsewhere: &dyn Fn(&str) -> bool,
    ) -> Result<DependencyGraph, Vec<ConfigError>> {
        // `Config::services` is a BTreeMap: keys come sorted, so indexes follow name order.
        let names: Vec<String> = config.services.keys().cloned().collect();
        let mut edges: DiGraphMap<usize, Relation> = DiGraphMap::new();
        for index in 0..names.len() {
            edges.add_node(index);
        }
        let mut errors = Vec::new();
        for (index, spec) in config.services.values().enumerate() {
            for (kind, dependency) in dependencies_of(spec) {
                let Ok(other) = names.binary_search_by(|name| name.as_str().cmp(dependency)) else {
                    if !defined_elsewhere(dependency) {
                        errors.push(ConfigError {
                            location: spec.origin.to_string(),
                            message: format!(
                                "{}: `{}` names unknown service `{dependency}`{}",
                                spec.name,
                                kind.field(),
                                did_you_mean(dependency, names.iter().map(String::as_str))
                            ),
                        });
                    }
                    continue;
                };
                // `before` names a dependent; every other field names a dependency.
                let (from, to) = match kind {
                    Dependency::Before => (index, other),
                    _ => (other, index),
                };
                let mut relation = edges.edge_weight(from, to).copied().unwrap_or_default();
                match kind {
                    Dependency::Requires | Dependency::BindsTo => relation.requires = true,
                    Dependency::Wants => relation.wants = true,
                    Dependency::After | Dependency::Before => relation.ordering = true,
                }
                edges.add_edge(from, to, relation);
            }
        }
        let graph = DependencyGraph { names, edges };
        for cycle in graph.cycles() {
            let first = &config.services[&graph.names[cycle[0]]];
            let path: Vec<&str> = cycle
                .iter()
                .map(|&node| graph.names[node].as_str())
                .collect();
            errors.push(ConfigError {
                location: first.origin.to_string(),
                message: format!(
                    "dependency cycle: {} -> {} (each waits for the next)",
                    path.join(" -> "),
                    path[0]
                ),
            });
        }
        if errors.is_empty() {
            Ok(graph)
        } else {
            Err(errors)
        }
    }

    /// Every service, dependencies first; among those ready at the same time, by name.
    pub fn start_order(&self) -> Vec<String> {
        self.topological_nodes()
            .into_iter()
            .map(|node| self.names[node].clone())
            .collect()
    }

    /// Kahn's algorithm with a min-heap, so ties go to the smallest index (= name).
    fn topological_nodes(&self) -> Vec<usize> {
        let mut waiting: Vec<usize> = (0..self.names.len())
            .map(|node| self.edges.neighbors_directed(node, Incoming).count())
            .collect();
        let mut ready: BinaryHeap<Reverse<usize>> = (0..self.names.len())
            .filter(|&node| waiting[node] == 0)
            .map(Reverse)
            .collect();
        let mut order = Vec::with_capacity(self.names.len());
        while let Some(Reverse(node)) = ready.pop() {
            order.push(node);
            for next in self.edges.neighbors_directed(node, Outgoing) {
                waiting[next] -= 1;
                if waiting[next] == 0 {
                    ready.push(Reverse(next));
                }
            }
        }
        order
    }

    /// The reverse of [`start_order`](Self::start_order): dependents stop first.
    pub fn stop_order(&self) -> Vec<String> {
        let mut order = self.start_order();
        order.reverse();
        order
    }

    /// Layer k holds the services whose longest chain of dependencies has k links; each
    /// layer is sorted by name. Everything in a layer may start together.
    pub fn layers(&self) -> Vec<Vec<String>> {
        let mut depth = vec![0usize; self.names.len()];
        for node in self.topological_nodes() {
            depth[node] = self
                .edges
                .neighbors_directed(node, Incoming)
                .map(|dependency| depth[dependency] + 1)
                .max()
                .unwrap_or(0);
        }
        let mut layers: Vec<Vec<String>> = Vec::new();
        for (node, &k) in depth.iter().enumerate() {
            if layers.len() <= k {
                layers.resize_with(k + 1, Vec::new);
            }
            // Nodes are visited in name order, so each layer comes out sorted.
            layers[k].push(self.names[node].clone());
        }
        layers
    }

    /// Every service that must be RUNNING, done or failed before `name` may start: its
    /// `requires`, `wants` and `after`, and those that list it in `before`. Sorted.
    pub fn waits_for(&self, name: &str) -> Vec<String> {
        self.neighbors(name, Incoming, |_| true)
    }

    /// The hard dependencies of `name` (its `requires`). Sorted.
    pub fn requires(&self, name: &str) -> Vec<String> {
        self.neighbors(name, Incoming, |relation| relation.requires)
    }

    /// The services that `requires` `name` directly: they stop before it. Sorted.
    pub fn hard_dependents(&self, name: &str) -> Vec<String> {
        self.neighbors(name, Outgoing, |relation| relation.requires)
    }

    /// Graphviz: requires solid, wants dashed, ordering only dotted; arrows point from a
    /// dependency to what waits for it, so they follow the start order.
    pub fn to_dot(&self) -> String {
        let mut dot = String::from("digraph taskmaster {\n    rankdir=LR;\n");
        for name in &self.names {
            dot.push_str(&format!("    {};\n", quoted(name)));
        }
        let mut edges: Vec<(usize, usize, &Relation)> = self.edges.all_edges().collect();
        edges.sort_by_key(|&(from, to, _)| (from, to));
        for (from, to, relation) in edges {
            let style = if relation.requires {
                "solid"
            } else if relation.wants {
                "dashed"
            } else {
                "dotted"
            };
            dot.push_str(&format!(
                "    {} -> {} [style={style}];\n",
                quoted(&self.names[from]),
                quoted(&self.names[to])
            ));
        }
        dot.push_str("}\n");
        dot
    }

    /// The start order, one layer a line: `1. db\n2. cache web\n`.
    pub fn render(&self) -> String {
        self.layers()
            .iter()
            .enumerate()
            .map(|(k, layer)| format!("{}. {}\n", k + 1, layer.join(" ")))
            .collect()
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.names
            .binary_search_by(|candidate| candidate.as_str().cmp(name))
            .ok()
    }

    fn neighbors(
        &self,
        name: &str,
        direction: petgraph::Direction,
        keep: impl Fn(&Relation) -> bool,
    ) -> Vec<String> {
        let Some(node) = self.index(name) else {
            return Vec::new();
        };
        let mut found: Vec<usize> = self
            .edges
            .edges_directed(node, direction)
            .filter(|(_, _, relation)| keep(relation))
            .map(|(from, to, _)| if direction == Incoming { from } else { to })
            .collect();
        found.sort_unstable();
        found.into_iter().map(|n| self.names[n].clone()).collect()
    }

    /// Each cycle once, as the path `[a, b, c]` meaning a waits for b, b for c, c for a.
    /// It starts at the cycle's first name and is a shortest way back to it.
    fn cycles(&self) -> Vec<Vec<usize>> {
        let mut cycles: Vec<Vec<usize>> = tarjan_scc(&self.edges)
            .into_iter()
            .filter(|component| {
                component.len() > 1 || self.edges.contains_edge(component[0], component[0])
            })
            .filter_map(|component| self.path_back(&component))
            .collect();
        cycles.sort();
        cycles
    }

    /// Breadth-first from the smallest node of a strongly connected component, along
    /// "waits for" (incoming edges), until it comes back to the start.
    fn path_back(&self, component: &[usize]) -> Option<Vec<usize>> {
        let start = *component.iter().min()?;
        let mut came_from: Vec<Option<usize>> = vec![None; self.names.len()];
        let mut queue = VecDeque::from([start]);
        while let Some(node) = queue.pop_front() {
            let mut dependencies: Vec<usize> = self
                .edges
                .neighbors_directed(node, Incoming)
                .filter(|n| component.contains(n))
                .collect();
            dependencies.sort_unstable();
            for dependency in dependencies {
                if dependency == start {
                    let mut path = vec![node];
                    while let Some(previous) = came_from[*path.last()?] {
                        path.push(previous);
                    }
                    path.reverse();
                    return Some(path);
                }
                if came_from[dependency].is_none() {
                    came_from[dependency] = Some(node);
                    queue.push_back(dependency);
                }
            }
        }
        None
    }
}

/// The four dependency fields of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dependency {
    Requires,
    Wants,
    After,
    Before,
    BindsTo,
}

impl Dependency {
    fn field(self) -> &'static str {
        match self {
            Dependency::Requires => "requires",
            Dependency::Wants => "wants",
            Dependency::After => "after",
            Dependency::Before => "before",
            Dependency::BindsTo => "binds-to",
        }
    }
}

/// Every name a service's dependency fields mention, with the field it came from.
fn dependencies_of(spec: &ServiceSpec) -> Vec<(Dependency, &str)> {
    let deps = &spec.deps;
    [
        (Dependency::Requires, &deps.requires),
        (Dependency::Wants, &deps.wants),
        (Dependency::After, &deps.after),
        (Dependency::Before, &deps.before),
        (Dependency::BindsTo, &deps.binds_to),
    ]
    .into_iter()
    .flat_map(|(kind, names)| names.iter().map(move |name| (kind, name.as_str())))
    .collect()
}

/// A Graphviz ID. Service names cannot hold quotes, but escaping costs nothing.
fn quoted(name: &str) -> String {
    format!("\"{}\"", name.replace('\\', "\\\\").replace('"', "\\\""))
}

#[cfg(test)]
mod tests;
