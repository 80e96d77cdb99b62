//! The `status` reply on the wire: each instance with only the fields it has.
//!
//! A RUNNING instance leaves most of its status unset (no exit, no detail, no accounting
//! unless asked), and writing every unset field as `null` made the reply of 1,000
//! instances 254 KB instead of 120 KB: twice the daemon's encoding and twice tmctl's
//! parsing (18 strings per instance, most of them keys of nulls). Reading it back gives
//! the same [`InstanceStatus`]: a missing `Option` is `None`, a missing `transient` false.
//! What people see keeps every field: `tmctl status --json` and the state files serialize
//! [`InstanceStatus`] itself, nulls included (SPEC: `pid` null when none).

use serde::ser::{SerializeMap, SerializeSeq, Serializer};
use serde::Serialize;

use super::proto::InstanceStatus;
#[cfg(test)]
use crate::supervisor::InstanceStatus as CoreStatus;
use crate::supervisor::{InstanceName, StatusView};

/// `Response::Status`'s `instances`, as sent by the daemon.
pub(super) fn instances<S: Serializer>(
    instances: &[InstanceStatus],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut seq = serializer.serialize_seq(Some(instances.len()))?;
    for instance in instances {
        seq.serialize_element(&SetFields::of(instance))?;
    }
    seq.end()
}

/// The status reply line of the core's statuses, the very bytes of `Response::Status`
/// made from them (`From<Reply>`), written instance by instance from views borrowed from
/// the core (`Supervisor::status_views`) without making that response, nor even the
/// core's list of owned statuses, first: with 1,000 instances those lists were 280 KB and
/// 212 KB, copies into fresh pages (the daemon gives allocations of 128 KiB and more back
/// to the kernel when freed) at every `tmctl status`. Only for a status without cgroup
/// accounting, which the core's statuses do not have.
pub struct StatusLine<I>(pub I);

impl<'a, I> Serialize for StatusLine<I>
where
    I: Iterator<Item = StatusView<'a>> + Clone,
{
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        struct List<I>(I);
        impl<'a, I> Serialize for List<I>
        where
            I: Iterator<Item = StatusView<'a>> + Clone,
        {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                // The length is only a hint to serde_json, which writes `[` either way.
                let mut seq = serializer.serialize_seq(None)?;
                for instance in self.0.clone() {
                    seq.serialize_element(&SetFields::of_view(&instance))?;
                }
                seq.end()
            }
        }
        // As serde writes the tagged enum: the tag, then the variant's fields.
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("result", "status")?;
        map.serialize_entry("instances", &List(self.0.clone()))?;
        map.end()
    }
}

/// An instance's fields as they are sent, borrowed from either kind of status.
struct SetFields<'a> {
    /// Written as it is shown (`collect_str`: the same bytes as the string, never made).
    name: InstanceName<'a>,
    service: &'a str,
    state: &'a str,
    pid: Option<i32>,
    uptime_secs: Option<u64>,
    restarts: u32,
    exit_code: Option<i32>,
    exit_signal: Option<&'a str>,
    detail: Option<&'a str>,
    last_stderr: Option<&'a str>,
    transient: bool,
    owner: Option<u32>,
    memory_bytes: Option<u64>,
    memory_peak_bytes: Option<u64>,
    cpu_usec: Option<u64>,
    tasks: Option<u64>,
    next_run: Option<&'a str>,
}

impl<'a> SetFields<'a> {
    fn of(status: &'a InstanceStatus) -> SetFields<'a> {
        // Destructured, so that a field added to InstanceStatus does not compile until it
        // is sent here too.
        let InstanceStatus {
            name,
            service,
            state,
            pid,
            uptime_secs,
            restarts,
            exit_code,
            exit_signal,
            detail,
            last_stderr,
            transient,
            owner,
            memory_bytes,
            memory_peak_bytes,
            cpu_usec,
            tasks,
            next_run,
        } = status;
        SetFields {
            name: InstanceName::Whole(name),
            service,
            state,
            pid: *pid,
            uptime_secs: *uptime_secs,
            restarts: *restarts,
            exit_code: *exit_code,
            exit_signal: exit_signal.as_deref(),
            detail: detail.as_deref(),
            last_stderr: last_stderr.as_deref(),
            transient: *transient,
            owner: *owner,
            memory_bytes: *memory_bytes,
            memory_peak_bytes: *memory_peak_bytes,
            cpu_usec: *cpu_usec,
            tasks: *tasks,
            next_run: next_run.as_deref(),
        }
    }

    /// The core's status: no cgroup accounting (the loop adds it to an [`InstanceStatus`]).
    fn of_view(status: &'a StatusView<'_>) -> SetFields<'a> {
        let StatusView {
            name,
            service,
            state,
            pid,
            uptime_secs,
            restarts,
            exit_code,
            exit_signal,
            detail,
            last_stderr,
            transient,
            owner,
            next_run,
        } = status;
        SetFields {
            name: *name,
            service,
            state,
            pid: *pid,
            uptime_secs: *uptime_secs,
            restarts: *restarts,
            exit_code: *exit_code,
            exit_signal: exit_signal.as_deref(),
            detail: detail.as_deref(),
            last_stderr: *last_stderr,
            transient: *transient,
            owner: *owner,
            memory_bytes: None,
            memory_peak_bytes: None,
            cpu_usec: None,
            tasks: None,
            next_run: next_run.as_deref(),
        }
    }
}

impl Serialize for SetFields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let SetFields {
            name,
            service,
            state,
            pid,
            uptime_secs,
            restarts,
            exit_code,
            exit_signal,
            detail,
            last_stderr,
            transient,
            owner,
            memory_bytes,
            memory_peak_bytes,
            cpu_usec,
            tasks,
            next_run,
        } = self;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_key("name")?;
        map.serialize_value(&Shown(name))?;
        map.serialize_entry("service", service)?;
        map.serialize_entry("state", state)?;
        map.serialize_entry("restarts", restarts)?;
        if *transient {
            map.serialize_entry("transient", transient)?;
        }
        optional(&mut map, "pid", pid)?;
        optional(&mut map, "uptime_secs", uptime_secs)?;
        optional(&mut map, "exit_code", exit_code)?;
        optional(&mut map, "exit_signal", exit_signal)?;
        optional(&mut map, "detail", detail)?;
        optional(&mut map, "last_stderr", last_stderr)?;
        optional(&mut map, "owner", owner)?;
        optional(&mut map, "memory_bytes", memory_bytes)?;
        optional(&mut map, "memory_peak_bytes", memory_peak_bytes)?;
        optional(&mut map, "cpu_usec", cpu_usec)?;
        optional(&mut map, "tasks", tasks)?;
        optional(&mut map, "next_run", next_run)?;
        map.end()
    }
}

/// A value written through its `Display` (serde_json escapes it as it would the string).
struct Shown<'a, T>(&'a T);

impl<T: std::fmt::Display> Serialize for Shown<'_, T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self.0)
    }
}

fn optional<M: SerializeMap, T: Serialize>(
    map: &mut M,
    key: &'static str,
    value: &Option<T>,
) -> Result<(), M::Error> {
    match value {
        Some(value) => map.serialize_entry(key, value),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::super::proto::{decode_response, Response};
    use super::*;

    fn bare() -> InstanceStatus {
        InstanceStatus {
            name: "web:0".into(),
            service: "web".into(),
            state: "RUNNING".into(),
            ..Default::default()
        }
    }

    fn full() -> InstanceStatus {
        InstanceStatus {
            pid: Some(42),
            uptime_secs: Some(7),
            restarts: 3,
            exit_code: Some(1),
            exit_signal: Some("KILL".into()),
            detail: Some("restart in 0.25s".into()),
            last_stderr: Some("boom \"quoted\"\n".into()),
            transient: true,
            owner: Some(1000),
            memory_bytes: Some(1 << 20),
            memory_peak_bytes: Some(2 << 20),
            cpu_usec: Some(1234),
            tasks: Some(2),
            next_run: Some("2026-12-07T00:00:00+00:00".into()),
            ..bare()
        }
    }

    fn round_trip(instances: Vec<InstanceStatus>) -> Vec<InstanceStatus> {
        let line = serde_json::to_vec(&Response::Status { instances }).expect("encode");
        match decode_response(&line).expect("decode") {
            Response::Status { instances } => instances,
            other => panic!("not a status reply: {other:?}"),
        }
    }

    fn core(name: &str, full: bool) -> CoreStatus {
        let some = |text: &str| full.then(|| text.to_string());
        CoreStatus {
            name: name.into(),
            service: name.split(':').next().unwrap_or(name).into(),
            state: if full { "FATAL" } else { "RUNNING" }.into(),
            pid: (!full).then_some(42),
            uptime_secs: (!full).then_some(7),
            restarts: u32::from(full) * 3,
            exit_code: full.then_some(1),
            exit_signal: some("KILL"),
            detail: some("restart in 0.25s"),
            last_stderr: some("boom \"quoted\"\n"),
            transient: full,
            owner: full.then_some(1000),
            next_run: some("2026-12-07T00:00:00+00:00"),
        }
    }

    #[test]
    fn the_line_from_the_core_is_the_line_of_the_response() {
        use crate::supervisor::Reply;
        let instances = vec![core("web:0", false), core("bad", true), core("é", false)];
        let direct = serde_json::to_vec(&StatusLine(instances.iter().map(CoreStatus::view)))
            .expect("encode");
        let response = Response::from(Reply::Status { instances });
        assert_eq!(
            String::from_utf8(direct).expect("utf-8"),
            serde_json::to_string(&response).expect("encode")
        );
    }

    #[test]
    fn a_name_made_from_service_and_index_is_written_as_the_string() {
        use crate::supervisor::Reply;
        // The core's views name an instance of several as (service, index), never made
        // into a string: written through `Display`, the bytes are those of the name.
        let instances = vec![core("web:3", false), core("q\"uote:0", true)];
        let views = instances.iter().map(|status| {
            let mut view = status.view();
            if let Some((service, index)) = status.name.rsplit_once(':') {
                let index = index.parse().expect("index");
                view.name = InstanceName::Indexed(service, index);
            }
            view
        });
        let direct = serde_json::to_string(&StatusLine(views)).expect("encode");
        let response = Response::from(Reply::Status { instances });
        assert_eq!(direct, serde_json::to_string(&response).expect("encode"));
    }

    #[test]
    fn a_view_comes_back_as_the_status_it_was_made_of() {
        let status = core("bad", true);
        assert_eq!(status.view().into_owned(), status);
        let status = core("web:0", false);
        assert_eq!(status.view().into_owned(), status);
    }

    #[test]
    fn every_field_comes_back_set_or_unset() {
        let sent = vec![bare(), full()];
        assert_eq!(round_trip(sent.clone()), sent);
    }

    #[test]
    fn unset_fields_are_not_sent() {
        let line = serde_json::to_string(&Response::Status {
            instances: vec![bare()],
        })
        .expect("encode");
        assert_eq!(
            line,
            r#"{"result":"status","instances":[{"name":"web:0","service":"web","state":"RUNNING","restarts":0}]}"#
        );
    }

    #[test]
    fn json_output_keeps_the_nulls() {
        // `tmctl status --json` and the state files serialize the struct itself.
        let value = serde_json::to_value(bare()).expect("encode");
        for key in [
            "pid",
            "exit_code",
            "exit_signal",
            "detail",
            "memory_bytes",
            "tasks",
        ] {
            assert_eq!(value.get(key), Some(&serde_json::Value::Null), "{key}");
        }
    }
}
