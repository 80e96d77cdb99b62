//! What happens in a storm: abstract operations, each read against the world when it is
//! applied ("the 3rd living process exits"), so that any sub-list of a storm is a storm
//! too and a failure can be shrunk by dropping operations.

use super::super::{svc, Svc};
use super::rng::Rng;
use crate::config::{Config, Readiness, RestartLimit, RestartPolicy};
use crate::supervisor::ExitStatus;
use std::sync::Arc;
use std::time::Duration;

/// Service names a storm uses; a service may depend only on services before it, so every
/// generated graph is acyclic, as a validated config is.
pub const NAMES: [&str; 6] = ["s0", "s1", "s2", "s3", "s4", "s5"];

/// How the fake OS answers the spawns of a service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SpawnMode {
    Works,
    /// fork failed for want of resources: retried.
    Transient,
    /// The program cannot be executed: FATAL.
    Missing,
    /// fork worked, the child's exec report says it failed (delivered later).
    ExecFails,
}

#[derive(Debug, Clone)]
pub enum Op {
    /// The `which`-th living main process exits by itself.
    Exit {
        which: u32,
        status: ExitStatus,
    },
    /// The `which`-th living `pre-start` process exits.
    HelperExit {
        which: u32,
        status: ExitStatus,
    },
    /// The OS delivers the `which`-th thing it owes the core (a death after a signal, a
    /// stop, a continue, an exec failure).
    Deliver {
        which: u32,
    },
    /// Someone outside sends SIGSTOP or SIGCONT to the `which`-th main process.
    OutsideStop {
        which: u32,
    },
    OutsideCont {
        which: u32,
    },
    SpawnMode {
        service: u8,
        mode: SpawnMode,
    },
    Request(Req),
    /// A client waiting for an answer disconnects.
    ClientGone {
        which: u32,
    },
    /// A reload with a config changed by `changes` random edits from this seed.
    Reload {
        seed: u64,
        changes: u8,
    },
    /// READY=1 (notify) from the `which`-th main process, or the fd:N newline.
    Ready {
        which: u32,
        fd: bool,
    },
    /// WATCHDOG=1, or WATCHDOG=trigger.
    Watchdog {
        which: u32,
        trigger: bool,
    },
    /// Time passes, with every timer on the way handled.
    Advance {
        ms: u64,
    },
    /// The clock jumps (a suspended machine): one late tick for everything due.
    Jump {
        secs: u64,
    },
    /// An orphan reaped as subreaper.
    Orphan,
    Shutdown,
}

#[derive(Debug, Clone)]
pub enum Req {
    Status(Vec<String>),
    Start(Vec<String>),
    Stop(Vec<String>),
    Restart(Vec<String>),
    Pause(Vec<String>),
    Resume(Vec<String>),
    Signal(&'static str, Vec<String>),
}

fn status(rng: &mut Rng) -> ExitStatus {
    if rng.one_in(3) {
        ExitStatus::Signal(rng.pick(&[
            libc::SIGKILL,
            libc::SIGTERM,
            libc::SIGSEGV,
            libc::SIGHUP,
            libc::SIGABRT,
        ]))
    } else {
        ExitStatus::Code(rng.pick(&[0, 0, 1, 2, 3, 127, 255]))
    }
}

fn some_names(rng: &mut Rng) -> Vec<String> {
    let count = 1 + rng.below(2);
    (0..count)
        .map(|_| match rng.below(10) {
            0 => "all".to_string(),
            1 => "nosuch".to_string(),
            2..=4 => format!("{}:{}", rng.pick(&NAMES), rng.below(3)),
            _ => rng.pick(&NAMES).to_string(),
        })
        .collect()
}

/// One random operation.
pub fn random_op(rng: &mut Rng) -> Op {
    let which = rng.below(8) as u32;
    match rng.below(100) {
        0..=13 => Op::Exit {
            which,
            status: status(rng),
        },
        14..=19 => Op::HelperExit {
            which,
            status: if rng.one_in(2) {
                ExitStatus::Code(0)
            } else {
                status(rng)
            },
        },
        20..=34 => Op::Deliver { which },
        35..=36 => Op::OutsideStop { which },
        37..=38 => Op::OutsideCont { which },
        39..=41 => Op::SpawnMode {
            service: rng.below(NAMES.len() as u64) as u8,
            mode: rng.pick(&[
                SpawnMode::Works,
                SpawnMode::Works,
                SpawnMode::Transient,
                SpawnMode::Missing,
                SpawnMode::ExecFails,
            ]),
        },
        42..=61 => Op::Request(match rng.below(14) {
            0 => Req::Status(some_names(rng)),
            1..=3 => Req::Start(some_names(rng)),
            4..=6 => Req::Stop(some_names(rng)),
            7..=9 => Req::Restart(some_names(rng)),
            10 => Req::Pause(some_names(rng)),
            11 => Req::Resume(some_names(rng)),
            _ => Req::Signal(rng.pick(&["TERM", "KILL", "HUP", "USR1"]), some_names(rng)),
        }),
        62..=63 => Op::ClientGone { which },
        64..=69 => Op::Reload {
            seed: rng.next(),
            changes: 1 + rng.below(3) as u8,
        },
        70..=75 => Op::Ready {
            which,
            fd: rng.one_in(2),
        },
        76..=77 => Op::Watchdog {
            which,
            trigger: rng.one_in(3),
        },
        78..=94 => Op::Advance {
            ms: rng.pick(&[1, 10, 100, 500, 999, 1000, 1001, 3000, 10_000]),
        },
        95..=97 => Op::Jump {
            secs: rng.pick(&[5, 60, 100, 3600]),
        },
        98 => Op::Orphan,
        _ => {
            if rng.one_in(4) {
                Op::Shutdown
            } else {
                Op::Advance { ms: 200 }
            }
        }
    }
}

/// A random service that may depend on the services named before it.
fn random_service(rng: &mut Rng, index: usize, present: &[usize]) -> Svc {
    let name = NAMES[index];
    let mut s = svc(name)
        .numprocs(1 + rng.below(3) as u32)
        .starttime(Duration::from_millis(rng.pick(&[0, 500, 1000, 2000])))
        .stoptime(Duration::from_millis(rng.pick(&[0, 100, 1000, 3000])))
        .startretries(rng.below(4) as u32)
        .autorestart(rng.pick(&[
            RestartPolicy::Always,
            RestartPolicy::Never,
            RestartPolicy::Unexpected,
        ]))
        .exitcodes(rng.pick(&[&[0][..], &[0, 2], &[1]]));
    if rng.one_in(4) {
        s = s.manual();
    }
    if rng.one_in(5) {
        s = s.oneshot();
    }
    if rng.one_in(5) {
        s = s.pre_start(&["/bin/check"]);
    }
    if rng.one_in(8) {
        s = s.essential();
    }
    if rng.one_in(2) {
        s = s.cmd(&[&format!("/bin/{name}"), &format!("v{}", rng.below(3))]);
    }
    match rng.below(6) {
        0 => Arc::make_mut(&mut s.0.process).ready = Readiness::Notify,
        1 => Arc::make_mut(&mut s.0.process).ready = Readiness::Fd(3),
        _ => {}
    }
    if s.0.process.ready == Readiness::Notify && rng.one_in(2) {
        Arc::make_mut(&mut s.0.process).watchdog = Some(Duration::from_secs(rng.pick(&[1, 5])));
    }
    s.0.policy.ready_timeout = Duration::from_secs(rng.pick(&[1, 5, 90]));
    if rng.one_in(4) {
        s.0.policy.restart_limit = Some(RestartLimit {
            count: 1 + rng.below(3) as u32,
            window: Duration::from_secs(rng.pick(&[1, 10, 60])),
        });
    }
    let earlier: Vec<&str> = present
        .iter()
        .filter(|&&i| i < index)
        .map(|&i| NAMES[i])
        .collect();
    for dep in earlier {
        match rng.below(8) {
            0 => s = s.requires(&[dep]),
            1 => s = s.wants(&[dep]),
            2 => s = s.after(&[dep]),
            3 => s = s.binds_to(&[dep]),
            _ => {}
        }
    }
    s
}

fn present(config: &Config) -> Vec<usize> {
    (0..NAMES.len())
        .filter(|&i| config.services.contains_key(NAMES[i]))
        .collect()
}

/// The config a storm boots with: three to six services.
pub fn initial_config(rng: &mut Rng) -> Config {
    let count = 3 + rng.below(4) as usize;
    let mut config = Config::default();
    for index in 0..count {
        let have = present(&config);
        let Svc(spec) = random_service(rng, index, &have);
        config.services.insert(spec.name.clone(), spec);
    }
    config
}

/// `config` with `changes` random edits: a service added, removed or redrawn, numprocs,
/// the command (a process change), a policy field, `pre-start`.
pub fn changed_config(config: &Config, seed: u64, changes: u8) -> Config {
    let mut rng = Rng::new(seed);
    let mut config = config.clone();
    for _ in 0..changes {
        let index = rng.below(NAMES.len() as u64) as usize;
        let name = NAMES[index];
        let have = present(&config);
        match (config.services.get_mut(name), rng.below(8)) {
            (None, _) => {
                let Svc(spec) = random_service(&mut rng, index, &have);
                config.services.insert(name.to_string(), spec);
            }
            (Some(_), 0) => {
                config.services.remove(name);
                // A validated config names only services that exist.
                for spec in config.services.values_mut() {
                    let deps = &mut *spec.deps;
                    for list in [
                        &mut deps.requires,
                        &mut deps.wants,
                        &mut deps.after,
                        &mut deps.binds_to,
                        &mut deps.before,
                    ] {
                        list.retain(|d| d != name);
                    }
                }
            }
            (Some(_), 1) => {
                // Redrawn whole, keeping who depends on it.
                let Svc(spec) = random_service(&mut rng, index, &have);
                config.services.insert(name.to_string(), spec);
            }
            (Some(spec), 2) => spec.numprocs = 1 + rng.below(3) as u32,
            (Some(spec), 3) => {
                Arc::make_mut(&mut spec.process).cmd =
                    vec![format!("/bin/{name}"), rng.next().to_string()]
            }
            (Some(spec), 4) => spec.policy.autostart = !spec.policy.autostart,
            (Some(spec), 5) => {
                spec.pre_start = match spec.pre_start {
                    Some(_) => None,
                    None => Some(vec!["/bin/check".to_string()]),
                }
            }
            (Some(spec), 6) => spec.policy.startretries = rng.below(4) as u32,
            (Some(spec), _) => {
                spec.policy.autorestart = rng.pick(&[
                    RestartPolicy::Always,
                    RestartPolicy::Never,
                    RestartPolicy::Unexpected,
                ])
            }
        }
    }
    config
}
