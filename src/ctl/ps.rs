//! `tmctl ps [NAME...]`: each instance's process tree, read from /proc by tmctl itself (the
//! daemon only says where to look: main pid, process group, cgroup), so the daemon's loop
//! never walks /proc.
//!
//! An instance's processes are those of its cgroup (every process it started, wherever it
//! went), of its process group or session, and every descendant of any of them by parent
//! pid: a child that called `setsid()` is found through its cgroup, or through its parent
//! while that lives. One that also left the cgroup (or has none) and whose parent is gone
//! (reparented to taskmasterd or init) cannot be told from any other process: it is not
//! shown.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde::Serialize;

use crate::control::proto::PsInstance;

/// Sub-cgroups visited below an instance's own, at most (a service may make its own).
const MAX_CGROUP_DIRS: usize = 256;

/// One process as /proc tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Proc {
    pub pid: i32,
    pub ppid: i32,
    /// `R`, `S`, `D`, `Z`, `T`…
    pub state: String,
    pub pgrp: i32,
    #[serde(skip)]
    pub session: i32,
    /// The command line, or `[comm]` when it has none (a zombie).
    pub command: String,
}

/// One instance with its processes in tree order (`depth` 0 for a root).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Tree {
    pub name: String,
    pub state: String,
    pub pid: Option<i32>,
    pub group: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cgroup: Option<String>,
    pub processes: Vec<Member>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Member {
    #[serde(flatten)]
    pub process: Proc,
    pub depth: usize,
    /// It is no longer in the instance's process group (found by cgroup or parent).
    pub left_group: bool,
}

/// Every process on the machine, now.
pub fn snapshot(proc_root: &Path) -> Vec<Proc> {
    let Ok(entries) = std::fs::read_dir(proc_root) else {
        return Vec::new();
    };
    entries
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| read_proc(proc_root, pid))
        .collect()
}

/// `/proc/PID/stat` and `/proc/PID/cmdline`; `None` once it is gone.
pub fn read_proc(proc_root: &Path, pid: i32) -> Option<Proc> {
    let dir = proc_root.join(pid.to_string());
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    let (open, close) = (stat.find('(')?, stat.rfind(')')?);
    let comm = stat.get(open + 1..close)?;
    let mut rest = stat.get(close + 1..)?.split_whitespace();
    let state = rest.next()?.to_string();
    let ppid = rest.next()?.parse().ok()?;
    let pgrp = rest.next()?.parse().ok()?;
    let session = rest.next()?.parse().ok()?;
    let cmdline = std::fs::read(dir.join("cmdline")).unwrap_or_default();
    let words: Vec<String> = cmdline
        .split(|b| *b == 0)
        .filter(|w| !w.is_empty())
        .map(|w| String::from_utf8_lossy(w).into_owned())
        .collect();
    let command = if words.is_empty() {
        format!("[{comm}]")
    } else {
        words.join(" ")
    };
    Some(Proc {
        pid,
        ppid,
        state,
        pgrp,
        session,
        command,
    })
}

/// The pids in a cgroup and the cgroups below it.
fn cgroup_pids(dir: &Path) -> BTreeSet<i32> {
    let mut pids = BTreeSet::new();
    let mut todo = vec![dir.to_path_buf()];
    let mut visited = 0;
    while let Some(dir) = todo.pop() {
        visited += 1;
        if visited > MAX_CGROUP_DIRS {
            break;
        }
        if let Ok(text) = std::fs::read_to_string(dir.join("cgroup.procs")) {
            pids.extend(text.lines().filter_map(|l| l.trim().parse::<i32>().ok()));
        }
        if let Ok(entries) = std::fs::read_dir(&dir) {
            todo.extend(
                entries
                    .filter_map(Result::ok)
                    .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                    .map(|e| e.path()),
            );
        }
    }
    pids
}

/// Each instance's tree, from one snapshot of the machine's processes.
pub fn trees(instances: &[PsInstance], procs: &[Proc]) -> Vec<Tree> {
    let by_pid: BTreeMap<i32, &Proc> = procs.iter().map(|p| (p.pid, p)).collect();
    let mut children: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
    for p in procs {
        children.entry(p.ppid).or_default().push(p.pid);
    }
    instances
        .iter()
        .map(|instance| {
            let mut tree = Tree {
                name: instance.name.clone(),
                state: instance.state.clone(),
                pid: instance.pid,
                group: instance.group,
                cgroup: instance.cgroup.clone(),
                processes: Vec::new(),
            };
            let (Some(pid), Some(group)) = (instance.pid, instance.group) else {
                return tree;
            };
            let mut members: BTreeSet<i32> = procs
                .iter()
                .filter(|p| p.pid == pid || p.pgrp == group || p.session == group)
                .map(|p| p.pid)
                .collect();
            if let Some(dir) = &instance.cgroup {
                members.extend(
                    cgroup_pids(Path::new(dir))
                        .into_iter()
                        .filter(|p| by_pid.contains_key(p)),
                );
            }
            // Descendants of any member, by parent pid.
            let mut todo: Vec<i32> = members.iter().copied().collect();
            while let Some(parent) = todo.pop() {
                for child in children.get(&parent).into_iter().flatten() {
                    if members.insert(*child) {
                        todo.push(*child);
                    }
                }
            }
            // Roots: members whose parent is not one; the main process first.
            let mut roots: Vec<i32> = members
                .iter()
                .copied()
                .filter(|p| by_pid.get(p).is_some_and(|p| !members.contains(&p.ppid)))
                .collect();
            roots.sort_by_key(|p| (*p != pid, *p));
            let mut stack: Vec<(i32, usize)> = roots.into_iter().rev().map(|p| (p, 0)).collect();
            while let Some((p, depth)) = stack.pop() {
                let Some(process) = by_pid.get(&p) else {
                    continue;
                };
                tree.processes.push(Member {
                    process: (*process).clone(),
                    depth,
                    left_group: process.pgrp != group,
                });
                let mut kids: Vec<i32> = children
                    .get(&p)
                    .into_iter()
                    .flatten()
                    .copied()
                    .filter(|c| members.contains(c))
                    .collect();
                kids.sort_unstable();
                stack.extend(kids.into_iter().rev().map(|c| (c, depth + 1)));
            }
            tree
        })
        .collect()
}

/// For people: one header line per instance, then its processes indented by depth.
///
/// ```text
/// web  RUNNING  pid 4242
///   4242  S  /usr/bin/python3 -m http.server
///     4250  S  /bin/sleep 100
///   4301  S  /bin/sleep 1000  (left the process group)
/// ```
pub fn text(trees: &[Tree]) -> String {
    let mut out = String::new();
    for tree in trees {
        match tree.pid {
            Some(pid) => out.push_str(&format!("{}  {}  pid {pid}\n", tree.name, tree.state)),
            None => out.push_str(&format!("{}  {}  no process\n", tree.name, tree.state)),
        }
        if tree.pid.is_some() && tree.processes.is_empty() {
            out.push_str("  (its processes are gone)\n");
        }
        for member in &tree.processes {
            let p = &member.process;
            out.push_str(&format!(
                "{}{}  {}  {}{}\n",
                "  ".repeat(member.depth + 1),
                p.pid,
                p.state,
                p.command,
                if member.left_group {
                    "  (left the process group)"
                } else {
                    ""
                }
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(pid: i32, ppid: i32, pgrp: i32, command: &str) -> Proc {
        Proc {
            pid,
            ppid,
            state: "S".into(),
            pgrp,
            session: pgrp,
            command: command.into(),
        }
    }

    #[test]
    fn a_tree_has_the_group_its_descendants_and_what_left_the_group() {
        let procs = vec![
            p(1, 0, 1, "init"),
            p(10, 1, 10, "taskmasterd"),
            p(100, 10, 100, "sh"),
            p(101, 100, 100, "sleep 1"),
            // Left the group (setsid) but its parent is still the shell.
            p(102, 100, 102, "daemon"),
            p(103, 102, 102, "worker"),
            // Left and reparented to taskmasterd, but in the group still.
            p(104, 10, 100, "orphan"),
            p(200, 10, 200, "other service"),
        ];
        let instance = PsInstance {
            name: "web".into(),
            state: "RUNNING".into(),
            pid: Some(100),
            group: Some(100),
            cgroup: None,
            service: "web".into(),
            index: 0,
        };
        let trees = trees(&[instance], &procs);
        let shown: Vec<(i32, usize, bool)> = trees[0]
            .processes
            .iter()
            .map(|m| (m.process.pid, m.depth, m.left_group))
            .collect();
        assert_eq!(
            shown,
            vec![
                (100, 0, false),
                (101, 1, false),
                (102, 1, true),
                (103, 2, true),
                (104, 0, false)
            ]
        );
        let text = text(&trees);
        assert!(text.starts_with("web  RUNNING  pid 100\n  100  S  sh\n    101  S  sleep 1\n"));
        assert!(text.contains("    102  S  daemon  (left the process group)\n"));
    }

    #[test]
    fn this_process_reads_as_itself() {
        let me = read_proc(Path::new("/proc"), std::process::id() as i32).expect("/proc/self");
        assert_eq!(me.state.len(), 1);
        assert!(!me.command.is_empty());
    }
}
