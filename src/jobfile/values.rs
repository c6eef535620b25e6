//! Job-file values that accept more than one TOML type (a string or a table, an integer or a
//! string). Each has a hand-written visitor instead of `#[serde(untagged)]`, so a wrong value
//! gets an error naming what was expected, and a hand-written schema with `oneOf`.

use schemars::gen::SchemaGenerator;
use schemars::schema::{InstanceType, Schema, SchemaObject, SubschemaValidation};
use schemars::JsonSchema;
use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use std::fmt;

/// `stdout`/`stderr`: `"none"`, `"<path>"`, or `{ path = "...", on_close = "..." }`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StdioSpec {
    None,
    Path(String),
    Table {
        path: Option<String>,
        rm_if_finished: bool,
    },
}

impl<'de> Deserialize<'de> for StdioSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StdioSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "`\"none\"`, a path string, or a table `{ path = \"...\", on_close = \"rm-if-finished\" }`",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StdioSpec, E> {
                Ok(match v {
                    "none" => StdioSpec::None,
                    _ => StdioSpec::Path(v.to_string()),
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<StdioSpec, A::Error> {
                let mut path = None;
                let mut mode: Option<String> = None;
                while let Some(key) = map.next_key::<String>()? {
                    match key.as_str() {
                        "path" => path = Some(map.next_value::<String>()?),
                        "on_close" | "mode" => {
                            if mode.is_some() {
                                return Err(de::Error::custom(
                                    "`on_close` and its synonym `mode` cannot both be given",
                                ));
                            }
                            mode = Some(map.next_value::<String>()?)
                        }
                        other => {
                            return Err(de::Error::unknown_field(other, &["path", "on_close"]))
                        }
                    }
                }
                let rm_if_finished = match mode.as_deref() {
                    None | Some("none") => false,
                    Some("rm-if-finished") => true,
                    Some(other) => {
                        return Err(de::Error::invalid_value(
                            de::Unexpected::Str(other),
                            &"`rm-if-finished` or `none`",
                        ))
                    }
                };
                Ok(StdioSpec::Table {
                    path,
                    rm_if_finished,
                })
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for StdioSpec {
    fn schema_name() -> String {
        "Stdio".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let table = serde_json::json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "path": { "type": "string", "description": "file path with placeholders" },
                "on_close": { "enum": ["rm-if-finished", "none"] },
                "mode": { "enum": ["rm-if-finished", "none"], "description": "synonym of on_close" }
            }
        });
        one_of(
            "`\"none\"`, a path, or a table with `path` and `on_close`",
            vec![typed(InstanceType::String), from_json(table)],
        )
    }
}

/// `crash_limit`: an integer >= 1, `"never-restart"`, `"unlimited"` or a numeric string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CrashLimitSpec {
    Limit(u32),
    NeverRestart,
    Unlimited,
}

impl<'de> Deserialize<'de> for CrashLimitSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = CrashLimitSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer >= 1, `\"never-restart\"` or `\"unlimited\"`")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<CrashLimitSpec, E> {
                match u32::try_from(v) {
                    Ok(n) if n >= 1 => Ok(CrashLimitSpec::Limit(n)),
                    _ => Err(E::invalid_value(de::Unexpected::Signed(v), &self)),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<CrashLimitSpec, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(-1))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<CrashLimitSpec, E> {
                match v {
                    "never-restart" => Ok(CrashLimitSpec::NeverRestart),
                    "unlimited" => Ok(CrashLimitSpec::Unlimited),
                    _ => match v.trim().parse::<i64>() {
                        Ok(n) => self.visit_i64(n),
                        Err(_) => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                    },
                }
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for CrashLimitSpec {
    fn schema_name() -> String {
        "CrashLimit".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let int = serde_json::json!({ "type": "integer", "minimum": 1 });
        let names = serde_json::json!({ "type": "string", "pattern": "^(never-restart|unlimited|[0-9]+)$" });
        one_of(
            "integer >= 1, `never-restart` or `unlimited`",
            vec![from_json(int), from_json(names)],
        )
    }
}

/// A resource amount as written: an integer, a float, or a request string (`"4 compact!"`).
#[derive(Debug, Clone, PartialEq)]
pub enum AmountSpec {
    Int(i64),
    Float(f64),
    Text(String),
}

impl<'de> Deserialize<'de> for AmountSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = AmountSpec;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "an amount (`2`, `1.5`) or a request string (`\"4 compact!\"`, `\"all\"`)",
                )
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<AmountSpec, E> {
                Ok(AmountSpec::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<AmountSpec, E> {
                i64::try_from(v)
                    .map(AmountSpec::Int)
                    .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<AmountSpec, E> {
                Ok(AmountSpec::Float(v))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<AmountSpec, E> {
                Ok(AmountSpec::Text(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

impl JsonSchema for AmountSpec {
    fn schema_name() -> String {
        "ResourceAmount".into()
    }
    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        let num = serde_json::json!({ "type": "number", "exclusiveMinimum": 0 });
        one_of(
            "amount (`2`, `1.5`) or request string (`\"4 compact!\"`, `\"all\"`)",
            vec![from_json(num), typed(InstanceType::String)],
        )
    }
}

/// `pin`: CPU pinning mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PinSpec {
    None,
    Taskset,
    Omp,
}

fn typed(t: InstanceType) -> Schema {
    Schema::Object(SchemaObject {
        instance_type: Some(t.into()),
        ..Default::default()
    })
}

fn from_json(v: serde_json::Value) -> Schema {
    serde_json::from_value(v).expect("internal error: hand-written schema is invalid")
}

fn one_of(description: &str, options: Vec<Schema>) -> Schema {
    let mut obj = SchemaObject {
        subschemas: Some(Box::new(SubschemaValidation {
            one_of: Some(options),
            ..Default::default()
        })),
        ..Default::default()
    };
    obj.metadata().description = Some(description.to_string());
    Schema::Object(obj)
}
