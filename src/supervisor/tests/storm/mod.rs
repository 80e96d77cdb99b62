//! Random storms against the pure core: from a seed, a random config and a random
//! interleaving of process exits (any code, any signal), spawn and exec failures, requests,
//! reloads with random config changes, readiness, watchdog, pauses and clock jumps, with
//! the invariants of `invariants.rs` checked after every event the core handles, and every
//! client's answer checked once the storm has settled. A failing seed is shrunk to the
//! shortest list of operations that still fails, and printed with the events it fed.
//!
//! `cargo test` runs a few thousand seeds. A long run:
//! `STORM_EVENTS=1000000 cargo test --release --lib storm_long -- --ignored --nocapture`
//! (`STORM_SEED=N` replays one seed.)

mod invariants;
mod ops;
mod rng;
mod world;

use ops::{initial_config, random_op, Op};
use rng::Rng;
use world::World;

/// Operations per storm.
const OPS: usize = 120;

/// A storm: its config and its operations, all from the seed.
fn storm(seed: u64) -> (crate::config::Config, Vec<Op>) {
    let mut rng = Rng::new(seed);
    let config = initial_config(&mut rng);
    let ops = (0..OPS).map(|_| random_op(&mut rng)).collect();
    (config, ops)
}

/// Runs operations from boot to the settled end; the first violation, and the events fed.
fn run(
    config: &crate::config::Config,
    ops: &[Op],
    keep_trace: bool,
) -> (Result<(), String>, World) {
    let mut world = World::new(config.clone(), keep_trace);
    let verdict = (|| {
        world.feed(crate::supervisor::Event::Boot)?;
        for op in ops {
            world.apply(op)?;
        }
        world.settle()
    })();
    (verdict, world)
}

/// The shortest sub-list of `ops` that still fails (greedy: drop chunks, halving their
/// size, while anything can be dropped).
fn shrink(config: &crate::config::Config, mut ops: Vec<Op>) -> Vec<Op> {
    let fails = |ops: &[Op]| run(config, ops, false).0.is_err();
    let mut chunk = ops.len().div_ceil(2).max(1);
    loop {
        let mut removed_any = false;
        let mut start = 0;
        while start < ops.len() {
            let end = (start + chunk).min(ops.len());
            let mut shorter = ops[..start].to_vec();
            shorter.extend_from_slice(&ops[end..]);
            if fails(&shorter) {
                ops = shorter;
                removed_any = true;
            } else {
                start += chunk;
            }
        }
        if chunk == 1 && !removed_any {
            return ops;
        }
        if !removed_any {
            chunk = chunk.div_ceil(2);
        }
    }
}

/// Runs one seed; on a violation, panics with the shrunk reproduction.
fn check_seed(seed: u64) -> u64 {
    let (config, ops) = storm(seed);
    let (verdict, world) = run(&config, &ops, false);
    if verdict.is_ok() {
        return world.events;
    }
    let shortest = shrink(&config, ops);
    let (verdict, world) = run(&config, &shortest, true);
    let services: Vec<String> = config.services.values().map(|s| format!("{s:?}")).collect();
    panic!(
        "storm seed {seed} failed: {}\nconfig:\n{}\nshortest operations ({}):\n{:#?}\nevents fed:\n{}\nat the end:\n{}",
        verdict.err().unwrap_or_default(),
        services.join("\n"),
        shortest.len(),
        shortest,
        world.trace.join("\n"),
        world.describe()
    );
}

#[test]
fn storms_keep_every_invariant() {
    let seeds: u64 = std::env::var("STORM_SEEDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(2000);
    if let Some(seed) = std::env::var("STORM_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        check_seed(seed);
        return;
    }
    let mut events = 0;
    for seed in 0..seeds {
        events += check_seed(seed);
    }
    println!("storm: {seeds} seeds, {events} events, 0 violations");
    assert!(
        events > seeds * 50,
        "the storms hardly fed the core: {events} events"
    );
}

/// The long run: seeds from 1,000,000 on until `STORM_EVENTS` events (default 1 M) were fed.
#[test]
#[ignore]
fn storm_long() {
    let target: u64 = std::env::var("STORM_EVENTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let (mut events, mut seed) = (0, 1_000_000);
    while events < target {
        events += check_seed(seed);
        seed += 1;
    }
    println!(
        "storm: {} seeds, {events} events, 0 violations",
        seed - 1_000_000
    );
}
