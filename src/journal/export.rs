//! NDJSON rendering of events for `hq journal export / stream / replay`:
//! `{"time": "<ISO 8601>", "event": {"type": "<kind>", ...}}`.
//!
//! Events are stored by postcard, which cannot decode serde's internally tagged enums
//! (`#[serde(tag = "type")]`), so the event type keeps serde's default (external) tagging and
//! [`json_event`] moves the variant name into a `"type"` field here.

use serde::Serialize;
use serde_json::{Map, Value};
use std::io::{self, Write};

/// Writes one NDJSON line for an event.
pub fn write_json_line<E: Serialize, W: Write>(
    out: &mut W,
    time_ms: u64,
    event: &E,
) -> io::Result<()> {
    let mut line = Map::new();
    line.insert("time".into(), Value::String(iso8601_ms(time_ms)));
    line.insert("event".into(), json_event(event)?);
    serde_json::to_writer(&mut *out, &Value::Object(line))?;
    out.write_all(b"\n")
}

/// The event as a JSON object whose `"type"` is the variant name (after serde renames).
///
/// Struct variants get their fields next to `"type"`; unit variants only `"type"`; newtype and
/// tuple variants put their content under `"value"`. A variant renamed with a trailing `-`
/// wraps another enum: its name prefixes the inner variant's (`autoalloc-` + `queue-created`).
pub fn json_event<E: Serialize>(event: &E) -> serde_json::Result<Value> {
    Ok(flatten(serde_json::to_value(event)?))
}

fn flatten(value: Value) -> Value {
    match value {
        Value::String(kind) => object_with_type(kind, Map::new()),
        Value::Object(outer) if outer.len() == 1 => {
            let (kind, content) = outer.into_iter().next().unwrap_or_default();
            if kind.ends_with('-') {
                if let Value::Object(mut inner) = flatten(content.clone()) {
                    if let Some(Value::String(t)) = inner.get("type").cloned() {
                        inner.insert("type".into(), Value::String(format!("{kind}{t}")));
                        return Value::Object(inner);
                    }
                }
            }
            match content {
                Value::Object(fields) if !fields.contains_key("type") => {
                    object_with_type(kind, fields)
                }
                other => {
                    let mut fields = Map::new();
                    fields.insert("value".into(), other);
                    object_with_type(kind, fields)
                }
            }
        }
        // Not an enum: keep it as it is.
        other => other,
    }
}

fn object_with_type(kind: String, fields: Map<String, Value>) -> Value {
    let mut object = Map::new();
    object.insert("type".into(), Value::String(kind));
    object.extend(fields);
    Value::Object(object)
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` (UTC) for milliseconds since the Unix epoch.
pub fn iso8601_ms(time_ms: u64) -> String {
    let secs = time_ms / 1000;
    let (days, day_secs) = (secs / 86_400, secs % 86_400);
    let (year, month, day) = civil_from_days(days as i64);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        day_secs / 3600,
        day_secs / 60 % 60,
        day_secs % 60,
        time_ms % 1000
    )
}

/// Gregorian date of a day count since 1970-01-01 (H. Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Serialize;

    #[derive(Serialize)]
    #[serde(rename_all = "kebab-case")]
    enum Ev {
        #[serde(rename_all = "snake_case")]
        TaskFinished {
            job: u32,
            task: u32,
        },
        ServerStop,
        TaskCanceled(Vec<u32>),
        #[serde(rename = "outer-")]
        Outer(Inner),
    }

    #[derive(Serialize)]
    #[serde(rename_all = "kebab-case")]
    enum Inner {
        QueueCreated { id: u32 },
    }

    fn line(time_ms: u64, ev: &Ev) -> String {
        let mut out = Vec::new();
        write_json_line(&mut out, time_ms, ev).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lines_have_time_and_typed_event() {
        assert_eq!(
            line(1_767_225_600_123, &Ev::TaskFinished { job: 1, task: 2 }),
            "{\"event\":{\"job\":1,\"task\":2,\"type\":\"task-finished\"},\
             \"time\":\"2026-01-01T00:00:00.123Z\"}\n"
        );
        assert_eq!(
            json_event(&Ev::ServerStop).unwrap(),
            serde_json::json!({"type": "server-stop"})
        );
        assert_eq!(
            json_event(&Ev::TaskCanceled(vec![3])).unwrap(),
            serde_json::json!({"type": "task-canceled", "value": [3]})
        );
        assert_eq!(
            json_event(&Ev::Outer(Inner::QueueCreated { id: 1 })).unwrap(),
            serde_json::json!({"type": "outer-queue-created", "id": 1})
        );
    }

    #[test]
    fn dates() {
        assert_eq!(iso8601_ms(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(iso8601_ms(951_782_400_000), "2000-02-29T00:00:00.000Z");
        assert_eq!(iso8601_ms(1_709_251_199_999), "2024-02-29T23:59:59.999Z");
        assert_eq!(iso8601_ms(4_102_444_800_000), "2100-01-01T00:00:00.000Z");
    }
}
