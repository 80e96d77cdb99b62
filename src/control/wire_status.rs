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

/// `Response::Status`'s `instances`, as sent by the daemon.
pub(super) fn instances<S: Serializer>(
    instances: &[InstanceStatus],
    serializer: S,
) -> Result<S::Ok, S::Error> {
    let mut seq = serializer.serialize_seq(Some(instances.len()))?;
    for instance in instances {
        seq.serialize_element(&SetFields(instance))?;
    }
    seq.end()
}

struct SetFields<'a>(&'a InstanceStatus);

impl Serialize for SetFields<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
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
        } = self.0;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("name", name)?;
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
