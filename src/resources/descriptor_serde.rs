//! Serde for descriptors: the flat JSON format of cli.md for human-readable formats
//! (`{"name": "cpus", "kind": "range", "start": 0, "end": 3}`), and an externally tagged form
//! for binary formats such as postcard, which cannot decode internally tagged enums.

use super::coupling::ResourceCoupling;
use super::descriptor::{ResourceDescriptor, ResourceDescriptorItem, ResourceDescriptorKind};
use super::ResourceAmount;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum KindJsonRef<'a> {
    List { values: &'a [String] },
    Groups { groups: &'a [Vec<String>] },
    Range { start: u32, end: u32 },
    Sum { size: ResourceAmount },
}

#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum KindJson {
    List { values: Vec<String> },
    Groups { groups: Vec<Vec<String>> },
    Range { start: u32, end: u32 },
    Sum { size: ResourceAmount },
}

#[derive(Serialize)]
enum KindBinRef<'a> {
    List(&'a [String]),
    Groups(&'a [Vec<String>]),
    Range(u32, u32),
    Sum(ResourceAmount),
}

#[derive(Deserialize)]
enum KindBin {
    List(Vec<String>),
    Groups(Vec<Vec<String>>),
    Range(u32, u32),
    Sum(ResourceAmount),
}

impl ResourceDescriptorKind {
    fn json_ref(&self) -> KindJsonRef<'_> {
        match self {
            ResourceDescriptorKind::List { values } => KindJsonRef::List { values },
            ResourceDescriptorKind::Groups { groups } => KindJsonRef::Groups { groups },
            ResourceDescriptorKind::Range { start, end } => KindJsonRef::Range {
                start: *start,
                end: *end,
            },
            ResourceDescriptorKind::Sum { size } => KindJsonRef::Sum { size: *size },
        }
    }

    fn bin_ref(&self) -> KindBinRef<'_> {
        match self {
            ResourceDescriptorKind::List { values } => KindBinRef::List(values),
            ResourceDescriptorKind::Groups { groups } => KindBinRef::Groups(groups),
            ResourceDescriptorKind::Range { start, end } => KindBinRef::Range(*start, *end),
            ResourceDescriptorKind::Sum { size } => KindBinRef::Sum(*size),
        }
    }
}

impl From<KindJson> for ResourceDescriptorKind {
    fn from(k: KindJson) -> Self {
        match k {
            KindJson::List { values } => ResourceDescriptorKind::List { values },
            KindJson::Groups { groups } => ResourceDescriptorKind::Groups { groups },
            KindJson::Range { start, end } => ResourceDescriptorKind::Range { start, end },
            KindJson::Sum { size } => ResourceDescriptorKind::Sum { size },
        }
    }
}

impl From<KindBin> for ResourceDescriptorKind {
    fn from(k: KindBin) -> Self {
        match k {
            KindBin::List(values) => ResourceDescriptorKind::List { values },
            KindBin::Groups(groups) => ResourceDescriptorKind::Groups { groups },
            KindBin::Range(start, end) => ResourceDescriptorKind::Range { start, end },
            KindBin::Sum(size) => ResourceDescriptorKind::Sum { size },
        }
    }
}

impl Serialize for ResourceDescriptorKind {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            self.json_ref().serialize(s)
        } else {
            self.bin_ref().serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for ResourceDescriptorKind {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            KindJson::deserialize(d).map(Into::into)
        } else {
            KindBin::deserialize(d).map(Into::into)
        }
    }
}

#[derive(Serialize)]
struct ItemJsonRef<'a> {
    name: &'a str,
    #[serde(flatten)]
    kind: KindJsonRef<'a>,
}

/// The JSON item is read by hand (not with `flatten`) so unknown keys are rejected.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ItemJson {
    name: String,
    kind: String,
    values: Option<Vec<String>>,
    groups: Option<Vec<Vec<String>>>,
    start: Option<u32>,
    end: Option<u32>,
    size: Option<ResourceAmount>,
}

impl ItemJson {
    fn into_item<E: serde::de::Error>(self) -> Result<ResourceDescriptorItem, E> {
        let missing = |field: &'static str| E::missing_field(field);
        let kind = match self.kind.as_str() {
            "list" => ResourceDescriptorKind::List {
                values: self.values.ok_or_else(|| missing("values"))?,
            },
            "groups" => ResourceDescriptorKind::Groups {
                groups: self.groups.ok_or_else(|| missing("groups"))?,
            },
            "range" => ResourceDescriptorKind::Range {
                start: self.start.ok_or_else(|| missing("start"))?,
                end: self.end.ok_or_else(|| missing("end"))?,
            },
            "sum" => ResourceDescriptorKind::Sum {
                size: self.size.ok_or_else(|| missing("size"))?,
            },
            other => {
                return Err(E::unknown_variant(
                    other,
                    &["list", "groups", "range", "sum"],
                ))
            }
        };
        Ok(ResourceDescriptorItem {
            name: self.name,
            kind,
        })
    }
}

impl Serialize for ResourceDescriptorItem {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if s.is_human_readable() {
            ItemJsonRef {
                name: &self.name,
                kind: self.kind.json_ref(),
            }
            .serialize(s)
        } else {
            (&self.name, self.kind.bin_ref()).serialize(s)
        }
    }
}

impl<'de> Deserialize<'de> for ResourceDescriptorItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if d.is_human_readable() {
            ItemJson::deserialize(d)?.into_item()
        } else {
            let (name, kind) = <(String, KindBin)>::deserialize(d)?;
            Ok(ResourceDescriptorItem {
                name,
                kind: kind.into(),
            })
        }
    }
}

#[derive(Serialize)]
struct DescriptorRef<'a> {
    resources: &'a [ResourceDescriptorItem],
    coupling: &'a ResourceCoupling,
}

#[derive(Deserialize)]
struct DescriptorOwned {
    resources: Vec<ResourceDescriptorItem>,
    #[serde(default)]
    coupling: ResourceCoupling,
}

/// JSON and binary forms have the same shape: `{"resources": [...], "coupling": {"weights":
/// [...]}}` (cli.md).
impl Serialize for ResourceDescriptor {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        DescriptorRef {
            resources: &self.resources,
            coupling: &self.coupling,
        }
        .serialize(s)
    }
}

impl<'de> Deserialize<'de> for ResourceDescriptor {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        DescriptorOwned::deserialize(d).map(|o| ResourceDescriptor {
            resources: o.resources,
            coupling: o.coupling,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::descriptor::parse_resource_definition;

    fn sample() -> ResourceDescriptor {
        let mut d = ResourceDescriptor::default();
        for (name, def) in [
            ("cpus", "[[0,1],[2,3]]"),
            ("gpus/nvidia", "[a,b]"),
            ("x", "range(1-3)"),
            ("mem", "sum(100.5)"),
        ] {
            d.add(name, parse_resource_definition(def).unwrap())
                .unwrap();
        }
        d
    }

    #[test]
    fn json_is_the_flat_cli_format() {
        let json = serde_json::to_value(sample()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"resources": [
                {"name": "cpus", "kind": "groups", "groups": [["0", "1"], ["2", "3"]]},
                {"name": "gpus/nvidia", "kind": "list", "values": ["a", "b"]},
                {"name": "x", "kind": "range", "start": 1, "end": 3},
                {"name": "mem", "kind": "sum", "size": 1005000},
            ], "coupling": {"weights": []}})
        );
        let back: ResourceDescriptor = serde_json::from_value(json).unwrap();
        assert_eq!(back, sample());
        let kind =
            serde_json::to_value(ResourceDescriptorKind::Range { start: 0, end: 1 }).unwrap();
        assert_eq!(
            kind,
            serde_json::json!({"kind": "range", "start": 0, "end": 1})
        );
    }

    #[test]
    fn json_errors() {
        let bad = serde_json::json!({"resources": [{"name": "x", "kind": "range", "start": 1}]});
        let err = serde_json::from_value::<ResourceDescriptor>(bad).unwrap_err();
        assert!(err.to_string().contains("end"), "{err}");
        let bad = serde_json::json!({"resources": [{"name": "x", "kind": "cube"}]});
        assert!(serde_json::from_value::<ResourceDescriptor>(bad).is_err());
    }

    #[test]
    fn postcard_round_trip() {
        let bytes = postcard::to_allocvec(&sample()).unwrap();
        let back: ResourceDescriptor = postcard::from_bytes(&bytes).unwrap();
        assert_eq!(back, sample());
    }
}
