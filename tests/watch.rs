//! `watch` with real inotify and real editors' ways of saving: written in place, replaced
//! by rename (`sed -i`, as vim and config managers do), created when it did not exist,
//! `watch-signal`, and a reload that moves the watch.

use crate::common::*;
use std::io::Write;

/// A service watching `paths`, `starttime 0`; `extra` adds fields.
fn watcher(h: &Harness, name: &str, paths: &[&str], extra: &str) {
    let quoted: Vec<String> = paths.iter().map(|p| format!("{p:?}")).collect();
    h.service(
        name,
        &format!(
            "service \"{name}\" {{\n    cmd \"/bin/sleep\" \"1000\"\n    starttime 0\n    watch {}\n{extra}}}\n",
            quoted.join(" ")
        ),
    );
}

/// Waits until `name` runs with a pid other than `old`; returns it.
fn new_pid(h: &Harness, name: &str, old: i32) -> i32 {
    let mut pid = old;
    wait_until_with(&format!("{name} restarted"), || {
        match h.instance(name)["pid"].as_i64() {
            Some(p) if p as i32 != old && h.state(name) == "RUNNING" => {
                pid = p as i32;
                Ok(())
            }
            other => Err(format!("pid {other:?}, {}", h.state(name))),
        }
    });
    pid
}

fn restarts_logged(h: &Harness, name: &str) -> usize {
    h.log_text()
        .lines()
        .filter(|l| l.contains(&format!("{name}: watched")) && l.contains("changed: restarting"))
        .count()
}

#[test]
fn a_burst_of_writes_in_place_restarts_once_half_a_second_after_the_last() {
    let mut h = Harness::new();
    let conf = h.path("app.conf");
    std::fs::write(&conf, "a=1\n").expect("conf");
    watcher(&h, "app", &[&h.p("app.conf")], "");
    h.start();
    let old = h.running_pid("app");
    let mut last_write = std::time::Instant::now();
    for n in 0..5 {
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&conf)
            .expect("open");
        writeln!(file, "b={n}").expect("write");
        drop(file);
        last_write = std::time::Instant::now();
    }
    new_pid(&h, "app", old);
    assert!(
        last_write.elapsed() >= std::time::Duration::from_millis(500),
        "restarted before the file was quiet for 500 ms"
    );
    assert_eq!(restarts_logged(&h, "app"), 1, "{}", h.log_text());
}

#[test]
fn a_file_replaced_by_rename_as_sed_i_does_restarts_the_service_each_time() {
    let mut h = Harness::new();
    let conf = h.path("app.conf");
    std::fs::write(&conf, "port=1\n").expect("conf");
    watcher(&h, "app", &[&h.p("app.conf")], "");
    h.start();
    let first = h.running_pid("app");
    let sed = std::process::Command::new("sed")
        .args(["-i", "s/port=1/port=2/"])
        .arg(&conf)
        .status()
        .expect("sed");
    assert!(sed.success());
    let second = new_pid(&h, "app", first);
    // The new inode is watched too: a second replacement is seen as well.
    let tmp = h.path("app.conf.tmp");
    std::fs::write(&tmp, "port=3\n").expect("tmp");
    std::fs::rename(&tmp, &conf).expect("rename");
    new_pid(&h, "app", second);
    assert_eq!(restarts_logged(&h, "app"), 2, "{}", h.log_text());
}

#[test]
fn a_file_that_does_not_exist_yet_is_watched_for_its_creation_even_in_a_missing_directory() {
    let mut h = Harness::new();
    let conf = h.path("etc/app/app.conf");
    watcher(&h, "app", &[&conf.display().to_string()], "");
    h.start();
    let old = h.running_pid("app");
    std::fs::create_dir_all(conf.parent().expect("parent")).expect("mkdir");
    std::fs::write(&conf, "x\n").expect("create");
    let created = new_pid(&h, "app", old);
    // Deleted and created again: one more restart.
    std::fs::remove_file(&conf).expect("rm");
    std::fs::write(&conf, "y\n").expect("recreate");
    new_pid(&h, "app", created);
}

#[test]
fn watch_signal_sends_it_to_the_running_process_instead_of_restarting() {
    let mut h = Harness::new();
    let conf = h.path("app.conf");
    std::fs::write(&conf, "a\n").expect("conf");
    let hups = h.p("hups");
    h.service(
        "app",
        &format!(
            "service \"app\" {{\n    cmd \"/bin/sh\" \"-c\" \"trap 'echo HUP >> {hups}' HUP; while :; do sleep 0.1; done\"\n    starttime 0\n    watch {:?}\n    watch-signal \"HUP\"\n}}\n",
            h.p("app.conf")
        ),
    );
    h.start();
    let pid = h.running_pid("app");
    // Before its trap is set, a SIGHUP would end the shell.
    wait_until("the shell to trap HUP", || catches(pid, libc::SIGHUP));
    std::fs::write(&conf, "b\n").expect("write");
    wait_until("the HUP trap ran", || {
        std::fs::read_to_string(&hups).is_ok_and(|t| t.contains("HUP"))
    });
    assert_eq!(h.running_pid("app"), pid, "not restarted");
    h.wait_log(&["app (pid", "changed: SIGHUP"]);
}

#[test]
fn a_reload_moves_the_watch_to_the_new_path() {
    let mut h = Harness::new();
    let (one, two) = (h.path("one.conf"), h.path("two.conf"));
    std::fs::write(&one, "1\n").expect("one");
    std::fs::write(&two, "2\n").expect("two");
    watcher(&h, "app", &[&h.p("one.conf")], "");
    h.start();
    let pid = h.running_pid("app");
    watcher(&h, "app", &[&h.p("two.conf")], "");
    let reload = h.ok(&["reload"]);
    assert!(reload.contains("changed in place"), "{reload}");
    assert_eq!(
        h.running_pid("app"),
        pid,
        "a new watch path restarts nothing"
    );
    std::fs::write(&one, "changed\n").expect("one");
    std::fs::write(&two, "changed\n").expect("two");
    new_pid(&h, "app", pid);
    let log = h.log_text();
    assert!(log.contains("two.conf changed: restarting"), "{log}");
    assert!(!log.contains("one.conf changed"), "{log}");
}
