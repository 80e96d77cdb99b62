use std::fmt::Write;
use std::path::Path;

use super::*;
use crate::config::parse_str;

/// A config from `(name, dependency fields)` pairs, each service on its own line so that
/// service `i` (0-based) is at line `i + 1`.
fn config(services: &[(&str, &str)]) -> Config {
    let text: String = services
        .iter()
        .map(|(name, deps)| format!("service \"{name}\" {{ cmd \"/bin/true\"; {deps} }}\n"))
        .collect();
    let specs = parse_str(Path::new("deps.kdl"), &text).unwrap();
    Config {
        services: specs.into_iter().map(|s| (s.name.clone(), s)).collect(),
    }
}

fn graph(services: &[(&str, &str)]) -> DependencyGraph {
    DependencyGraph::build(&config(services)).unwrap()
}

fn errors(services: &[(&str, &str)]) -> Vec<String> {
    DependencyGraph::build(&config(services))
        .unwrap_err()
        .iter()
        .map(ToString::to_string)
        .collect()
}

fn strings(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| name.to_string()).collect()
}

#[test]
fn chain() {
    let g = graph(&[
        ("web", "requires \"app\""),
        ("app", "requires \"db\""),
        ("db", ""),
    ]);
    assert_eq!(g.start_order(), strings(&["db", "app", "web"]));
    assert_eq!(g.stop_order(), strings(&["web", "app", "db"]));
    assert_eq!(
        g.layers(),
        vec![strings(&["db"]), strings(&["app"]), strings(&["web"])]
    );
    assert_eq!(g.render(), "1. db\n2. app\n3. web\n");
    assert_eq!(g.requires("web"), strings(&["app"]));
    assert_eq!(g.hard_dependents("db"), strings(&["app"]));
    assert!(g.hard_dependents("web").is_empty());
}

#[test]
fn diamond() {
    let g = graph(&[
        ("web", "requires \"cache\" \"api\""),
        ("cache", "wants \"db\""),
        ("api", "after \"db\""),
        ("db", ""),
    ]);
    assert_eq!(g.start_order(), strings(&["db", "api", "cache", "web"]));
    assert_eq!(
        g.layers(),
        vec![
            strings(&["db"]),
            strings(&["api", "cache"]),
            strings(&["web"])
        ]
    );
    assert_eq!(g.render(), "1. db\n2. api cache\n3. web\n");
    assert_eq!(g.waits_for("web"), strings(&["api", "cache"]));
    assert_eq!(g.waits_for("cache"), strings(&["db"]));
    // `wants` and `after` are not hard dependencies.
    assert!(g.requires("cache").is_empty());
    assert!(g.requires("api").is_empty());
    assert!(g.hard_dependents("db").is_empty());
    assert_eq!(g.hard_dependents("cache"), strings(&["web"]));
}

#[test]
fn before_is_after_seen_from_the_other_side() {
    let g = graph(&[
        ("net", "before \"web\" \"db\""),
        ("web", ""),
        ("db", "requires \"disk\""),
        ("disk", ""),
    ]);
    assert_eq!(g.waits_for("web"), strings(&["net"]));
    assert_eq!(g.waits_for("db"), strings(&["disk", "net"]));
    assert!(g.waits_for("net").is_empty());
    assert!(g.requires("web").is_empty());
    assert_eq!(g.start_order(), strings(&["disk", "net", "db", "web"]));
}

#[test]
fn unknown_dependency_names_both_ends() {
    assert_eq!(
        errors(&[("db", ""), ("web", "requires \"dbb\"; before \"proxy\"")]),
        vec![
            "deps.kdl:2:1: web: `requires` names unknown service `dbb`; did you mean `db`?",
            "deps.kdl:2:1: web: `before` names unknown service `proxy`",
        ]
    );
}

#[test]
fn cycle_is_named_in_order() {
    assert_eq!(
        errors(&[
            ("a", "requires \"b\""),
            ("b", "wants \"c\""),
            ("c", "after \"a\""),
            ("d", "")
        ]),
        vec!["deps.kdl:1:1: dependency cycle: a -> b -> c -> a (each waits for the next)"]
    );
    // The same cycle spelled with `before`: c before a means a waits for c.
    assert_eq!(
        errors(&[
            ("a", ""),
            ("b", "requires \"a\""),
            ("c", "requires \"b\"; before \"a\"")
        ]),
        vec!["deps.kdl:1:1: dependency cycle: a -> c -> b -> a (each waits for the next)"]
    );
}

#[test]
fn self_cycle_and_every_cycle_reported() {
    assert_eq!(
        errors(&[
            ("x", "requires \"x\""),
            ("p", "after \"q\""),
            ("q", "after \"p\""),
            ("ok", "")
        ]),
        vec![
            "deps.kdl:2:1: dependency cycle: p -> q -> p (each waits for the next)",
            "deps.kdl:1:1: dependency cycle: x -> x (each waits for the next)",
        ]
    );
}

#[test]
fn cycle_path_is_a_real_path_through_a_bigger_component() {
    // Two cycles share `a`: a -> b -> a and a -> c -> d -> a. Either is a true cycle;
    // the shortest one is reported.
    let found = errors(&[
        ("a", "requires \"c\" \"b\""),
        ("b", "requires \"a\""),
        ("c", "requires \"d\""),
        ("d", "requires \"a\""),
    ]);
    assert_eq!(
        found,
        vec!["deps.kdl:1:1: dependency cycle: a -> b -> a (each waits for the next)"]
    );
}

#[test]
fn start_order_is_deterministic() {
    let services = [
        ("zeta", ""),
        ("alpha", ""),
        ("mid", "after \"zeta\""),
        ("beta", ""),
    ];
    let expected = strings(&["alpha", "beta", "zeta", "mid"]);
    for _ in 0..10 {
        assert_eq!(graph(&services).start_order(), expected);
    }
    // Declaration order does not matter either.
    let mut reversed = services;
    reversed.reverse();
    assert_eq!(graph(&reversed).start_order(), expected);
}

#[test]
fn fan_out_of_a_hundred() {
    let names: Vec<String> = (0..100).map(|i| format!("worker{i:03}")).collect();
    let mut services = vec![("db", String::new())];
    services.extend(
        names
            .iter()
            .map(|name| (name.as_str(), "requires \"db\"".to_string())),
    );
    let services: Vec<(&str, &str)> = services.iter().map(|(n, d)| (*n, d.as_str())).collect();
    let g = graph(&services);

    let mut expected = vec!["db".to_string()];
    expected.extend(names.iter().cloned());
    assert_eq!(g.start_order(), expected);
    assert_eq!(g.layers(), vec![vec!["db".to_string()], names.clone()]);
    assert_eq!(g.hard_dependents("db"), names);
    assert_eq!(g.requires("worker042"), strings(&["db"]));
}

#[test]
fn dot_styles_follow_the_relation() {
    let g = graph(&[
        ("web", "requires \"db\"; wants \"cache\"; after \"log\""),
        ("db", "after \"log\""),
        ("cache", ""),
        ("log", "before \"db\""),
    ]);
    let mut expected = String::from("digraph taskmaster {\n    rankdir=LR;\n");
    for name in ["cache", "db", "log", "web"] {
        writeln!(expected, "    \"{name}\";").unwrap();
    }
    expected.push_str(
        "    \"cache\" -> \"web\" [style=dashed];\n    \"db\" -> \"web\" [style=solid];\n    \
         \"log\" -> \"db\" [style=dotted];\n    \"log\" -> \"web\" [style=dotted];\n}\n",
    );
    assert_eq!(g.to_dot(), expected);
}

#[test]
fn requires_and_after_on_one_edge_is_solid_and_hard() {
    let g = graph(&[("web", "requires \"db\"; after \"db\""), ("db", "")]);
    assert!(g.to_dot().contains("\"db\" -> \"web\" [style=solid]"));
    assert_eq!(g.requires("web"), strings(&["db"]));
}

#[test]
fn unknown_names_have_no_neighbours_and_empty_config_renders_nothing() {
    let g = graph(&[("a", "")]);
    assert!(g.waits_for("nope").is_empty());
    assert!(g.hard_dependents("nope").is_empty());
    let empty = DependencyGraph::build(&Config::default()).unwrap();
    assert!(empty.start_order().is_empty());
    assert!(empty.layers().is_empty());
    assert_eq!(empty.render(), "");
}
