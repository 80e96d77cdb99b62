//! Drives the core alone (no processes, a fake clock) through a boot of N services and then
//! K kill -9 restarts, calling `next_deadline` twice per event as the loop does, so that an
//! instruction count measures what the core costs per event:
//!
//! ```sh
//! cargo build --release --example core_restarts
//! valgrind --tool=callgrind target/release/examples/core_restarts 1000 0
//! valgrind --tool=callgrind target/release/examples/core_restarts 1000 100
//! ```
//!
//! The difference of the two totals, divided by 100, is the core's cost of one restart
//! (exit, spawn, RUNNING) at N=1000; the first total is mostly the boot.

use std::path::Path;
use std::time::{Duration, Instant};

use taskmaster::config::{parse_str, Config};
use taskmaster::supervisor::{Action, Event, ExitStatus, Purpose, Supervisor};

struct Driver {
    core: Supervisor,
    now: Instant,
    next_pid: i32,
    spawns: u64,
}

impl Driver {
    /// Hands an event to the core, answers its spawns with new pids (each an event of its
    /// own, as the loop's exec reports are), and asks for the deadline as the loop does.
    fn feed(&mut self, event: Event) {
        let mut queue = vec![event];
        while let Some(event) = queue.pop() {
            let actions = self.core.handle(event, self.now);
            std::hint::black_box(self.core.next_deadline());
            std::hint::black_box(self.core.next_deadline());
            for action in actions {
                if let Action::Spawn {
                    id,
                    purpose: Purpose::Main,
                    ..
                } = action
                {
                    self.next_pid += 1;
                    self.spawns += 1;
                    queue.push(Event::Spawned {
                        id,
                        purpose: Purpose::Main,
                        result: Ok(self.next_pid),
                    });
                }
            }
        }
    }

    fn advance(&mut self, by: Duration) {
        self.now += by;
        self.feed(Event::Tick);
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1000);
    let kills: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);
    let mut kdl = String::new();
    for i in 0..n {
        kdl.push_str(&format!(
            "service \"s{i}\" {{\n    cmd \"/bin/sleep\" \"100000\"\n    autorestart \"always\"\n}}\n"
        ));
    }
    let specs = match parse_str(Path::new("bench.kdl"), &kdl) {
        Ok(specs) => specs,
        Err(errors) => {
            eprintln!("core_restarts: {errors:?}");
            std::process::exit(1);
        }
    };
    let config = Config {
        services: specs.into_iter().map(|s| (s.name.clone(), s)).collect(),
    };
    let mut driver = Driver {
        core: Supervisor::new(config),
        now: Instant::now(),
        next_pid: 1000,
        spawns: 0,
    };
    driver.feed(Event::Boot);
    // Past `starttime`, then long enough that a crash is not a quick one.
    driver.advance(Duration::from_secs(2));
    driver.advance(Duration::from_secs(11));
    // Each kill is of another service, its pid taken once after the boot.
    let pids: Vec<i32> = driver
        .core
        .instances()
        .filter_map(|(_, _, i)| i.pid)
        .take(kills)
        .collect();
    if pids.len() < kills {
        eprintln!("core_restarts: only {} services run", pids.len());
        std::process::exit(1);
    }
    for pid in pids {
        driver.feed(Event::Exited {
            pid,
            status: ExitStatus::Signal(9),
        });
        // Its new process survives `starttime` (RUNNING), and then some.
        driver.advance(Duration::from_secs(2));
        driver.advance(Duration::from_secs(11));
    }
    println!("{n} services, {kills} kills: {} spawns", driver.spawns);
}
