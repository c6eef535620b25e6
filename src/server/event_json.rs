//! The JSON form of recorded events for `hq journal export|replay|stream`:
//! `{"time": "<ISO 8601>", "event": {"type": "<kind>", ...}}` with the reference's field names
//! where it has the event (server.md): `job-created` carries `job`, `closed_job`, `job_desc`
//! (`name`, `max_fails`) and `submit_desc` (the submission); `task-started` carries `worker`
//! (one node) or `workers` (a multi-node task), and `variant` when it is not the first.
//! Other events are their fields as stored.

use super::journal::JournalEvent;
use crate::journal::{iso8601_ms, json_event};
use crate::protocol::messages::JobTarget;
use serde_json::{json, Map, Value};

/// One NDJSON line (without the newline).
pub fn event_line(time: u64, event: &JournalEvent) -> String {
    let line = json!({"time": iso8601_ms(time), "event": event_json(event)});
    line.to_string()
}

/// The `"event"` object of a line.
pub fn event_json(event: &JournalEvent) -> Value {
    match event {
        JournalEvent::JobCreated {
            job,
            name,
            max_fails,
            submit,
        } => json!({
            "type": "job-created",
            "job": job,
            "closed_job": matches!(submit.target, JobTarget::New { .. }),
            "job_desc": {"name": name, "max_fails": max_fails},
            "submit_desc": submit,
        }),
        JournalEvent::TaskStarted {
            job,
            task,
            instance,
            workers,
            variant,
        } => {
            let mut fields = Map::new();
            fields.insert("type".into(), "task-started".into());
            fields.insert("job".into(), (*job).into());
            fields.insert("task".into(), (*task).into());
            fields.insert("instance".into(), (*instance).into());
            match workers.as_slice() {
                [one] => fields.insert("worker".into(), (*one).into()),
                many => fields.insert("workers".into(), many.to_vec().into()),
            };
            if *variant > 0 {
                fields.insert("variant".into(), (*variant).into());
            }
            Value::Object(fields)
        }
        other => {
            json_event(other).unwrap_or_else(|e| json!({"type": "unknown", "error": e.to_string()}))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::messages::SubmitRequest;

    #[test]
    fn job_created_and_task_started_have_the_reference_fields() {
        let submit = SubmitRequest {
            target: JobTarget::New {
                name: "sleep".into(),
                max_fails: None,
            },
            submit_dir: "/w".into(),
            stream_dir: None,
            groups: vec![],
            ids_after_existing: false,
        };
        let created = event_json(&JournalEvent::JobCreated {
            job: 3,
            name: "sleep".into(),
            max_fails: Some(2),
            submit: Box::new(submit),
        });
        assert_eq!(created["type"], "job-created");
        assert_eq!(created["job"], 3);
        assert_eq!(created["closed_job"], true);
        assert_eq!(
            created["job_desc"],
            json!({"name": "sleep", "max_fails": 2})
        );
        assert_eq!(created["submit_desc"]["submit_dir"], "/w");
        let started = |workers: Vec<u32>, variant| {
            event_json(&JournalEvent::TaskStarted {
                job: 1,
                task: 0,
                instance: 0,
                workers: workers.into(),
                variant,
            })
        };
        assert_eq!(
            started(vec![1], 2),
            json!({"type": "task-started", "job": 1, "task": 0, "instance": 0, "worker": 1, "variant": 2})
        );
        assert_eq!(
            started(vec![1, 2], 0),
            json!({"type": "task-started", "job": 1, "task": 0, "instance": 0, "workers": [1, 2]})
        );
        let line = event_line(0, &JournalEvent::ServerStop);
        assert_eq!(
            line,
            r#"{"event":{"type":"server-stop"},"time":"1970-01-01T00:00:00.000Z"}"#
        );
    }
}
