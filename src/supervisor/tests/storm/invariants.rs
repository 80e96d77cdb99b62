//! What must hold after every event the core handles, whatever happened before.

use super::world::{Kind, World};
use crate::supervisor::reconcile::Health;
use crate::supervisor::{Action, DepKind, Goal, InstanceId, Purpose, State, Supervisor};
use std::collections::{BTreeMap, HashSet};
use std::time::Instant;

/// What an instance looked like before the event.
#[derive(Clone, Copy)]
struct Was {
    state: State,
    deadline: Option<Instant>,
}

/// The instances before an event, to judge transitions and deadlines.
pub struct Before(BTreeMap<InstanceId, Was>);

impl Before {
    pub fn take(sup: &Supervisor) -> Before {
        Before(
            each_instance(sup)
                .map(|(id, i)| {
                    (
                        id,
                        Was {
                            state: i.state,
                            deadline: i.deadline,
                        },
                    )
                })
                .collect(),
        )
    }
}

fn each_instance(
    sup: &Supervisor,
) -> impl Iterator<Item = (InstanceId, &crate::supervisor::Instance)> {
    sup.services.iter().flat_map(|(name, s)| {
        s.instances.iter().map(|(index, i)| {
            (
                InstanceId {
                    service: name.clone(),
                    index: *index,
                },
                i,
            )
        })
    })
}

pub fn check(world: &World, before: &Before, actions: &[Action], tick: bool) -> Result<(), String> {
    let sup = &world.sup;
    processes(world)?;
    states(sup)?;
    deadlines(sup, before, world.now, tick)?;
    start_order(sup, actions)?;
    stop_order(sup, before)?;
    reload_shape(world)?;
    Ok(())
}

/// Every process the OS runs for an instance is the one the core knows (so there is at
/// most one per instance), and every process the core knows is alive in the OS.
fn processes(world: &World) -> Result<(), String> {
    let sup = &world.sup;
    for (pid, proc) in &world.procs {
        match proc.kind {
            Kind::Main => match sup.pids.get(pid) {
                Some(id) if id == proc.id => {}
                other => {
                    return Err(format!(
                        "process {pid} of {:?} runs unsupervised (the core has {other:?})",
                        proc.id
                    ))
                }
            },
            Kind::Helper => {
                if !sup.helpers.contains_key(pid) {
                    return Err(format!("pre-start {pid} of {:?} is forgotten", proc.id));
                }
            }
        }
    }
    for (pid, id) in sup.pids.iter() {
        let (pid, id) = (&pid, &id);
        if !world.procs.contains_key(pid) {
            return Err(format!("the core tracks {pid} of {id:?}, which is dead"));
        }
        match sup.instance(id) {
            Some(i) if i.pid == Some(*pid) => {}
            Some(i) => {
                return Err(format!(
                    "pid {pid} maps to {id:?}, whose pid is {:?}",
                    i.pid
                ))
            }
            None => return Err(format!("pid {pid} maps to {id:?}, which does not exist")),
        }
    }
    for pid in sup.helpers.keys() {
        if !world.procs.contains_key(pid) {
            return Err(format!("the core tracks pre-start {pid}, which is dead"));
        }
    }
    Ok(())
}

/// The state says whether a process exists, and it does.
fn states(sup: &Supervisor) -> Result<(), String> {
    for (id, i) in each_instance(sup) {
        let has_pid = i.pid.is_some();
        let pre_start = i.in_pre_start && !has_pid;
        let ok = match i.state {
            State::Running | State::Paused => has_pid && !i.in_pre_start,
            State::Starting | State::Stopping => has_pid || pre_start,
            State::Stopped | State::Pending | State::Backoff | State::Exited | State::Fatal => {
                !has_pid && !i.in_pre_start && i.pre_start_pid.is_none()
            }
        };
        if !ok {
            return Err(format!(
                "{id:?} is {} with pid {:?}, in pre-start {} (pid {:?})",
                i.state, i.pid, i.in_pre_start, i.pre_start_pid
            ));
        }
        if i.restart_pending && i.goal == Goal::Down {
            return Err(format!("{id:?} is to restart while meant to stay down"));
        }
        if i.state == State::Stopped && i.goal == Goal::Up {
            return Err(format!("{id:?} is STOPPED while meant to run"));
        }
        if i.state == State::Paused && i.paused_from.is_none() {
            return Err(format!("{id:?} is PAUSED with nothing to go back to"));
        }
    }
    Ok(())
}

/// No timer is left in the past: after a tick everything due has been handled, and no
/// event sets a timer earlier than now.
fn deadlines(sup: &Supervisor, before: &Before, now: Instant, tick: bool) -> Result<(), String> {
    for (id, i) in each_instance(sup) {
        let Some(deadline) = i.deadline else {
            continue;
        };
        // A timer set by this event may be due now (a zero stoptime): the next tick
        // handles it. One a tick left as it was is one it failed to handle.
        let unchanged = before
            .0
            .get(&id)
            .is_some_and(|w| w.deadline == Some(deadline) && w.state == i.state);
        let missed = tick && unchanged && deadline <= now;
        let set_late = !unchanged && deadline < now;
        if missed || set_late {
            return Err(format!(
                "{id:?} ({}) has a deadline {:?} in the past",
                i.state,
                now - deadline
            ));
        }
    }
    for (name, s) in &sup.services {
        if let Some(deadline) = s.candidate.as_ref().and_then(|c| c.deadline) {
            if tick && deadline <= now {
                return Err(format!("the check of {name} has a deadline in the past"));
            }
        }
    }
    Ok(())
}

/// A process (or its pre-start) is started only once what it requires is up, and what it
/// is ordered after is not on its way up.
fn start_order(sup: &Supervisor, actions: &[Action]) -> Result<(), String> {
    for action in actions {
        let Action::Spawn { id, purpose, .. } = action else {
            continue;
        };
        if *purpose == Purpose::Check {
            continue;
        }
        for (dep, kind) in sup.deps.waits_for(&id.service) {
            let Some(service) = sup.services.get(dep) else {
                continue;
            };
            let health = sup.health(service);
            let fine = match kind {
                DepKind::Requires => health == Health::Up,
                DepKind::Wants | DepKind::After => health != Health::Starting,
            };
            if !fine {
                return Err(format!(
                    "{id:?} spawned ({purpose:?}) while {dep} ({kind:?}) is {health:?}"
                ));
            }
        }
    }
    Ok(())
}

/// A stop for good begins only once whatever waits for the service has stopped.
fn stop_order(sup: &Supervisor, before: &Before) -> Result<(), String> {
    for (id, i) in each_instance(sup) {
        let began = i.state == State::Stopping
            && i.goal == Goal::Down
            && i.pid.is_some()
            && before.0.get(&id).is_none_or(|w| w.state != State::Stopping);
        if !began {
            continue;
        }
        for dependent in sup.deps.waited_by(&id.service) {
            let Some(service) = sup.services.get(dependent) else {
                continue;
            };
            let alive = service
                .instances
                .values()
                .any(|d| d.goal == Goal::Down && d.pid.is_some());
            if alive {
                return Err(format!(
                    "{id:?} began to stop while {dependent}, which waits for it, still runs"
                ));
            }
        }
    }
    Ok(())
}

/// The services are those of the latest config; each has exactly the instances its
/// numprocs says (and, stopping, those a reload removed), and each is named once.
fn reload_shape(world: &World) -> Result<(), String> {
    let sup = &world.sup;
    let listed: Vec<&String> = sup
        .services
        .iter()
        .filter(|(_, s)| !s.removed)
        .map(|(name, _)| name)
        .collect();
    let wanted: Vec<&String> = world.config.services.keys().collect();
    if listed != wanted {
        return Err(format!("services {listed:?}, the config has {wanted:?}"));
    }
    for (name, s) in &sup.services {
        let latest = world.config.services.get(name);
        if let Some(latest) = latest {
            let vetted = latest.pre_start.is_some() || s.candidate.is_some();
            if s.spec != *latest && !vetted {
                return Err(format!("{name} runs with a spec that is not the latest"));
            }
        }
        for (index, i) in &s.instances {
            let should_exist = !s.removed && *index < s.spec.numprocs;
            if should_exist == i.retiring {
                return Err(format!(
                    "{name}:{index} retiring {} with numprocs {} (removed {})",
                    i.retiring, s.spec.numprocs, s.removed
                ));
            }
            if i.retiring && !i.is_active() {
                return Err(format!("{name}:{index} retired but not forgotten"));
            }
        }
        for index in 0..s.spec.numprocs {
            if !s.removed && !s.instances.contains_key(&index) {
                return Err(format!("{name}:{index} is lost"));
            }
        }
    }
    let names: Vec<String> = sup
        .all_ids()
        .iter()
        .map(|id| sup.instance_name(id))
        .collect();
    let unique: HashSet<&String> = names.iter().collect();
    if unique.len() != names.len() {
        return Err(format!("an instance is listed twice: {names:?}"));
    }
    Ok(())
}
