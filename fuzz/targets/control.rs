//! The control protocol as the daemon reads it: request lines (any bytes), decoded, then
//! executed against a core that runs a few services, each answer encoded for the wire.
//! Between requests, the processes the core started exit or stop, as the input says.

use std::path::Path;
use std::time::{Duration, Instant};
use taskmaster::config::{parse_str, Config};
use taskmaster::control::from_core::command;
use taskmaster::control::proto::{decode_line, Response};
use taskmaster::supervisor::{Action, Event, ExitStatus, Supervisor};

const SERVICES: &str = r#"
service "db" { cmd "/bin/db"; numprocs 2; }
service "web" { cmd "/bin/web"; requires "db"; stoptime 1; }
service "job" { cmd "/bin/job"; type "oneshot"; autostart #false; }
service "side" { cmd "/bin/side"; after "web"; pre-start "/bin/check"; }
"#;

fn config() -> Config {
    let specs = parse_str(Path::new("fuzz.kdl"), SERVICES).expect("the fuzz config parses");
    Config {
        services: specs.into_iter().map(|s| (s.name.clone(), s)).collect(),
    }
}

/// Feeds one event and answers its spawns at once (pids count up), as the loop does.
fn feed(
    core: &mut Supervisor,
    event: Event,
    now: Instant,
    next_pid: &mut i32,
    alive: &mut Vec<i32>,
) {
    let mut queue = vec![event];
    while let Some(event) = queue.pop() {
        for action in core.handle(event, now) {
            match action {
                Action::Spawn { id, purpose, .. } => {
                    *next_pid += 1;
                    alive.push(*next_pid);
                    queue.push(Event::Spawned {
                        id,
                        purpose,
                        result: Ok(*next_pid),
                    });
                }
                Action::Reply { response, .. } => {
                    let response = Response::from(response);
                    let line = serde_json::to_string(&response).expect("a response encodes");
                    assert!(!line.contains('\n'), "a response line with a newline in it");
                }
                _ => {}
            }
        }
    }
}

fn main() {
    let config = config();
    afl::fuzz!(|data: &[u8]| {
        let mut core = Supervisor::new(config.clone());
        let mut now = Instant::now();
        let (mut next_pid, mut alive) = (100, Vec::new());
        feed(&mut core, Event::Boot, now, &mut next_pid, &mut alive);
        for (client, line) in data.split(|&b| b == b'\n').enumerate() {
            match decode_line(line) {
                None => {
                    // A blank line: time passes, and the oldest process ends.
                    now += Duration::from_millis(700);
                    if !alive.is_empty() {
                        let pid = alive.remove(0);
                        let status = ExitStatus::Code(line.len() as i32);
                        feed(
                            &mut core,
                            Event::Exited { pid, status },
                            now,
                            &mut next_pid,
                            &mut alive,
                        );
                    }
                }
                Some(Err(_)) => {}
                // What the loop answers itself (tail, reload, …) never reaches the core.
                Some(Ok(request)) => {
                    if let Ok(request) = command(request) {
                        let event = Event::Request {
                            client: client as u64,
                            request,
                        };
                        feed(&mut core, event, now, &mut next_pid, &mut alive);
                    }
                }
            }
            if core.next_deadline().is_some_and(|d| d <= now) {
                feed(&mut core, Event::Tick, now, &mut next_pid, &mut alive);
            }
        }
    });
}
