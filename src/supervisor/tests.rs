//! Scenario tests for the pure core. A fake clock and a fake OS drive [`Supervisor`] through
//! every state and policy; the tests assert exact states, pids, signals, replies and timings.
//!
//! The fake OS answers every [`Action::Spawn`] at once with [`Event::Spawned`] (pids count up
//! from [`FIRST_PID`], or an error for a service marked missing) and writes down what the
//! core asked for as short lines (`spawn web 100`, `signal 100 TERM group`, `exit`,
//! `essential db`), so a test can compare the exact sequence.

use super::*;
use crate::config::{Deps, Origin, Output, Policy, RestartPolicy, Rotation};
use crate::control::proto::{InstanceOutcome, InstanceStatus};
use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::path::PathBuf;
use std::time::Duration;
use ExitStatus::{Code, Signal as Sig};
use RestartPolicy::{Always, Never, Unexpected};

const FIRST_PID: i32 = 100;
const TERM: i32 = libc::SIGTERM;
const KILL: i32 = libc::SIGKILL;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// `web` → instance 0 of `web`; `web:2` → instance 2.
fn id(name: &str) -> InstanceId {
    match name.split_once(':') {
        Some((service, index)) => InstanceId {
            service: service.to_string(),
            index: index.parse().expect("instance index"),
        },
        None => InstanceId {
            service: name.to_string(),
            index: 0,
        },
    }
}

// ---- service specs ---------------------------------------------------------------------

/// A service spec with SPEC.md's defaults (program `/bin/NAME`), changed field by field.
struct Svc(ServiceSpec);

fn svc(name: &str) -> Svc {
    Svc(ServiceSpec {
        name: name.to_string(),
        origin: Origin {
            file: PathBuf::from("test.kdl"),
            line: 1,
            column: 1,
        },
        numprocs: 1,
        process: ProcessSpec {
            cmd: vec![format!("/bin/{name}")],
            kind: ServiceType::Simple,
            umask: None,
            workingdir: PathBuf::from("/"),
            stdout: Output::Capture,
            stderr: Output::Capture,
            env: BTreeMap::new(),
            credentials: None,
            capabilities: None,
            no_new_privs: false,
            limits: Vec::new(),
            stdout_rotation: Rotation::default(),
            stderr_rotation: Rotation::default(),
        },
        policy: Policy {
            autostart: true,
            autorestart: Unexpected,
            exitcodes: vec![0],
            startretries: 3,
            starttime: secs(1),
            stopsignal: TERM,
            stoptime: secs(10),
            essential: false,
        },
        deps: Deps::default(),
    })
}

impl Svc {
    fn numprocs(mut self, n: u32) -> Svc {
        self.0.numprocs = n;
        self
    }
    /// `autostart #false`
    fn manual(mut self) -> Svc {
        self.0.policy.autostart = false;
        self
    }
    fn autorestart(mut self, policy: RestartPolicy) -> Svc {
        self.0.policy.autorestart = policy;
        self
    }
    fn exitcodes(mut self, codes: &[i32]) -> Svc {
        self.0.policy.exitcodes = codes.to_vec();
        self
    }
    fn startretries(mut self, n: u32) -> Svc {
        self.0.policy.startretries = n;
        self
    }
    fn starttime(mut self, d: Duration) -> Svc {
        self.0.policy.starttime = d;
        self
    }
    fn stoptime(mut self, d: Duration) -> Svc {
        self.0.policy.stoptime = d;
        self
    }
    fn stopsignal(mut self, signal: i32) -> Svc {
        self.0.policy.stopsignal = signal;
        self
    }
    fn essential(mut self) -> Svc {
        self.0.policy.essential = true;
        self
    }
    fn oneshot(mut self) -> Svc {
        self.0.process.kind = ServiceType::Oneshot;
        self
    }
    fn cmd(mut self, argv: &[&str]) -> Svc {
        self.0.process.cmd = names(argv);
        self
    }
    fn requires(mut self, deps: &[&str]) -> Svc {
        self.0.deps.requires = names(deps);
        self
    }
    fn wants(mut self, deps: &[&str]) -> Svc {
        self.0.deps.wants = names(deps);
        self
    }
    fn after(mut self, deps: &[&str]) -> Svc {
        self.0.deps.after = names(deps);
        self
    }
    fn before(mut self, deps: &[&str]) -> Svc {
        self.0.deps.before = names(deps);
        self
    }
}

fn config(services: impl IntoIterator<Item = Svc>) -> Config {
    Config {
        services: services
            .into_iter()
            .map(|Svc(spec)| (spec.name.clone(), spec))
            .collect(),
    }
}

// ---- the harness: fake clock, fake OS --------------------------------------------------

struct Harness {
    sup: Supervisor,
    t0: Instant,
    now: Instant,
    next_pid: i32,
    /// Services whose program cannot be executed: their spawns fail.
    missing: HashSet<String>,
    /// Processes the fake OS has running: pid → argv.
    alive: BTreeMap<i32, Vec<String>>,
    /// What the core asked the OS to do since the last `take_ops`, in order.
    ops: Vec<String>,
    logs: Vec<String>,
    replies: HashMap<ClientId, Vec<Response>>,
    next_client: ClientId,
}

impl Harness {
    fn new(config: Config) -> Harness {
        let t0 = Instant::now();
        Harness {
            sup: Supervisor::new(config),
            t0,
            now: t0,
            next_pid: FIRST_PID,
            missing: HashSet::new(),
            alive: BTreeMap::new(),
            ops: Vec::new(),
            logs: Vec::new(),
            replies: HashMap::new(),
            next_client: 1,
        }
    }

    fn boot(config: Config) -> Harness {
        Harness::new(config).booted()
    }

    fn booted(mut self) -> Harness {
        self.feed(Event::Boot);
        self
    }

    /// Marks a service's program as impossible to execute.
    fn missing(mut self, service: &str) -> Harness {
        self.missing.insert(service.to_string());
        self
    }

    /// Feeds one event and performs the actions, feeding `Spawned` back at once like the loop.
    fn feed(&mut self, event: Event) {
        let mut queue = VecDeque::from([event]);
        while let Some(event) = queue.pop_front() {
            for action in self.sup.handle(event, self.now) {
                match action {
                    Action::Spawn { id, name, spec } => {
                        let result = if self.missing.contains(&id.service) {
                            self.ops.push(format!("spawn {name} failed"));
                            Err(format!("exec {}: No such file or directory", spec.cmd[0]))
                        } else {
                            let pid = self.next_pid;
                            self.next_pid += 1;
                            self.alive.insert(pid, spec.cmd.clone());
                            self.ops.push(format!("spawn {name} {pid}"));
                            Ok(pid)
                        };
                        queue.push_back(Event::Spawned { id, result });
                    }
                    Action::Signal { pid, signal, group } => {
                        let to = if group { "group" } else { "pid" };
                        let signal = crate::signals::name(signal);
                        self.ops.push(format!("signal {pid} {signal} {to}"));
                    }
                    Action::Log { level, text } => {
                        self.logs.push(format!("{}: {text}", level.word()))
                    }
                    Action::Reply { client, response } => {
                        self.replies.entry(client).or_default().push(response)
                    }
                    Action::Exit => self.ops.push("exit".to_string()),
                    Action::EssentialFailed { name } => self.ops.push(format!("essential {name}")),
                }
            }
        }
    }

    /// Moves the fake clock forward, feeding `Tick` at every deadline that passes.
    fn advance(&mut self, by: Duration) {
        let target = self.now + by;
        let mut ticks = 0;
        while let Some(deadline) = self.sup.next_deadline().filter(|d| *d <= target) {
            ticks += 1;
            assert!(ticks < 1000, "the deadline does not move on Tick");
            self.now = self.now.max(deadline);
            self.feed(Event::Tick);
        }
        self.now = target;
    }

    /// waitpid reported `pid` dead.
    #[track_caller]
    fn kill(&mut self, pid: i32, status: ExitStatus) {
        assert!(
            self.alive.remove(&pid).is_some(),
            "pid {pid} is not running"
        );
        self.feed(Event::Exited { pid, status });
    }

    fn request(&mut self, request: Request) -> ClientId {
        let client = self.next_client;
        self.next_client += 1;
        self.feed(Event::Request { client, request });
        client
    }

    fn reload(&mut self, config: Config) -> ClientId {
        let client = self.next_client;
        self.next_client += 1;
        self.feed(Event::Reload {
            client: Some(client),
            config,
        });
        client
    }

    /// The reply a client got, if any; a client never gets two.
    #[track_caller]
    fn reply(&mut self, client: ClientId) -> Option<Response> {
        let mut replies = self.replies.remove(&client)?;
        assert_eq!(replies.len(), 1, "client {client} got {replies:?}");
        replies.pop()
    }

    #[track_caller]
    fn instance(&self, name: &str) -> &Instance {
        self.sup
            .instance(&id(name))
            .unwrap_or_else(|| panic!("no instance {name}"))
    }

    fn exists(&self, name: &str) -> bool {
        self.sup.instance(&id(name)).is_some()
    }

    #[track_caller]
    fn state_of(&self, name: &str) -> State {
        self.instance(name).state
    }

    #[track_caller]
    fn pid_of(&self, name: &str) -> Option<i32> {
        self.instance(name).pid
    }

    #[track_caller]
    fn detail_of(&self, name: &str) -> Option<String> {
        self.instance(name).detail.clone()
    }

    #[track_caller]
    fn status(&self, name: &str) -> InstanceStatus {
        self.sup
            .status_of(&id(name), self.now)
            .unwrap_or_else(|| panic!("no instance {name}"))
    }

    /// How long until the core's next timer, from now.
    fn deadline_in(&self) -> Option<Duration> {
        self.sup.next_deadline().map(|d| {
            d.checked_duration_since(self.now)
                .expect("a deadline in the past was left behind")
        })
    }

    /// Time since the harness started.
    fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    fn take_ops(&mut self) -> Vec<String> {
        std::mem::take(&mut self.ops)
    }

    #[track_caller]
    fn expect_ops(&mut self, want: &[&str]) {
        let got = self.take_ops();
        assert_eq!(got, want, "at {:?}", self.elapsed());
    }

    fn take_logs(&mut self) -> Vec<String> {
        std::mem::take(&mut self.logs)
    }

    /// The names `status` lists (every instance, as the user sees them).
    #[track_caller]
    fn listed(&mut self) -> Vec<String> {
        let client = self.request(Request::Status { names: vec![] });
        match self.reply(client) {
            Some(Response::Status { instances }) => instances.into_iter().map(|i| i.name).collect(),
            other => panic!("status: {other:?}"),
        }
    }
}

/// The reply to start/stop/restart: `(instance, ok, message)` per instance.
fn outcome(ok: bool, results: &[(&str, bool, &str)]) -> Response {
    Response::Outcome {
        ok,
        results: results
            .iter()
            .map(|(name, ok, message)| InstanceOutcome {
                name: name.to_string(),
                ok: *ok,
                message: message.to_string(),
            })
            .collect(),
    }
}

fn error(message: &str) -> Response {
    Response::Error {
        message: message.to_string(),
    }
}

// ---- boot --------------------------------------------------------------------------------

#[test]
fn boot_starts_autostart_services_only() {
    let mut h = Harness::boot(config([svc("a"), svc("b").manual()]));
    h.expect_ops(&["spawn a 100"]);
    assert_eq!(h.state_of("a"), State::Starting);
    assert_eq!(h.pid_of("a"), Some(100));
    assert_eq!(h.state_of("b"), State::Stopped);
    assert_eq!(h.pid_of("b"), None);
    h.advance(secs(60));
    h.expect_ops(&[]);
    assert_eq!(h.state_of("a"), State::Running);
    assert_eq!(h.state_of("b"), State::Stopped);
}

#[test]
fn nothing_happens_before_boot() {
    let mut h = Harness::new(config([svc("a")]));
    h.advance(secs(5));
    h.expect_ops(&[]);
    assert_eq!(h.state_of("a"), State::Stopped);
}

#[test]
fn numprocs_three_gives_three_named_instances() {
    let mut h = Harness::boot(config([svc("w").numprocs(3), svc("one")]));
    h.expect_ops(&[
        "spawn one 100",
        "spawn w:0 101",
        "spawn w:1 102",
        "spawn w:2 103",
    ]);
    assert_eq!(h.listed(), ["one", "w:0", "w:1", "w:2"]);
    assert_eq!(h.sup.resolve(&names(&["w"])).unwrap().len(), 3);
    assert_eq!(h.sup.resolve(&names(&["w:2"])).unwrap(), vec![id("w:2")]);
    assert_eq!(
        h.sup.resolve(&names(&["w:3"])),
        Err("no such instance: w:3".to_string())
    );
    assert_eq!(h.sup.resolve(&names(&["all"])).unwrap().len(), 4);
    assert_eq!(h.status("w:1").service, "w");
}

#[test]
fn starting_becomes_running_only_after_starttime() {
    let mut h = Harness::boot(config([svc("web").starttime(ms(1500))]));
    h.expect_ops(&["spawn web 100"]);
    assert_eq!(h.deadline_in(), Some(ms(1500)));
    h.advance(ms(1499));
    assert_eq!(h.state_of("web"), State::Starting);
    h.advance(ms(1));
    assert_eq!(h.state_of("web"), State::Running);
    assert_eq!(h.pid_of("web"), Some(100));
    assert_eq!(h.deadline_in(), None);
    h.expect_ops(&[]);
    assert!(h
        .logs
        .contains(&"info: web (pid 100) is RUNNING".to_string()));
}

#[test]
fn starttime_zero_is_running_at_once() {
    let mut h = Harness::boot(config([svc("web").starttime(Duration::ZERO)]));
    h.expect_ops(&["spawn web 100"]);
    assert_eq!(h.state_of("web"), State::Running);
    assert_eq!(h.deadline_in(), None);
}

// ---- failed starts -------------------------------------------------------------------------

/// `startretries N` gives N+1 attempts, 250 ms, 500 ms, 1 s... apart, then FATAL.
#[test]
fn exits_before_starttime_back_off_with_growing_delays_then_fatal() {
    for retries in 0..=4u32 {
        let mut h = Harness::boot(config([svc("web").startretries(retries)]));
        let mut pid = FIRST_PID;
        h.expect_ops(&["spawn web 100"]);
        for attempt in 1..=retries + 1 {
            h.advance(ms(300)); // up for less than starttime (1 s)
            h.kill(pid, Code(1));
            if attempt <= retries {
                let delay = ms(250) * (1 << (attempt - 1));
                assert_eq!(h.state_of("web"), State::Backoff, "attempt {attempt}");
                assert_eq!(h.pid_of("web"), None);
                assert_eq!(h.deadline_in(), Some(delay), "attempt {attempt}");
                h.advance(delay - ms(1));
                h.expect_ops(&[]);
                h.advance(ms(1));
                pid += 1;
                h.expect_ops(&[&format!("spawn web {pid}")]);
                assert_eq!(h.state_of("web"), State::Starting);
            }
        }
        assert_eq!(h.state_of("web"), State::Fatal, "startretries {retries}");
        assert_eq!(
            h.detail_of("web").as_deref(),
            Some(
                format!(
                    "exited with exit code 1 before starttime, {} attempt(s), giving up",
                    retries + 1
                )
                .as_str()
            )
        );
        assert_eq!(h.deadline_in(), None);
        assert_eq!(h.status("web").restarts, retries);
        assert_eq!(h.status("web").exit_code, Some(1));
        h.advance(secs(120));
        h.expect_ops(&[]);
        assert_eq!(h.state_of("web"), State::Fatal);
    }
}

#[test]
fn startretries_two_is_three_attempts_and_logs_each() {
    let mut h = Harness::boot(config([svc("web").startretries(2)]));
    h.advance(ms(100));
    h.kill(100, Code(1));
    h.advance(ms(250));
    h.advance(ms(100));
    h.kill(101, Sig(libc::SIGSEGV));
    h.advance(ms(500));
    h.advance(ms(100));
    h.kill(102, Code(1));
    h.expect_ops(&["spawn web 100", "spawn web 101", "spawn web 102"]);
    assert_eq!(h.state_of("web"), State::Fatal);
    let logs = h.take_logs();
    let notable: Vec<&String> = logs
        .iter()
        .filter(|l| l.contains("BACKOFF") || l.contains("FATAL"))
        .collect();
    assert_eq!(
        notable,
        [
            "warning: web (pid 100) exited with exit code 1 (unexpected) before starttime: BACKOFF, restart attempt 1/2 in 0.25s",
            "warning: web (pid 101) exited with signal SEGV (unexpected) before starttime: BACKOFF, restart attempt 2/2 in 0.50s",
            "error: web (pid 102) FATAL: exited with exit code 1 before starttime, 3 attempt(s), giving up",
        ]
    );
}

#[test]
fn retries_counter_resets_after_running() {
    let mut h = Harness::boot(config([svc("web").startretries(2)]));
    // Two failed starts use up both retries...
    h.advance(ms(100));
    h.kill(100, Code(1));
    h.advance(ms(250));
    h.advance(ms(100));
    h.kill(101, Code(1));
    h.advance(ms(500));
    // ...then the third attempt reaches RUNNING.
    h.advance(secs(1));
    assert_eq!(h.state_of("web"), State::Running);
    h.expect_ops(&["spawn web 100", "spawn web 101", "spawn web 102"]);
    // A later crash and failed start count from zero again: BACKOFF after 250 ms, not FATAL.
    h.advance(secs(30));
    h.kill(102, Code(1));
    h.expect_ops(&["spawn web 103"]); // stable for 30 s: restarted at once
    h.advance(ms(100));
    h.kill(103, Code(1));
    assert_eq!(h.state_of("web"), State::Backoff);
    assert_eq!(h.deadline_in(), Some(ms(250)));
    h.advance(ms(250));
    h.advance(ms(100));
    h.kill(104, Code(1));
    assert_eq!(h.state_of("web"), State::Backoff);
    assert_eq!(h.deadline_in(), Some(ms(500)));
    h.advance(ms(500));
    h.advance(ms(100));
    h.kill(105, Code(1));
    assert_eq!(h.state_of("web"), State::Fatal);
    h.expect_ops(&["spawn web 104", "spawn web 105"]);
}

// ---- restart policy after RUNNING ----------------------------------------------------------

#[test]
fn autorestart_times_exitcodes_times_code_or_signal() {
    let table: &[(RestartPolicy, &[i32], ExitStatus, bool)] = &[
        (Always, &[0], Code(0), true),
        (Always, &[0], Code(1), true),
        (Always, &[0], Sig(TERM), true),
        (Never, &[0], Code(0), false),
        (Never, &[0], Code(1), false),
        (Never, &[0], Sig(KILL), false),
        (Unexpected, &[0], Code(0), false),
        (Unexpected, &[0], Code(1), true),
        (Unexpected, &[0, 2], Code(2), false),
        (Unexpected, &[0, 2], Code(1), true),
        (Unexpected, &[1], Code(0), true),
        (Unexpected, &[0], Sig(KILL), true),
        (Unexpected, &[0, 15], Sig(TERM), true), // a signal is never an expected exit
    ];
    for &(policy, codes, status, restarts) in table {
        let row = format!("{policy:?} {codes:?} {status:?}");
        let mut h = Harness::boot(config([svc("web").autorestart(policy).exitcodes(codes)]));
        h.advance(secs(1));
        assert_eq!(h.state_of("web"), State::Running, "{row}");
        h.advance(secs(20)); // stable: a restart would be immediate
        h.take_ops();
        h.kill(100, status);
        let st = h.status("web");
        match status {
            Code(c) => assert_eq!((st.exit_code, st.exit_signal), (Some(c), None), "{row}"),
            Sig(s) => assert_eq!(
                (st.exit_code, st.exit_signal),
                (None, Some(crate::signals::name(s))),
                "{row}"
            ),
        }
        if restarts {
            h.expect_ops(&["spawn web 101"]);
            assert_eq!(h.state_of("web"), State::Starting, "{row}");
            assert_eq!(st.restarts, 1, "{row}");
        } else {
            h.expect_ops(&[]);
            assert_eq!(h.state_of("web"), State::Exited, "{row}");
            assert_eq!(h.pid_of("web"), None, "{row}");
            assert_eq!(st.restarts, 0, "{row}");
            h.advance(secs(60));
            h.expect_ops(&[]);
            assert_eq!(h.state_of("web"), State::Exited, "{row}");
        }
    }
}

#[test]
fn exit_before_starttime_expected_code_is_exited_not_backoff() {
    let table: &[(RestartPolicy, &[i32], ExitStatus, State)] = &[
        (Unexpected, &[0], Code(0), State::Exited),
        (Never, &[0], Code(0), State::Exited),
        (Never, &[0, 3], Code(3), State::Exited),
        (Unexpected, &[0, 3], Code(3), State::Exited),
        (Never, &[0], Code(1), State::Backoff),
        (Unexpected, &[0], Code(1), State::Backoff),
        (Unexpected, &[0], Sig(TERM), State::Backoff),
        (Always, &[0], Code(0), State::Backoff),
    ];
    for &(policy, codes, status, want) in table {
        let row = format!("{policy:?} {codes:?} {status:?}");
        let mut h = Harness::boot(config([svc("web").autorestart(policy).exitcodes(codes)]));
        h.advance(ms(500));
        h.kill(100, status);
        assert_eq!(h.state_of("web"), want, "{row}");
        h.advance(secs(60));
        let respawned = h.take_ops().len() > 1;
        assert_eq!(respawned, want == State::Backoff, "{row}");
    }
}

#[test]
fn quick_crashes_after_running_restart_with_growing_delay() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(1));
    h.expect_ops(&["spawn web 100"]);
    let mut pid = FIRST_PID;
    for (crash, delay) in [(1, 250), (2, 500), (3, 1000), (4, 2000)] {
        h.advance(secs(2)); // RUNNING for 2 s: not stable
        h.kill(pid, Code(1));
        assert_eq!(h.state_of("web"), State::Pending, "crash {crash}");
        assert_eq!(h.pid_of("web"), None);
        assert_eq!(h.deadline_in(), Some(ms(delay)), "crash {crash}");
        assert_eq!(
            h.detail_of("web"),
            Some(format!("restart in {:.2}s", delay as f64 / 1000.0))
        );
        h.advance(ms(delay - 1));
        h.expect_ops(&[]);
        h.advance(ms(1));
        pid += 1;
        h.expect_ops(&[&format!("spawn web {pid}")]);
        assert_eq!(h.state_of("web"), State::Starting);
        h.advance(secs(1));
        assert_eq!(h.state_of("web"), State::Running);
        assert_eq!(h.status("web").restarts, crash);
    }
}

#[test]
fn stable_process_restarts_at_once_and_the_delay_starts_over() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(1));
    // Two quick crashes: the next delay would be 1 s.
    h.advance(secs(1));
    h.kill(100, Code(1));
    h.advance(ms(250) + secs(1));
    h.advance(secs(1));
    h.kill(101, Code(1));
    h.advance(ms(500) + secs(1));
    assert_eq!(h.state_of("web"), State::Running);
    h.take_ops();
    // Up exactly STABLE_AFTER: restarted at once.
    h.advance(policy::STABLE_AFTER);
    h.kill(102, Code(1));
    h.expect_ops(&["spawn web 103"]);
    assert_eq!(h.state_of("web"), State::Starting);
    assert_eq!(h.deadline_in(), Some(secs(1))); // the starttime timer, not a delay
                                                // The next quick crash waits 250 ms again.
    h.advance(secs(1));
    h.advance(secs(1));
    h.kill(103, Code(1));
    assert_eq!(h.deadline_in(), Some(ms(250)));
}

#[test]
fn up_just_short_of_stable_still_waits() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(1));
    h.advance(policy::STABLE_AFTER - ms(1));
    h.kill(100, Code(1));
    assert_eq!(h.state_of("web"), State::Pending);
    assert_eq!(h.deadline_in(), Some(ms(250)));
}

// ---- spawn errors and essential services ------------------------------------------------

#[test]
fn spawn_error_is_fatal_with_the_message_and_the_daemon_goes_on() {
    let mut h = Harness::new(config([svc("bad"), svc("good")]))
        .missing("bad")
        .booted();
    h.expect_ops(&["spawn bad failed", "spawn good 100"]);
    assert_eq!(h.state_of("bad"), State::Fatal);
    assert_eq!(h.pid_of("bad"), None);
    assert_eq!(
        h.detail_of("bad").as_deref(),
        Some("exec /bin/bad: No such file or directory")
    );
    assert!(h
        .logs
        .contains(&"error: bad FATAL: exec /bin/bad: No such file or directory".to_string()));
    h.advance(secs(60));
    h.expect_ops(&[]); // no retry of a program that cannot be executed
    assert_eq!(h.state_of("good"), State::Running);
    // A start request says why.
    let c = h.request(Request::Start {
        names: names(&["bad"]),
    });
    h.expect_ops(&["spawn bad failed"]);
    assert_eq!(
        h.reply(c),
        Some(outcome(
            false,
            &[(
                "bad",
                false,
                "FATAL: exec /bin/bad: No such file or directory"
            )]
        ))
    );
    assert_eq!(h.state_of("good"), State::Running);
}

#[test]
fn essential_service_going_fatal_asks_for_shutdown() {
    // Could not exec.
    let mut h = Harness::new(config([svc("db").essential()]))
        .missing("db")
        .booted();
    h.expect_ops(&["spawn db failed", "essential db"]);
    // Retries used up.
    let mut h = Harness::boot(config([svc("db").essential().startretries(0)]));
    h.advance(ms(10));
    h.kill(100, Code(1));
    h.expect_ops(&["spawn db 100", "essential db"]);
    // A failed oneshot.
    let mut h = Harness::boot(config([svc("init").essential().oneshot()]));
    h.kill(100, Code(2));
    h.expect_ops(&["spawn init 100", "essential init"]);
    // EXITED is not FATAL.
    let mut h = Harness::boot(config([svc("db").essential().autorestart(Never)]));
    h.advance(secs(2));
    h.kill(100, Code(1));
    h.expect_ops(&["spawn db 100"]);
    assert_eq!(h.state_of("db"), State::Exited);
    // Not essential: nothing.
    let mut h = Harness::new(config([svc("db")])).missing("db").booted();
    h.expect_ops(&["spawn db failed"]);
}

// ---- stop ----------------------------------------------------------------------------------

#[test]
fn stop_sends_stopsignal_to_the_group_then_sigkill_after_stoptime() {
    let mut h = Harness::boot(config([svc("web")
        .stopsignal(libc::SIGINT)
        .stoptime(secs(5))
        .autorestart(Always)]));
    h.advance(secs(1));
    h.take_ops();
    let c = h.request(Request::Stop {
        names: names(&["web"]),
    });
    h.expect_ops(&["signal 100 INT group"]);
    assert_eq!(h.state_of("web"), State::Stopping);
    assert_eq!(h.deadline_in(), Some(secs(5)));
    assert_eq!(h.reply(c), None);
    h.advance(ms(4999));
    h.expect_ops(&[]);
    h.advance(ms(1));
    h.expect_ops(&["signal 100 KILL group"]);
    assert_eq!(h.state_of("web"), State::Stopping);
    assert_eq!(h.deadline_in(), None);
    assert_eq!(h.reply(c), None);
    h.kill(100, Sig(KILL));
    // The group is killed once more so that no leftover outlives the stop.
    h.expect_ops(&["signal 100 KILL group"]);
    assert_eq!(h.state_of("web"), State::Stopped);
    assert_eq!(h.pid_of("web"), None);
    assert_eq!(h.reply(c), Some(outcome(true, &[("web", true, "STOPPED")])));
    assert_eq!(h.status("web").exit_signal.as_deref(), Some("KILL"));
    // Stopped by request: not restarted, whatever autorestart says.
    h.advance(secs(60));
    h.expect_ops(&[]);
    assert_eq!(h.state_of("web"), State::Stopped);
}

#[test]
fn stop_that_is_obeyed_needs_no_sigkill_timer() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(1));
    h.take_ops();
    let c = h.request(Request::Stop {
        names: names(&["web"]),
    });
    h.advance(secs(2));
    h.kill(100, Sig(TERM));
    h.expect_ops(&["signal 100 TERM group", "signal 100 KILL group"]);
    assert_eq!(h.reply(c), Some(outcome(true, &[("web", true, "STOPPED")])));
    assert_eq!(h.deadline_in(), None);
    h.advance(secs(60));
    h.expect_ops(&[]);
}

#[test]
fn stopping_a_paused_process_sends_its_stop_signal_then_sigcont() {
    let mut h = Harness::boot(config([svc("web").stopsignal(libc::SIGQUIT)]));
    h.advance(secs(1));
    h.feed(Event::Stopped { pid: 100 });
    assert_eq!(h.state_of("web"), State::Paused);
    h.take_ops();
    let c = h.request(Request::Stop {
        names: names(&["web"]),
    });
    h.expect_ops(&["signal 100 QUIT group", "signal 100 CONT group"]);
    assert_eq!(h.state_of("web"), State::Stopping);
    h.kill(100, Sig(libc::SIGQUIT));
    assert_eq!(h.state_of("web"), State::Stopped);
    assert_eq!(h.reply(c), Some(outcome(true, &[("web", true, "STOPPED")])));
}

#[test]
fn stop_from_backoff_is_stopped_at_once() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(ms(100));
    h.kill(100, Code(1));
    assert_eq!(h.state_of("web"), State::Backoff);
    h.take_ops();
    let c = h.request(Request::Stop {
        names: names(&["web"]),
    });
    h.expect_ops(&[]);
    assert_eq!(h.state_of("web"), State::Stopped);
    assert_eq!(h.detail_of("web"), None);
    assert_eq!(h.deadline_in(), None);
    assert_eq!(h.reply(c), Some(outcome(true, &[("web", true, "STOPPED")])));
    h.advance(secs(60));
    h.expect_ops(&[]);
}

#[test]
fn stop_during_a_restart_delay_is_stopped_at_once() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(2));
    h.kill(100, Code(1));
    assert_eq!(h.state_of("web"), State::Pending);
    h.take_ops();
    let c = h.request(Request::Stop {
        names: names(&["web"]),
    });
    assert_eq!(h.state_of("web"), State::Stopped);
    assert_eq!(h.reply(c), Some(outcome(true, &[("web", true, "STOPPED")])));
    h.advance(secs(60));
    h.expect_ops(&[]);
}

#[test]
fn stop_while_starting_and_stop_of_something_stopped() {
    let mut h = Harness::boot(config([svc("web"), svc("off").manual()]));
    h.take_ops();
    let c = h.request(Request::Stop {
        names: names(&["web", "off"]),
    });
    h.expect_ops(&["signal 100 TERM group"]);
    assert_eq!(h.deadline_in(), Some(secs(10))); // stoptime replaces the starttime timer
    h.advance(secs(1));
    assert_eq!(h.state_of("web"), State::Stopping); // never RUNNING
    h.kill(100, Sig(TERM));
    assert_eq!(h.state_of("web"), State::Stopped);
    assert_eq!(h.status("web").restarts, 0);
    assert_eq!(
        h.reply(c),
        Some(outcome(
            true,
            &[("web", true, "STOPPED"), ("off", true, "STOPPED")]
        ))
    );
}

#[test]
fn a_stop_request_wins_over_a_restart_in_progress() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(1));
    let restart = h.request(Request::Restart {
        names: names(&["web"]),
    });
    let stop = h.request(Request::Stop {
        names: names(&["web"]),
    });
    h.expect_ops(&["spawn web 100", "signal 100 TERM group"]);
    h.kill(100, Sig(TERM));
    h.expect_ops(&["signal 100 KILL group"]);
    assert_eq!(h.state_of("web"), State::Stopped);
    assert_eq!(
        h.reply(stop),
        Some(outcome(true, &[("web", true, "STOPPED")]))
    );
    assert_eq!(
        h.reply(restart),
        Some(outcome(false, &[("web", false, "STOPPED")]))
    );
}

// ---- pause / resume ------------------------------------------------------------------------

#[test]
fn sigstop_and_sigcont_from_outside_move_running_and_paused() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(1));
    h.feed(Event::Stopped { pid: 100 });
    assert_eq!(h.state_of("web"), State::Paused);
    assert_eq!(h.status("web").state, "PAUSED");
    assert_eq!(h.pid_of("web"), Some(100));
    h.feed(Event::Continued { pid: 100 });
    assert_eq!(h.state_of("web"), State::Running);
    let logs = h.take_logs();
    assert!(logs.ends_with(&[
        "info: web (pid 100) paused: PAUSED".to_string(),
        "info: web (pid 100) resumed: RUNNING".to_string(),
    ]));
    // Unknown pids (orphans) are ignored.
    h.feed(Event::Stopped { pid: 999 });
    h.feed(Event::Continued { pid: 999 });
    h.feed(Event::Exited {
        pid: 999,
        status: Code(0),
    });
    assert_eq!(h.state_of("web"), State::Running);
    h.expect_ops(&["spawn web 100"]);
}

#[test]
fn pause_and_resume_requests_signal_the_group_and_state_follows_waitpid() {
    let mut h = Harness::boot(config([svc("web"), svc("off").manual()]));
    h.advance(secs(1));
    h.take_ops();
    let c = h.request(Request::Pause {
        names: names(&["web"]),
    });
    h.expect_ops(&["signal 100 STOP group"]);
    assert_eq!(
        h.reply(c),
        Some(Response::Ok {
            lines: names(&["web: sent SIGSTOP to pid 100"])
        })
    );
    assert_eq!(h.state_of("web"), State::Running); // until waitpid says so
    h.feed(Event::Stopped { pid: 100 });
    assert_eq!(h.state_of("web"), State::Paused);
    let c = h.request(Request::Resume {
        names: names(&["web"]),
    });
    h.expect_ops(&["signal 100 CONT group"]);
    assert!(matches!(h.reply(c), Some(Response::Ok { .. })));
    h.feed(Event::Continued { pid: 100 });
    assert_eq!(h.state_of("web"), State::Running);
    // `signal` goes to the main process only.
    let c = h.request(Request::Signal {
        signal: "hup".to_string(),
        names: names(&["web"]),
    });
    h.expect_ops(&["signal 100 HUP pid"]);
    assert_eq!(
        h.reply(c),
        Some(Response::Ok {
            lines: names(&["web: sent SIGHUP to pid 100"])
        })
    );
    // Nothing to pause.
    let c = h.request(Request::Pause {
        names: names(&["off"]),
    });
    h.expect_ops(&[]);
    assert_eq!(h.reply(c), Some(error("not running: off")));
}

#[test]
fn time_spent_paused_does_not_count_towards_starttime() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(ms(400));
    h.feed(Event::Stopped { pid: 100 });
    h.advance(secs(5));
    assert_eq!(h.state_of("web"), State::Paused);
    h.feed(Event::Continued { pid: 100 });
    assert_eq!(h.state_of("web"), State::Starting);
    assert_eq!(h.deadline_in(), Some(secs(1)));
    h.advance(ms(999));
    assert_eq!(h.state_of("web"), State::Starting);
    h.advance(ms(1));
    assert_eq!(h.state_of("web"), State::Running);
    h.expect_ops(&["spawn web 100"]);
}

#[test]
fn a_paused_process_that_dies_follows_the_restart_policy() {
    // Paused while RUNNING: a crash after RUNNING.
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(20));
    h.feed(Event::Stopped { pid: 100 });
    h.kill(100, Sig(KILL));
    h.expect_ops(&["spawn web 100", "spawn web 101"]);
    assert_eq!(h.state_of("web"), State::Starting);
    // Paused while STARTING: a failed start.
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(ms(100));
    h.feed(Event::Stopped { pid: 100 });
    h.kill(100, Sig(KILL));
    assert_eq!(h.state_of("web"), State::Backoff);
}

// ---- requests ------------------------------------------------------------------------------

#[test]
fn start_replies_only_once_running() {
    let mut h = Harness::boot(config([svc("web").manual()]));
    let c = h.request(Request::Start {
        names: names(&["web"]),
    });
    h.expect_ops(&["spawn web 100"]);
    assert_eq!(h.reply(c), None);
    h.advance(ms(999));
    assert_eq!(h.reply(c), None);
    h.advance(ms(1));
    assert_eq!(h.reply(c), Some(outcome(true, &[("web", true, "RUNNING")])));
    // Starting what runs answers at once and spawns nothing.
    let c = h.request(Request::Start {
        names: names(&["web"]),
    });
    h.expect_ops(&[]);
    assert_eq!(h.reply(c), Some(outcome(true, &[("web", true, "RUNNING")])));
}

#[test]
fn start_waits_through_backoff_and_replies_when_fatal() {
    let mut h = Harness::boot(config([svc("web").manual().startretries(1)]));
    let c = h.request(Request::Start {
        names: names(&["web"]),
    });
    h.advance(ms(100));
    h.kill(100, Code(1));
    assert_eq!(h.reply(c), None); // BACKOFF: not settled yet
    h.advance(ms(250));
    h.advance(ms(100));
    h.kill(101, Code(1));
    let fatal = "FATAL: exited with exit code 1 before starttime, 2 attempt(s), giving up";
    assert_eq!(h.reply(c), Some(outcome(false, &[("web", false, fatal)])));
    // A new start gives it a fresh set of retries.
    let c = h.request(Request::Start {
        names: names(&["web"]),
    });
    h.expect_ops(&["spawn web 100", "spawn web 101", "spawn web 102"]);
    h.advance(ms(100));
    h.kill(102, Code(1));
    assert_eq!(h.state_of("web"), State::Backoff);
    h.advance(ms(250));
    h.advance(secs(1));
    assert_eq!(h.reply(c), Some(outcome(true, &[("web", true, "RUNNING")])));
}

#[test]
fn start_of_several_instances_waits_for_all() {
    let mut h = Harness::boot(config([svc("w").manual().numprocs(2), svc("x").manual()]));
    let c = h.request(Request::Start {
        names: names(&["w", "x"]),
    });
    h.expect_ops(&["spawn w:0 100", "spawn w:1 101", "spawn x 102"]);
    h.advance(ms(500));
    h.kill(101, Code(1)); // w:1 backs off and comes later
    h.advance(ms(500));
    assert_eq!(h.reply(c), None);
    h.advance(ms(750));
    assert_eq!(
        h.reply(c),
        Some(outcome(
            true,
            &[
                ("w:0", true, "RUNNING"),
                ("w:1", true, "RUNNING"),
                ("x", true, "RUNNING")
            ]
        ))
    );
}

#[test]
fn restart_gives_a_new_pid() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(1));
    h.take_ops();
    let c = h.request(Request::Restart {
        names: names(&["web"]),
    });
    h.expect_ops(&["signal 100 TERM group"]);
    assert_eq!(h.state_of("web"), State::Stopping);
    h.kill(100, Sig(TERM));
    h.expect_ops(&["signal 100 KILL group", "spawn web 101"]);
    assert_eq!(h.state_of("web"), State::Starting);
    assert_eq!(h.reply(c), None);
    h.advance(secs(1));
    assert_eq!(h.reply(c), Some(outcome(true, &[("web", true, "RUNNING")])));
    assert_eq!(h.pid_of("web"), Some(101));
    assert_eq!(h.status("web").restarts, 0); // asked for, not automatic
}

#[test]
fn restart_of_something_not_running_starts_it() {
    let mut h = Harness::boot(config([svc("web").manual(), svc("bo")]));
    h.advance(ms(100));
    h.kill(100, Code(1));
    assert_eq!(h.state_of("bo"), State::Backoff);
    let c = h.request(Request::Restart {
        names: names(&["web", "bo"]),
    });
    // BACKOFF is retried now, not after its delay.
    h.expect_ops(&["spawn bo 100", "spawn bo 101", "spawn web 102"]);
    h.advance(secs(1));
    assert_eq!(
        h.reply(c),
        Some(outcome(
            true,
            &[("web", true, "RUNNING"), ("bo", true, "RUNNING")]
        ))
    );
}

#[test]
fn unknown_names_are_errors() {
    let mut h = Harness::boot(config([svc("web"), svc("w").numprocs(2)]));
    h.take_ops();
    let bad = |n: &str| names(&[n]);
    let cases = [
        (
            Request::Status { names: bad("nope") },
            "no such service: nope",
        ),
        (
            Request::Start { names: bad("nope") },
            "no such service: nope",
        ),
        (
            Request::Stop { names: bad("nope") },
            "no such service: nope",
        ),
        (
            Request::Restart { names: bad("nope") },
            "no such service: nope",
        ),
        (
            Request::Pause { names: bad("nope") },
            "no such service: nope",
        ),
        (
            Request::Resume { names: bad("nope") },
            "no such service: nope",
        ),
        (
            Request::Signal {
                signal: "TERM".to_string(),
                names: bad("nope"),
            },
            "no such service: nope",
        ),
        (
            Request::Start { names: bad("w:2") },
            "no such instance: w:2",
        ),
        (Request::Stop { names: bad("w:x") }, "no such instance: w:x"),
        (
            Request::Status {
                names: bad("web:1"),
            },
            "no such instance: web:1",
        ),
        (
            Request::Stop {
                names: names(&["web", "nope"]),
            },
            "no such service: nope",
        ),
        (
            Request::Start { names: vec![] },
            "name a service, an instance NAME:N, or all",
        ),
        (
            Request::Pause { names: vec![] },
            "name a service, an instance NAME:N, or all",
        ),
        (
            Request::Signal {
                signal: "TERM".to_string(),
                names: vec![],
            },
            "name a service, an instance NAME:N, or all",
        ),
        (
            Request::Signal {
                signal: "BOGUS".to_string(),
                names: bad("web"),
            },
            "unknown signal: BOGUS",
        ),
    ];
    for (request, message) in cases {
        let what = format!("{request:?}");
        let c = h.request(request);
        assert_eq!(h.reply(c), Some(error(message)), "{what}");
        // A refused request changes nothing.
        assert!(h.take_ops().is_empty(), "{what}");
    }
    assert_eq!(h.state_of("web"), State::Starting);
}

#[test]
fn status_fields() {
    let mut h = Harness::boot(config([svc("web"), svc("off").manual()]));
    let st = h.status("web");
    assert_eq!(
        st,
        InstanceStatus {
            name: "web".to_string(),
            service: "web".to_string(),
            state: "STARTING".to_string(),
            pid: Some(100),
            uptime_secs: Some(0),
            restarts: 0,
            exit_code: None,
            exit_signal: None,
            detail: None,
        }
    );
    let off = h.status("off");
    assert_eq!(
        (off.state.as_str(), off.pid, off.uptime_secs),
        ("STOPPED", None, None)
    );
    h.advance(ms(42_900));
    let st = h.status("web");
    assert_eq!((st.state.as_str(), st.uptime_secs), ("RUNNING", Some(42)));
    h.kill(100, Sig(KILL)); // stable: restarted at once
    let st = h.status("web");
    assert_eq!(
        (
            st.pid,
            st.uptime_secs,
            st.restarts,
            st.exit_code,
            st.exit_signal.as_deref()
        ),
        (Some(101), Some(0), 1, None, Some("KILL"))
    );
    h.advance(secs(3));
    h.kill(101, Code(3)); // quick crash: a delay
    let st = h.status("web");
    assert_eq!(
        (
            st.state.as_str(),
            st.pid,
            st.uptime_secs,
            st.restarts,
            st.exit_code,
            st.exit_signal,
            st.detail.as_deref()
        ),
        (
            "PENDING",
            None,
            None,
            2,
            Some(3),
            None,
            Some("restart in 0.25s")
        )
    );
    // The request gives the same, for what it names.
    let c = h.request(Request::Status {
        names: names(&["web"]),
    });
    assert_eq!(
        h.reply(c),
        Some(Response::Status {
            instances: vec![h.status("web")]
        })
    );
}

// ---- reload --------------------------------------------------------------------------------

fn reload_reply(
    added: &[&str],
    changed: &[&str],
    restarted: &[&str],
    removed: &[&str],
) -> Response {
    Response::Reload {
        added: names(added),
        changed: names(changed),
        restarted: names(restarted),
        removed: names(removed),
    }
}

#[test]
fn reload_adds_removes_and_restarts_only_what_changed() {
    let mut h = Harness::boot(config([
        svc("gone"),
        svc("keep"),
        svc("policy"),
        svc("proc"),
    ]));
    h.expect_ops(&[
        "spawn gone 100",
        "spawn keep 101",
        "spawn policy 102",
        "spawn proc 103",
    ]);
    h.advance(secs(1));
    let c = h.reload(config([
        svc("keep"),
        svc("policy").autorestart(Never).startretries(7),
        svc("proc").cmd(&["/bin/proc", "--v2"]),
        svc("new"),
        svc("newoff").manual(),
    ]));
    assert_eq!(
        h.reply(c),
        Some(reload_reply(
            &["new", "newoff"],
            &["policy"],
            &["proc"],
            &["gone"]
        ))
    );
    h.expect_ops(&[
        "signal 103 TERM group",
        "signal 100 TERM group",
        "spawn new 104",
    ]);
    assert!(h.logs.contains(
        &"info: reload: added new, newoff; changed policy; restarted proc; removed gone"
            .to_string()
    ));
    // The changed process comes back with its new command.
    h.kill(103, Sig(TERM));
    h.expect_ops(&["signal 103 KILL group", "spawn proc 105"]);
    assert_eq!(h.alive[&105], names(&["/bin/proc", "--v2"]));
    // The removed one disappears once it has stopped.
    assert_eq!(h.state_of("gone"), State::Stopping);
    assert!(!h.listed().contains(&"gone".to_string()));
    h.kill(100, Sig(TERM));
    h.expect_ops(&["signal 100 KILL group"]);
    assert!(!h.exists("gone"));
    assert_eq!(h.listed(), ["keep", "new", "newoff", "policy", "proc"]);
    let c = h.request(Request::Status {
        names: names(&["gone"]),
    });
    assert_eq!(h.reply(c), Some(error("no such service: gone")));
    // Unchanged and policy-only: same pids, and the new policy applies.
    assert_eq!(h.pid_of("keep"), Some(101));
    assert_eq!(h.pid_of("policy"), Some(102));
    assert_eq!(h.state_of("newoff"), State::Stopped);
    h.advance(secs(1));
    assert_eq!(h.state_of("proc"), State::Running);
    h.kill(102, Code(1));
    assert_eq!(h.state_of("policy"), State::Exited); // autorestart never now
    h.expect_ops(&[]);
}

#[test]
fn reload_with_nothing_changed_changes_nothing() {
    let mut h = Harness::boot(config([svc("a"), svc("w").numprocs(2)]));
    h.advance(secs(1));
    h.take_ops();
    let c = h.reload(config([svc("a"), svc("w").numprocs(2)]));
    assert_eq!(h.reply(c), Some(reload_reply(&[], &[], &[], &[])));
    h.expect_ops(&[]);
    assert!(h.logs.contains(&"info: reload: no changes".to_string()));
}

#[test]
fn reload_numprocs_two_to_three_adds_only_the_third() {
    let mut h = Harness::boot(config([svc("w").numprocs(2)]));
    h.advance(secs(1));
    h.take_ops();
    let c = h.reload(config([svc("w").numprocs(3)]));
    assert_eq!(h.reply(c), Some(reload_reply(&[], &["w"], &[], &[])));
    h.expect_ops(&["spawn w:2 102"]);
    assert_eq!(h.pid_of("w:0"), Some(100));
    assert_eq!(h.pid_of("w:1"), Some(101));
    assert_eq!(h.listed(), ["w:0", "w:1", "w:2"]);
    // A manual service that nobody started gets its new instance stopped.
    let mut h = Harness::boot(config([svc("m").manual()]));
    let c = h.reload(config([svc("m").manual().numprocs(2)]));
    assert_eq!(h.reply(c), Some(reload_reply(&[], &["m"], &[], &[])));
    h.expect_ops(&[]);
    assert_eq!(h.state_of("m:1"), State::Stopped);
}

#[test]
fn reload_numprocs_growth_leaves_stopped_and_fatal_siblings_alone() {
    let mut h = Harness::boot(config([svc("w").numprocs(3).startretries(0)]));
    h.advance(ms(100));
    h.kill(102, Code(1)); // w:2 FATAL
    h.advance(secs(1));
    let c = h.request(Request::Stop {
        names: names(&["w:0"]),
    });
    h.kill(100, Sig(TERM));
    assert!(h.reply(c).is_some());
    h.take_ops();
    h.reload(config([svc("w").numprocs(4).startretries(0)]));
    h.expect_ops(&["spawn w:3 103"]);
    assert_eq!(h.state_of("w:0"), State::Stopped);
    assert_eq!(h.state_of("w:1"), State::Running);
    assert_eq!(h.state_of("w:2"), State::Fatal);
}

#[test]
fn reload_numprocs_three_to_one_retires_the_extras() {
    let mut h = Harness::boot(config([svc("w").numprocs(3)]));
    h.advance(secs(1));
    h.take_ops();
    let c = h.reload(config([svc("w")]));
    assert_eq!(h.reply(c), Some(reload_reply(&[], &["w"], &[], &[])));
    h.expect_ops(&["signal 101 TERM group", "signal 102 TERM group"]);
    // The one left keeps its process and is now named like any single instance.
    assert_eq!(h.pid_of("w:0"), Some(100));
    assert_eq!(h.state_of("w:0"), State::Running);
    assert_eq!(h.sup.instance_name(&id("w:0")), "w");
    assert_eq!(h.sup.instance_name(&id("w:1")), "w:1");
    assert_eq!(h.listed(), ["w"]);
    assert_eq!(
        h.sup.resolve(&names(&["w:1"])),
        Err("no such instance: w:1".to_string())
    );
    assert_eq!(h.state_of("w:1"), State::Stopping);
    h.kill(101, Sig(TERM));
    h.kill(102, Sig(TERM));
    h.expect_ops(&["signal 101 KILL group", "signal 102 KILL group"]);
    assert!(!h.exists("w:1") && !h.exists("w:2"));
    assert_eq!(h.listed(), ["w"]);
    h.advance(secs(60));
    h.expect_ops(&[]);
}

#[test]
fn reload_numprocs_one_to_two_renames_the_first() {
    let mut h = Harness::boot(config([svc("w")]));
    h.advance(secs(1));
    h.reload(config([svc("w").numprocs(2)]));
    h.expect_ops(&["spawn w 100", "spawn w:1 101"]);
    assert_eq!(h.listed(), ["w:0", "w:1"]);
    assert_eq!(h.pid_of("w:0"), Some(100));
}

#[test]
fn reload_process_change_restarts_every_running_instance_only() {
    let mut h = Harness::boot(config([svc("w").numprocs(2), svc("off").manual()]));
    h.advance(secs(1));
    h.take_ops();
    let c = h.reload(config([
        svc("w").numprocs(2).cmd(&["/bin/w2"]),
        svc("off").manual().cmd(&["/bin/off2"]),
    ]));
    assert_eq!(h.reply(c), Some(reload_reply(&[], &[], &["off", "w"], &[])));
    h.expect_ops(&["signal 100 TERM group", "signal 101 TERM group"]);
    h.kill(100, Sig(TERM));
    h.kill(101, Sig(TERM));
    h.expect_ops(&[
        "signal 100 KILL group",
        "spawn w:0 102",
        "signal 101 KILL group",
        "spawn w:1 103",
    ]);
    assert_eq!(h.state_of("off"), State::Stopped);
    assert_eq!(h.alive[&102], names(&["/bin/w2"]));
    // What was not running starts later with the new spec.
    h.request(Request::Start {
        names: names(&["off"]),
    });
    h.expect_ops(&["spawn off 104"]);
    assert_eq!(h.alive[&104], names(&["/bin/off2"]));
}

#[test]
fn reload_does_not_bring_back_what_is_being_stopped() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(1));
    let stop = h.request(Request::Stop {
        names: names(&["web"]),
    });
    h.take_ops();
    h.reload(config([svc("web").cmd(&["/bin/web2"])]));
    h.expect_ops(&[]); // no second stop signal
    h.kill(100, Sig(TERM));
    h.expect_ops(&["signal 100 KILL group"]);
    assert_eq!(h.state_of("web"), State::Stopped);
    assert_eq!(
        h.reply(stop),
        Some(outcome(true, &[("web", true, "STOPPED")]))
    );
}

#[test]
fn reload_during_shutdown_starts_nothing() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(1));
    h.feed(Event::Shutdown);
    h.take_ops();
    h.reload(config([svc("web").cmd(&["/bin/web2"]), svc("new")]));
    h.expect_ops(&[]);
    h.kill(100, Sig(TERM));
    h.expect_ops(&["signal 100 KILL group", "exit"]);
}

#[test]
fn a_removed_service_taken_back_before_it_stopped_comes_back() {
    let mut h = Harness::boot(config([svc("a"), svc("b")]));
    h.advance(secs(1));
    h.take_ops();
    h.reload(config([svc("a")]));
    h.expect_ops(&["signal 101 TERM group"]);
    let c = h.reload(config([svc("a"), svc("b")]));
    assert_eq!(h.reply(c), Some(reload_reply(&["b"], &[], &[], &[])));
    h.expect_ops(&[]);
    h.kill(101, Sig(TERM));
    h.expect_ops(&["signal 101 KILL group", "spawn b 102"]);
    assert_eq!(h.listed(), ["a", "b"]);
}

// ---- dependencies ------------------------------------------------------------------------

#[test]
fn requires_chain_starts_in_order_each_after_the_previous_is_running() {
    // Name order (app, cache, db) is the opposite of the dependency order.
    let mut h = Harness::boot(config([
        svc("app").requires(&["cache"]),
        svc("cache").requires(&["db"]),
        svc("db"),
    ]));
    h.expect_ops(&["spawn db 100"]);
    assert_eq!(h.state_of("cache"), State::Pending);
    assert_eq!(h.detail_of("cache").as_deref(), Some("waiting for db"));
    assert_eq!(h.detail_of("app").as_deref(), Some("waiting for cache"));
    h.advance(ms(999));
    h.expect_ops(&[]);
    h.advance(ms(1));
    h.expect_ops(&["spawn cache 101"]);
    assert_eq!(h.state_of("app"), State::Pending);
    h.advance(secs(1));
    h.expect_ops(&["spawn app 102"]);
    h.advance(secs(1));
    assert_eq!(h.state_of("app"), State::Running);
    assert_eq!(h.detail_of("app"), None);
}

#[test]
fn diamond_waits_for_both_sides() {
    let mut h = Harness::boot(config([
        svc("a_top").requires(&["b_left", "c_right"]),
        svc("b_left").requires(&["d_base"]),
        svc("c_right").requires(&["d_base"]).starttime(secs(2)),
        svc("d_base"),
    ]));
    h.expect_ops(&["spawn d_base 100"]);
    h.advance(secs(1));
    h.expect_ops(&["spawn b_left 101", "spawn c_right 102"]);
    h.advance(secs(1));
    assert_eq!(h.state_of("b_left"), State::Running);
    assert_eq!(h.state_of("c_right"), State::Starting);
    h.expect_ops(&[]);
    h.advance(secs(1));
    h.expect_ops(&["spawn a_top 103"]);
}

#[test]
fn independent_services_start_at_once_without_waves() {
    let mut h = Harness::boot(config([
        svc("fast"),
        svc("free").starttime(Duration::ZERO),
        svc("needs_fast").requires(&["fast"]),
        svc("needs_slow").requires(&["slow"]),
        svc("slow").starttime(secs(30)),
    ]));
    h.expect_ops(&["spawn fast 100", "spawn free 101", "spawn slow 102"]);
    // What waits for `fast` goes as soon as `fast` is up, not when everything is.
    h.advance(secs(1));
    h.expect_ops(&["spawn needs_fast 103"]);
    assert_eq!(h.state_of("slow"), State::Starting);
    h.advance(secs(29));
    h.expect_ops(&["spawn needs_slow 104"]);
}

#[test]
fn failed_required_dependency_holds_the_dependent_pending_and_start_replies() {
    let mut h = Harness::boot(config([
        svc("db").startretries(0),
        svc("web").requires(&["db"]),
    ]));
    h.advance(ms(100));
    h.kill(100, Code(1));
    assert_eq!(h.state_of("db"), State::Fatal);
    assert_eq!(h.state_of("web"), State::Pending);
    assert_eq!(
        h.detail_of("web").as_deref(),
        Some("dependency db is FATAL")
    );
    let held: Vec<String> = h
        .take_logs()
        .into_iter()
        .filter(|l| l.contains("held back"))
        .collect();
    assert_eq!(
        held,
        ["warning: web held back: dependency db is FATAL: PENDING"]
    );
    h.advance(secs(60));
    h.expect_ops(&["spawn db 100"]);
    assert!(h.take_logs().iter().all(|l| !l.contains("held back"))); // said once
                                                                     // Starting web gives db a new try; when that fails too, the start says why.
    let c = h.request(Request::Start {
        names: names(&["web"]),
    });
    h.expect_ops(&["spawn db 101"]);
    assert_eq!(h.state_of("web"), State::Pending);
    assert_eq!(h.reply(c), None);
    h.advance(ms(100));
    h.kill(101, Code(1));
    assert_eq!(
        h.reply(c),
        Some(outcome(
            false,
            &[("web", false, "PENDING: dependency db is FATAL")]
        ))
    );
    // Once db runs, web follows by itself.
    let c = h.request(Request::Start {
        names: names(&["db"]),
    });
    h.advance(secs(1));
    assert_eq!(h.reply(c), Some(outcome(true, &[("db", true, "RUNNING")])));
    h.expect_ops(&["spawn db 102", "spawn web 103"]);
    h.advance(secs(1));
    assert_eq!(h.state_of("web"), State::Running);
}

#[test]
fn spawn_error_of_a_required_dependency_blocks_at_once() {
    let mut h = Harness::new(config([svc("db"), svc("web").requires(&["db"])]))
        .missing("db")
        .booted();
    h.expect_ops(&["spawn db failed"]);
    assert_eq!(h.state_of("web"), State::Pending);
    assert_eq!(
        h.detail_of("web").as_deref(),
        Some("dependency db is FATAL")
    );
}

#[test]
fn a_wanted_dependency_is_pulled_in_and_waited_for_but_its_failure_does_not_block() {
    let mut h = Harness::boot(config([
        svc("cache").manual().startretries(0),
        svc("web").wants(&["cache"]),
    ]));
    h.expect_ops(&["spawn cache 100"]);
    assert_eq!(h.detail_of("web").as_deref(), Some("waiting for cache"));
    h.advance(ms(100));
    h.kill(100, Code(1));
    assert_eq!(h.state_of("cache"), State::Fatal);
    h.expect_ops(&["spawn web 101"]);
    h.advance(secs(1));
    assert_eq!(h.state_of("web"), State::Running);
    // And a wanted dependency that stops later takes nothing down with it.
    let mut h = Harness::boot(config([svc("cache"), svc("web").wants(&["cache"])]));
    h.advance(secs(2));
    h.take_ops();
    h.kill(100, Code(1));
    assert_eq!(h.state_of("web"), State::Running);
    h.expect_ops(&[]);
    h.advance(ms(250));
    h.expect_ops(&["spawn cache 102"]);
    let c = h.request(Request::Stop {
        names: names(&["cache"]),
    });
    h.kill(102, Sig(TERM));
    h.expect_ops(&["signal 102 TERM group", "signal 102 KILL group"]);
    assert!(h.reply(c).is_some());
    assert_eq!(h.state_of("web"), State::Running);
}

#[test]
fn after_only_orders() {
    // Nothing is pulled in: db is not asked to run, web goes at once.
    let mut h = Harness::boot(config([svc("db").manual(), svc("web").after(&["db"])]));
    h.expect_ops(&["spawn web 100"]);
    assert_eq!(h.state_of("db"), State::Stopped);
    let c = h.request(Request::Stop {
        names: names(&["web"]),
    });
    h.kill(100, Sig(TERM));
    assert!(h.reply(c).is_some());
    h.take_ops();
    h.request(Request::Start {
        names: names(&["web"]),
    });
    h.expect_ops(&["spawn web 101"]);
    assert_eq!(h.state_of("db"), State::Stopped);
    // When both start, web waits until db is RUNNING.
    let mut h = Harness::boot(config([svc("db"), svc("web").after(&["db"])]));
    h.expect_ops(&["spawn db 100"]);
    h.advance(secs(1));
    h.expect_ops(&["spawn web 101"]);
    // ...or has failed.
    let mut h = Harness::boot(config([
        svc("db").startretries(0),
        svc("web").after(&["db"]),
    ]));
    h.advance(ms(100));
    h.kill(100, Code(1));
    h.expect_ops(&["spawn db 100", "spawn web 101"]);
    // db stopping does not stop web.
    let mut h = Harness::boot(config([svc("db"), svc("web").after(&["db"])]));
    h.advance(secs(2));
    h.take_ops();
    let c = h.request(Request::Stop {
        names: names(&["db"]),
    });
    h.expect_ops(&["signal 100 TERM group"]);
    h.kill(100, Sig(TERM));
    assert!(h.reply(c).is_some());
    assert_eq!(h.state_of("web"), State::Running);
}

#[test]
fn before_is_after_seen_from_the_other_side() {
    let mut h = Harness::boot(config([svc("db").before(&["web"]), svc("web")]));
    h.expect_ops(&["spawn db 100"]);
    assert_eq!(h.detail_of("web").as_deref(), Some("waiting for db"));
    h.advance(secs(1));
    h.expect_ops(&["spawn web 101"]);
    // And at shutdown, web stops first.
    h.advance(secs(1));
    h.feed(Event::Shutdown);
    h.expect_ops(&["signal 101 TERM group"]);
    h.kill(101, Sig(TERM));
    h.expect_ops(&["signal 101 KILL group", "signal 100 TERM group"]);
}

#[test]
fn a_oneshot_dependency_must_succeed_first() {
    let mut h = Harness::boot(config([
        svc("migrate").oneshot(),
        svc("web").requires(&["migrate"]),
    ]));
    h.expect_ops(&["spawn migrate 100"]);
    assert_eq!(h.deadline_in(), None); // a oneshot has no starttime
    h.advance(secs(30));
    assert_eq!(h.state_of("migrate"), State::Starting);
    assert_eq!(h.state_of("web"), State::Pending);
    h.kill(100, Code(0));
    h.expect_ops(&["spawn web 101"]);
    assert_eq!(h.state_of("migrate"), State::Exited);
    assert_eq!(h.status("migrate").exit_code, Some(0));
    h.advance(secs(60));
    h.expect_ops(&[]); // a oneshot is not restarted
    assert_eq!(h.state_of("migrate"), State::Exited);
}

#[test]
fn a_failed_oneshot_dependency_blocks() {
    let mut h = Harness::boot(config([
        svc("migrate").oneshot(),
        svc("web").requires(&["migrate"]),
    ]));
    h.kill(100, Code(1));
    h.expect_ops(&["spawn migrate 100"]);
    assert_eq!(h.state_of("migrate"), State::Fatal);
    assert_eq!(
        h.detail_of("migrate").as_deref(),
        Some("oneshot failed with exit code 1")
    );
    assert_eq!(h.state_of("web"), State::Pending);
    assert_eq!(
        h.detail_of("web").as_deref(),
        Some("dependency migrate is FATAL")
    );
    h.advance(secs(60));
    h.expect_ops(&[]);
}

#[test]
fn a_oneshot_with_other_exitcodes_and_a_start_request() {
    let mut h = Harness::boot(config([svc("job").oneshot().manual().exitcodes(&[0, 3])]));
    let c = h.request(Request::Start {
        names: names(&["job"]),
    });
    h.expect_ops(&["spawn job 100"]);
    h.advance(secs(5));
    assert_eq!(h.reply(c), None); // waits for the oneshot to finish
    h.kill(100, Code(3));
    assert_eq!(
        h.reply(c),
        Some(outcome(true, &[("job", true, "EXITED (exit code 3)")]))
    );
    // Started again by hand, it runs again.
    let c = h.request(Request::Start {
        names: names(&["job"]),
    });
    h.kill(101, Sig(KILL));
    h.expect_ops(&["spawn job 101"]);
    assert_eq!(
        h.reply(c),
        Some(outcome(
            false,
            &[("job", false, "FATAL: oneshot failed with signal KILL")]
        ))
    );
}

#[test]
fn a_oneshot_that_succeeded_is_not_run_again_when_a_dependent_starts() {
    let mut h = Harness::boot(config([
        svc("migrate").oneshot(),
        svc("web").manual().requires(&["migrate"]),
    ]));
    h.kill(100, Code(0));
    h.expect_ops(&["spawn migrate 100"]);
    let c = h.request(Request::Start {
        names: names(&["web"]),
    });
    h.expect_ops(&["spawn web 101"]);
    h.advance(secs(1));
    assert_eq!(h.reply(c), Some(outcome(true, &[("web", true, "RUNNING")])));
    assert_eq!(h.state_of("migrate"), State::Exited);
}

#[test]
fn stopping_a_dependency_stops_its_dependents_first() {
    let mut h = Harness::boot(config([svc("db"), svc("web").requires(&["db"])]));
    h.advance(secs(2));
    h.take_ops();
    let c = h.request(Request::Stop {
        names: names(&["db"]),
    });
    h.expect_ops(&["signal 101 TERM group"]);
    assert_eq!(h.state_of("web"), State::Stopping);
    assert_eq!(h.state_of("db"), State::Running);
    assert_eq!(
        h.detail_of("db").as_deref(),
        Some("waiting for web to stop")
    );
    h.advance(secs(3));
    h.expect_ops(&[]);
    h.kill(101, Sig(TERM));
    h.expect_ops(&["signal 101 KILL group", "signal 100 TERM group"]);
    assert_eq!(h.state_of("db"), State::Stopping);
    assert_eq!(h.reply(c), None);
    h.kill(100, Sig(TERM));
    h.expect_ops(&["signal 100 KILL group"]);
    assert_eq!(h.reply(c), Some(outcome(true, &[("db", true, "STOPPED")])));
    assert_eq!(h.state_of("web"), State::Stopped);
    h.advance(secs(60));
    h.expect_ops(&[]);
    // Starting web brings db back first.
    h.request(Request::Start {
        names: names(&["web"]),
    });
    h.expect_ops(&["spawn db 102"]);
    h.advance(secs(1));
    h.expect_ops(&["spawn web 103"]);
}

#[test]
fn a_dependent_that_ignores_its_stop_signal_is_killed_before_the_dependency_stops() {
    let mut h = Harness::boot(config([
        svc("db"),
        svc("web").requires(&["db"]).stoptime(secs(3)),
    ]));
    h.advance(secs(2));
    h.take_ops();
    h.request(Request::Stop {
        names: names(&["db"]),
    });
    h.advance(secs(3));
    h.expect_ops(&["signal 101 TERM group", "signal 101 KILL group"]);
    h.kill(101, Sig(KILL));
    h.expect_ops(&["signal 101 KILL group", "signal 100 TERM group"]);
}

#[test]
fn shutdown_stops_in_reverse_order_with_independent_branches_in_parallel() {
    let mut h = Harness::boot(config([
        svc("a"),
        svc("b").requires(&["a"]),
        svc("c").requires(&["b"]),
        svc("d").requires(&["a"]),
        svc("x"),
    ]));
    h.advance(secs(3));
    for s in ["a", "b", "c", "d", "x"] {
        assert_eq!(h.state_of(s), State::Running, "{s}");
    }
    let [a, b, c, d, x] = ["a", "b", "c", "d", "x"].map(|s| h.pid_of(s).unwrap());
    h.take_ops();
    let client = h.request(Request::Shutdown);
    assert_eq!(
        h.reply(client),
        Some(Response::Ok {
            lines: names(&["shutting down"])
        })
    );
    // The leaves go first, all at once.
    h.expect_ops(&[
        &format!("signal {c} TERM group"),
        &format!("signal {d} TERM group"),
        &format!("signal {x} TERM group"),
    ]);
    h.kill(c, Sig(TERM));
    h.expect_ops(&[
        &format!("signal {c} KILL group"),
        &format!("signal {b} TERM group"),
    ]);
    h.kill(b, Sig(TERM));
    h.expect_ops(&[&format!("signal {b} KILL group")]); // a still waits for d
    assert_eq!(h.state_of("a"), State::Running);
    h.kill(x, Sig(TERM));
    h.expect_ops(&[&format!("signal {x} KILL group")]);
    h.kill(d, Sig(TERM));
    h.expect_ops(&[
        &format!("signal {d} KILL group"),
        &format!("signal {a} TERM group"),
    ]);
    h.kill(a, Sig(TERM));
    h.expect_ops(&[&format!("signal {a} KILL group"), "exit"]);
    assert!(h.alive.is_empty());
    h.advance(secs(60));
    h.expect_ops(&[]);
    // Nothing starts any more.
    let c2 = h.request(Request::Start {
        names: names(&["a"]),
    });
    assert_eq!(h.reply(c2), Some(error("taskmasterd is shutting down")));
    h.expect_ops(&[]);
}

#[test]
fn shutdown_kills_what_ignores_it_and_cancels_pending_restarts() {
    let mut h = Harness::boot(config([svc("stuck").stoptime(secs(4)), svc("flappy")]));
    h.advance(ms(100));
    h.kill(100, Code(1)); // flappy in BACKOFF
    h.advance(secs(1));
    h.take_ops();
    assert_eq!(h.state_of("flappy"), State::Starting);
    h.advance(ms(100));
    h.kill(102, Code(1)); // BACKOFF again
    h.feed(Event::Shutdown);
    h.expect_ops(&["signal 101 TERM group"]);
    assert_eq!(h.state_of("flappy"), State::Stopped);
    h.advance(secs(4));
    h.expect_ops(&["signal 101 KILL group"]);
    h.kill(101, Sig(KILL));
    h.expect_ops(&["signal 101 KILL group", "exit"]);
}

#[test]
fn shutdown_with_nothing_running_exits_at_once() {
    let mut h = Harness::boot(config([svc("off").manual()]));
    h.feed(Event::Shutdown);
    h.expect_ops(&["exit"]);
    h.feed(Event::Shutdown);
    h.feed(Event::Tick);
    h.expect_ops(&[]);
}

#[test]
fn a_required_dependency_crashing_bounces_its_dependent() {
    let mut h = Harness::boot(config([svc("db"), svc("web").requires(&["db"])]));
    h.advance(secs(3));
    h.expect_ops(&["spawn db 100", "spawn web 101"]);
    h.kill(100, Code(1)); // up 3 s: restarted after 250 ms
    h.expect_ops(&["signal 101 TERM group"]);
    assert_eq!(h.state_of("db"), State::Pending);
    assert_eq!(h.state_of("web"), State::Stopping);
    h.kill(101, Sig(TERM));
    h.expect_ops(&["signal 101 KILL group"]);
    assert_eq!(h.state_of("web"), State::Pending);
    assert_eq!(h.detail_of("web").as_deref(), Some("waiting for db"));
    h.advance(ms(250));
    h.expect_ops(&["spawn db 102"]);
    assert_eq!(h.state_of("web"), State::Pending);
    h.advance(secs(1));
    h.expect_ops(&["spawn web 103"]);
    h.advance(secs(1));
    assert_eq!(h.state_of("web"), State::Running);
    assert_eq!(h.status("db").restarts, 1);
}

#[test]
fn a_required_dependency_that_exits_for_good_leaves_its_dependent_waiting() {
    let mut h = Harness::boot(config([
        svc("db").autorestart(Never),
        svc("web").requires(&["db"]),
    ]));
    h.advance(secs(3));
    h.take_ops();
    h.kill(100, Code(0));
    h.expect_ops(&["signal 101 TERM group"]);
    h.kill(101, Sig(TERM));
    assert_eq!(h.state_of("db"), State::Exited);
    assert_eq!(h.state_of("web"), State::Pending);
    assert_eq!(h.detail_of("web").as_deref(), Some("waiting for db"));
    h.advance(secs(60));
    h.expect_ops(&["signal 101 KILL group"]);
    // Starting db again brings web back.
    h.request(Request::Start {
        names: names(&["db"]),
    });
    h.advance(secs(1));
    h.expect_ops(&["spawn db 102", "spawn web 103"]);
}

#[test]
fn a_dependency_with_several_instances_is_up_when_all_are() {
    let mut h = Harness::boot(config([svc("w").numprocs(2), svc("web").requires(&["w"])]));
    h.advance(ms(500));
    h.kill(101, Code(1)); // w:1 backs off 250 ms
    h.advance(ms(500));
    assert_eq!(h.state_of("w:0"), State::Running);
    assert_eq!(h.state_of("web"), State::Pending);
    h.advance(ms(749));
    h.expect_ops(&["spawn w:0 100", "spawn w:1 101", "spawn w:1 102"]);
    h.advance(ms(1));
    h.expect_ops(&["spawn web 103"]);
}

#[test]
fn shutdown_continues_paused_processes_so_they_can_stop() {
    let mut h = Harness::boot(config([svc("web")]));
    h.advance(secs(1));
    h.feed(Event::Stopped { pid: 100 });
    h.take_ops();
    h.feed(Event::Shutdown);
    h.expect_ops(&["signal 100 TERM group", "signal 100 CONT group"]);
    h.kill(100, Sig(TERM));
    h.expect_ops(&["signal 100 KILL group", "exit"]);
}

/// A stable dependency is restarted at once, while its dependent is still stopping; the
/// dependent comes back once the dependency is RUNNING again.
#[test]
fn a_stable_required_dependency_crashing_restarts_at_once_and_bounces_its_dependent() {
    let mut h = Harness::boot(config([svc("db"), svc("web").requires(&["db"])]));
    h.advance(secs(30));
    h.take_ops();
    h.kill(100, Sig(libc::SIGSEGV));
    h.expect_ops(&["signal 101 TERM group", "spawn db 102"]);
    h.kill(101, Sig(TERM));
    h.expect_ops(&["signal 101 KILL group"]);
    assert_eq!(h.state_of("web"), State::Pending);
    h.advance(secs(1));
    h.expect_ops(&["spawn web 103"]);
}

#[test]
fn the_event_log_names_instance_pid_and_state() {
    let mut h = Harness::boot(config([svc("web").stoptime(secs(2))]));
    h.advance(secs(1));
    h.request(Request::Stop {
        names: names(&["web"]),
    });
    h.advance(secs(2));
    h.kill(100, Sig(KILL));
    assert_eq!(
        h.take_logs(),
        [
            "info: web spawned with pid 100",
            "info: web (pid 100) is RUNNING",
            "info: web (pid 100) stop requested: SIGTERM STOPPING",
            "warning: web (pid 100) did not stop within stoptime: SIGKILL",
            "info: web (pid 100) exited with signal KILL: STOPPED",
        ]
    );
    h.feed(Event::Shutdown);
    assert_eq!(h.take_logs(), ["info: shutdown: stopping every service"]);
}

#[test]
fn names_lists_services_and_instances_for_completion() {
    let mut h = Harness::boot(config([svc("a"), svc("w").numprocs(2)]));
    let c = h.request(Request::Names);
    assert_eq!(
        h.reply(c),
        Some(Response::Names {
            services: names(&["a", "w"]),
            instances: names(&["a", "w:0", "w:1"]),
        })
    );
}

#[test]
fn a_bounce_reaches_dependents_of_dependents() {
    let mut h = Harness::boot(config([
        svc("api").requires(&["web"]),
        svc("db"),
        svc("web").requires(&["db"]),
    ]));
    h.advance(secs(3));
    h.expect_ops(&["spawn db 100", "spawn web 101", "spawn api 102"]);
    h.kill(100, Code(1));
    h.expect_ops(&["signal 101 TERM group", "signal 102 TERM group"]);
    h.kill(102, Sig(TERM));
    h.kill(101, Sig(TERM));
    h.expect_ops(&["signal 102 KILL group", "signal 101 KILL group"]);
    assert_eq!(h.state_of("api"), State::Pending);
    h.advance(ms(250));
    h.expect_ops(&["spawn db 103"]);
    h.advance(secs(1));
    h.expect_ops(&["spawn web 104"]);
    h.advance(secs(1));
    h.expect_ops(&["spawn api 105"]);
}

#[test]
fn restarting_a_dependency_bounces_its_dependents() {
    let mut h = Harness::boot(config([svc("db"), svc("web").requires(&["db"])]));
    h.advance(secs(2));
    h.take_ops();
    let c = h.request(Request::Restart {
        names: names(&["db"]),
    });
    h.expect_ops(&["signal 100 TERM group", "signal 101 TERM group"]);
    h.kill(101, Sig(TERM));
    h.kill(100, Sig(TERM));
    h.expect_ops(&[
        "signal 101 KILL group",
        "signal 100 KILL group",
        "spawn db 102",
    ]);
    assert_eq!(h.state_of("web"), State::Pending);
    h.advance(secs(1));
    assert_eq!(h.reply(c), Some(outcome(true, &[("db", true, "RUNNING")])));
    h.expect_ops(&["spawn web 103"]);
    // The same for a reload that changes db's process.
    h.advance(secs(1));
    h.reload(config([
        svc("db").cmd(&["/bin/db2"]),
        svc("web").requires(&["db"]),
    ]));
    h.expect_ops(&["signal 102 TERM group", "signal 103 TERM group"]);
    h.kill(102, Sig(TERM));
    h.kill(103, Sig(TERM));
    h.advance(secs(1));
    h.expect_ops(&[
        "signal 102 KILL group",
        "spawn db 104",
        "signal 103 KILL group",
        "spawn web 105",
    ]);
}

#[test]
fn a_paused_dependent_is_bounced_too() {
    let mut h = Harness::boot(config([svc("db"), svc("web").requires(&["db"])]));
    h.advance(secs(2));
    h.feed(Event::Stopped { pid: 101 });
    h.take_ops();
    h.kill(100, Code(1));
    h.expect_ops(&["signal 101 TERM group", "signal 101 CONT group"]);
}
