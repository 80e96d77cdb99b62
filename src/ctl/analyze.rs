//! `tmctl analyze`: the boot timeline as text (like systemd-analyze blame and
//! critical-chain) and, with `--svg FILE`, as a picture: one bar per instance on a time
//! axis from its spawn to when it was up, with its dependencies drawn as lines.

use crate::control::proto::{Analysis, AnalyzeEntry};
use crate::supervisor::millis_text;
use std::fmt::Write;

/// The timeline table, then the critical chain.
///
/// ```text
/// SPAWNED   UP AT     TOOK     NAME
/// 0ms       105ms     105ms    db
/// 106ms     1.210s    1.104s   web
/// -         -         -        idle (STOPPED)
///
/// critical chain (up at, +time it took):
/// web @1.210s +1.104s
/// └─ db @105ms +105ms
/// ```
pub fn timeline_text(analysis: &Analysis) -> String {
    let mut out = String::new();
    let up: Vec<&AnalyzeEntry> = analysis
        .entries
        .iter()
        .filter(|e| e.ready_ms.is_some())
        .collect();
    let last = up.iter().filter_map(|e| e.ready_ms).max();
    let _ = match last {
        Some(last) => writeln!(
            out,
            "{} of {} instance(s) came up since the daemon started; the last at {}",
            up.len(),
            analysis.entries.len(),
            millis_text(last)
        ),
        None => writeln!(out, "no instance has come up since the daemon started"),
    };
    let _ = writeln!(out);
    let dash = || "-".to_string();
    let rows: Vec<[String; 4]> = analysis
        .entries
        .iter()
        .map(|e| {
            let took = match (e.spawned_ms, e.ready_ms) {
                (Some(s), Some(r)) => millis_text(r.saturating_sub(s)),
                _ => dash(),
            };
            let mut name = e.name.clone();
            if e.ready_ms.is_none() {
                name.push_str(&format!(" ({})", e.state));
            }
            [
                e.spawned_ms.map_or_else(dash, millis_text),
                e.ready_ms.map_or_else(dash, millis_text),
                took,
                name,
            ]
        })
        .collect();
    let _ = writeln!(out, "{:<9} {:<9} {:<9} NAME", "SPAWNED", "UP AT", "TOOK");
    for [spawned, ready, took, name] in rows {
        let _ = writeln!(out, "{spawned:<9} {ready:<9} {took:<9} {name}");
    }
    if !analysis.chain.is_empty() {
        let _ = writeln!(out, "\ncritical chain (up at, +time it took):");
        for (depth, name) in analysis.chain.iter().enumerate() {
            let entry = analysis.entries.iter().find(|e| &e.name == name);
            let at = entry
                .and_then(|e| e.ready_ms)
                .map_or_else(dash, millis_text);
            let took = entry
                .and_then(|e| Some(e.ready_ms?.saturating_sub(e.spawned_ms?)))
                .map_or_else(dash, millis_text);
            let indent = if depth == 0 {
                String::new()
            } else {
                format!("{}└─ ", "  ".repeat(depth - 1))
            };
            let _ = writeln!(out, "{indent}{name} @{at} +{took}");
        }
    }
    out
}

const ROW: f64 = 22.0;
const LABEL: f64 = 180.0;
const PLOT: f64 = 760.0;
const TOP: f64 = 40.0;

/// The timeline as an SVG document: bars on a time axis (green: came up, red: FATAL,
/// grey: not up), grey lines from each dependency's end to the start of what waited for
/// it, the critical chain's bars outlined.
pub fn timeline_svg(analysis: &Analysis) -> String {
    let entries: Vec<&AnalyzeEntry> = analysis.entries.iter().collect();
    let end_ms = entries
        .iter()
        .flat_map(|e| [e.spawned_ms, e.ready_ms])
        .flatten()
        .max()
        .unwrap_or(0)
        .max(1);
    let scale = PLOT / end_ms as f64;
    let x = |ms: u64| LABEL + ms as f64 * scale;
    let height = TOP + ROW * entries.len() as f64 + 30.0;
    // Room right of the plot for the last bar's `+1.234s`.
    let width = LABEL + PLOT + 80.0;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect x="0" y="0" width="{width}" height="{height}" fill="white"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="10" y="18" font-size="14" font-weight="bold">taskmaster: start-up timeline ({} instances, last up at {})</text>"#,
        entries.len(),
        millis_text(entries.iter().filter_map(|e| e.ready_ms).max().unwrap_or(0))
    );
    // Time axis: about ten ticks at a round step.
    let step = tick_step(end_ms);
    let mut tick = 0;
    while tick <= end_ms {
        let tx = x(tick);
        let _ = writeln!(
            svg,
            r##"<line x1="{tx:.1}" y1="{TOP}" x2="{tx:.1}" y2="{:.1}" stroke="#e0e0e0"/><text x="{tx:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
            height - 25.0,
            height - 10.0,
            millis_text(tick)
        );
        tick += step;
    }
    let row_of = |name: &str| {
        entries
            .iter()
            .position(|e| e.name == name || e.service == name)
    };
    // Dependencies first, under the bars.
    for (row, entry) in entries.iter().enumerate() {
        let Some(start) = entry.spawned_ms else {
            continue;
        };
        for dep in &entry.after {
            let Some(dep_row) = row_of(dep) else {
                continue;
            };
            let Some(dep_end) = entries[dep_row].ready_ms.or(entries[dep_row].spawned_ms) else {
                continue;
            };
            let (x1, y1) = (x(dep_end), TOP + ROW * dep_row as f64 + ROW / 2.0);
            let (x2, y2) = (x(start), TOP + ROW * row as f64 + ROW / 2.0);
            let _ = writeln!(
                svg,
                r##"<path d="M{x1:.1},{y1:.1} C{:.1},{y1:.1} {:.1},{y2:.1} {x2:.1},{y2:.1}" fill="none" stroke="#888" stroke-width="1" marker-end="url(#arrow)"/>"##,
                x1 + 12.0,
                x2 - 12.0
            );
        }
    }
    let _ = writeln!(
        svg,
        r##"<defs><marker id="arrow" markerWidth="6" markerHeight="6" refX="6" refY="3" orient="auto"><path d="M0,0 L6,3 L0,6 z" fill="#888"/></marker></defs>"##
    );
    for (row, entry) in entries.iter().enumerate() {
        let y = TOP + ROW * row as f64;
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"#,
            LABEL - 8.0,
            y + 15.0,
            escape(&entry.name)
        );
        let Some(start) = entry.spawned_ms else {
            continue;
        };
        let (end, fill) = match (entry.ready_ms, entry.failed) {
            (Some(ready), _) => (ready, "#4caf50"),
            (None, true) => (analysis.elapsed_ms.min(end_ms), "#e53935"),
            (None, false) => (analysis.elapsed_ms.min(end_ms), "#bdbdbd"),
        };
        let bar = (x(end) - x(start)).max(2.0);
        let critical = analysis.chain.contains(&entry.name);
        let outline = if critical {
            r##" stroke="#1a237e" stroke-width="2""##
        } else {
            ""
        };
        let took = entry
            .ready_ms
            .map(|r| format!(" +{}", millis_text(r.saturating_sub(start))))
            .unwrap_or_else(|| format!(" ({})", entry.state));
        let _ = writeln!(
            svg,
            r#"<rect x="{:.1}" y="{:.1}" width="{bar:.1}" height="{:.1}" rx="3" fill="{fill}"{outline}><title>{} spawned at {}{}</title></rect>"#,
            x(start),
            y + 4.0,
            ROW - 8.0,
            escape(&entry.name),
            millis_text(start),
            escape(&took)
        );
        let _ = writeln!(
            svg,
            r##"<text x="{:.1}" y="{:.1}" fill="#333">{}</text>"##,
            x(start) + bar + 4.0,
            y + 15.0,
            escape(took.trim())
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// A round step giving at most about ten ticks: 1, 2 or 5 times a power of ten (ms).
fn tick_step(end_ms: u64) -> u64 {
    let mut step = 1;
    loop {
        for factor in [1, 2, 5] {
            if end_ms / (step * factor) <= 10 {
                return step * factor;
            }
        }
        step *= 10;
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, spawned: Option<u64>, ready: Option<u64>, after: &[&str]) -> AnalyzeEntry {
        AnalyzeEntry {
            name: name.into(),
            service: name.into(),
            state: if ready.is_some() {
                "RUNNING"
            } else {
                "STOPPED"
            }
            .into(),
            spawned_ms: spawned,
            ready_ms: ready,
            failed: false,
            after: after.iter().map(|s| s.to_string()).collect(),
        }
    }

    fn analysis() -> Analysis {
        Analysis {
            elapsed_ms: 5000,
            entries: vec![
                entry("db", Some(0), Some(105), &[]),
                entry("web", Some(106), Some(1210), &["db"]),
                entry("idle", None, None, &[]),
            ],
            chain: vec!["web".into(), "db".into()],
        }
    }

    #[test]
    fn the_text_lists_each_instance_and_the_chain() {
        assert_eq!(
            timeline_text(&analysis()),
            "2 of 3 instance(s) came up since the daemon started; the last at 1.210s

SPAWNED   UP AT     TOOK      NAME
0ms       105ms     105ms     db
106ms     1.210s    1.104s    web
-         -         -         idle (STOPPED)

critical chain (up at, +time it took):
web @1.210s +1.104s
└─ db @105ms +105ms
"
        );
    }

    #[test]
    fn the_svg_has_a_bar_per_started_instance_and_a_line_per_dependency() {
        let svg = timeline_svg(&analysis());
        assert!(svg.starts_with("<svg "));
        assert!(svg.trim_end().ends_with("</svg>"));
        assert_eq!(svg.matches("<rect x=").count(), 3, "{svg}"); // background + 2 bars
        assert_eq!(svg.matches("marker-end").count(), 1, "{svg}");
    }

    #[test]
    fn ticks_are_round() {
        assert_eq!(tick_step(1210), 200);
        assert_eq!(tick_step(9), 1);
        assert_eq!(tick_step(45_000), 5000);
    }
}
