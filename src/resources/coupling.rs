//! Resource coupling (`--coupling cpus[0]:gpus[0],cpus[1]:gpus[1]`): declared affinity between
//! groups of grouped pools. This module parses the flag, resolves it against a worker's
//! descriptor (pool and group indices), and looks weights up for the allocator, which prefers
//! coupled groups (see `allocator::coupled`).

use super::descriptor::{validate_name, ResourceDescriptor};
use super::ResourceError;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Weight of a pair without `=W`.
pub const DEFAULT_COUPLING_WEIGHT: u16 = 256;

/// One coupled pair of groups, by pool index (position in the descriptor) and group index.
/// Stored with `(resource1_idx, group1_idx) < (resource2_idx, group2_idx)`. The field names are
/// those of the JSON output (`hq worker info`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CouplingWeight {
    pub resource1_idx: u32,
    pub group1_idx: u32,
    pub resource2_idx: u32,
    pub group2_idx: u32,
    pub weight: u16,
}

/// Every coupled pair of a worker (empty without `--coupling`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ResourceCoupling {
    pub weights: Vec<CouplingWeight>,
}

/// One `RES1[G1]:RES2[G2][=W]` item as written, before it is resolved against pools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CouplingItem {
    pub resource1: String,
    pub group1: u32,
    pub resource2: String,
    pub group2: u32,
    pub weight: u16,
}

const FORM: &str = "expected a comma list of `RES1[G1]:RES2[G2]` or `RES1[G1]:RES2[G2]=W`, \
                    e.g. `cpus[0]:gpus[0],cpus[1]:gpus[1]`";

/// Parses the value of `--coupling`.
pub fn parse_coupling(text: &str) -> Result<Vec<CouplingItem>, ResourceError> {
    let bad = |reason: String| ResourceError::InvalidCoupling {
        text: text.to_string(),
        reason,
    };
    let mut items = Vec::new();
    for part in text.split(',').map(str::trim) {
        if part.is_empty() {
            return Err(bad(format!("an item is empty; {FORM}")));
        }
        let (pair, weight) = match part.split_once('=') {
            Some((pair, w)) => {
                let w = w
                    .trim()
                    .parse::<u16>()
                    .ok()
                    .filter(|w| *w > 0)
                    .ok_or_else(|| {
                        bad(format!(
                            "the weight `{}` must be an integer from 1 to 65535",
                            w.trim()
                        ))
                    })?;
                (pair, w)
            }
            None => (part, DEFAULT_COUPLING_WEIGHT),
        };
        let (a, b) = pair
            .split_once(':')
            .ok_or_else(|| bad(format!("`{part}` has no `:`; {FORM}")))?;
        let (resource1, group1) = parse_group_ref(a.trim()).map_err(&bad)?;
        let (resource2, group2) = parse_group_ref(b.trim()).map_err(&bad)?;
        items.push(CouplingItem {
            resource1,
            group1,
            resource2,
            group2,
            weight,
        });
    }
    Ok(items)
}

/// `NAME[G]`.
fn parse_group_ref(text: &str) -> Result<(String, u32), String> {
    let not_ref = || format!("`{text}` is not `NAME[GROUP]`; {FORM}");
    let (name, rest) = text.split_once('[').ok_or_else(not_ref)?;
    let group = rest.strip_suffix(']').ok_or_else(not_ref)?;
    let group = group.trim().parse::<u32>().map_err(|_| {
        format!("the group `{group}` in `{text}` must be a group index (0, 1, ...)")
    })?;
    let name = name.trim();
    validate_name(name).map_err(|e| e.to_string())?;
    Ok((name.to_string(), group))
}

/// Turns parsed items into indices of `desc`: each pool must exist and have several groups,
/// each group index must exist; a pair may be given once.
pub fn resolve_coupling(
    items: &[CouplingItem],
    desc: &ResourceDescriptor,
) -> Result<ResourceCoupling, ResourceError> {
    let group_ref = |name: &str, group: u32| -> Result<(u32, u32), ResourceError> {
        let idx = desc
            .position(name)
            .ok_or_else(|| ResourceError::CouplingUnknownResource(name.to_string()))?;
        let groups = desc.resources[idx].kind.group_sizes().len();
        if groups < 2 {
            return Err(ResourceError::CouplingSingleGroup(name.to_string()));
        }
        if group as usize >= groups {
            return Err(ResourceError::CouplingInvalidGroup {
                group,
                resource: name.to_string(),
            });
        }
        Ok((idx as u32, group))
    };
    let mut weights: Vec<CouplingWeight> = Vec::with_capacity(items.len());
    for item in items {
        let a = group_ref(&item.resource1, item.group1)?;
        let b = group_ref(&item.resource2, item.group2)?;
        let ((r1, g1), (r2, g2)) = if a <= b { (a, b) } else { (b, a) };
        let text = format!(
            "{}[{}]:{}[{}]",
            item.resource1, item.group1, item.resource2, item.group2
        );
        if (r1, g1) == (r2, g2) {
            return Err(ResourceError::InvalidCoupling {
                text,
                reason: "a group cannot be coupled with itself".into(),
            });
        }
        if weights.iter().any(|w| {
            (w.resource1_idx, w.group1_idx, w.resource2_idx, w.group2_idx) == (r1, g1, r2, g2)
        }) {
            return Err(ResourceError::InvalidCoupling {
                text,
                reason: "this pair is given more than once".into(),
            });
        }
        weights.push(CouplingWeight {
            resource1_idx: r1,
            group1_idx: g1,
            resource2_idx: r2,
            group2_idx: g2,
            weight: item.weight,
        });
    }
    weights.sort_by_key(|w| (w.resource1_idx, w.group1_idx, w.resource2_idx, w.group2_idx));
    Ok(ResourceCoupling { weights })
}

impl ResourceCoupling {
    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    /// Whether the pool at `resource` takes part in some pair.
    pub fn involves(&self, resource: u32) -> bool {
        self.weights
            .iter()
            .any(|w| w.resource1_idx == resource || w.resource2_idx == resource)
    }
}

/// Weights by pair of (pool, group), for the allocator's scoring.
#[derive(Clone, Debug, Default)]
pub(crate) struct CouplingTable {
    weights: HashMap<(u32, u32, u32, u32), u32>,
    coupled: Vec<bool>,
}

impl CouplingTable {
    pub(crate) fn new(coupling: &ResourceCoupling, pools: usize) -> Self {
        let mut coupled = vec![false; pools];
        let mut weights = HashMap::new();
        for w in &coupling.weights {
            for r in [w.resource1_idx, w.resource2_idx] {
                if let Some(c) = coupled.get_mut(r as usize) {
                    *c = true;
                }
            }
            let key = (w.resource1_idx, w.group1_idx, w.resource2_idx, w.group2_idx);
            weights.insert(key, u32::from(w.weight));
        }
        CouplingTable { weights, coupled }
    }

    pub(crate) fn is_coupled(&self, pool: u32) -> bool {
        self.coupled.get(pool as usize).copied().unwrap_or(false)
    }

    /// Weight between group `g1` of pool `r1` and group `g2` of pool `r2` (0 if not coupled).
    pub(crate) fn weight(&self, r1: u32, g1: u32, r2: u32, g2: u32) -> u32 {
        let key = if (r1, g1) <= (r2, g2) {
            (r1, g1, r2, g2)
        } else {
            (r2, g2, r1, g1)
        };
        self.weights.get(&key).copied().unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resources::descriptor::parse_resource_definition;

    fn desc(pools: &[(&str, &str)]) -> ResourceDescriptor {
        let mut d = ResourceDescriptor::default();
        for (name, def) in pools {
            d.add(name, parse_resource_definition(def).unwrap())
                .unwrap();
        }
        d
    }

    #[test]
    fn parses_items_with_and_without_weights() {
        let items = parse_coupling("cpus[0]:gpus/nvidia[1], cpus[1]:cpus[2]=7").unwrap();
        assert_eq!(
            items,
            vec![
                CouplingItem {
                    resource1: "cpus".into(),
                    group1: 0,
                    resource2: "gpus/nvidia".into(),
                    group2: 1,
                    weight: 256,
                },
                CouplingItem {
                    resource1: "cpus".into(),
                    group1: 1,
                    resource2: "cpus".into(),
                    group2: 2,
                    weight: 7,
                },
            ]
        );
        for bad in [
            "",
            "cpus[0]",
            "cpus[0]:gpus",
            "cpus[x]:gpus[0]",
            "cpus[0]:gpus[1]=0",
        ] {
            assert!(parse_coupling(bad).is_err(), "{bad}");
        }
        let err = parse_coupling("a[0]:b[1]=70000").unwrap_err().to_string();
        assert!(err.contains("1 to 65535"), "{err}");
    }

    #[test]
    fn resolves_against_pools_in_descriptor_order() {
        let d = desc(&[
            ("cpus", "[[1,2,3],[4,5,6]]"),
            ("ddd", "sum(1)"),
            ("foo", "2x3"),
        ]);
        let items = parse_coupling("foo[1]:cpus[1],cpus[0]:foo[0]").unwrap();
        let c = resolve_coupling(&items, &d).unwrap();
        let pairs: Vec<_> = c
            .weights
            .iter()
            .map(|w| {
                (
                    w.resource1_idx,
                    w.group1_idx,
                    w.resource2_idx,
                    w.group2_idx,
                    w.weight,
                )
            })
            .collect();
        assert_eq!(pairs, vec![(0, 0, 2, 0, 256), (0, 1, 2, 1, 256)]);
        assert!(c.involves(0) && !c.involves(1) && c.involves(2));
        let table = CouplingTable::new(&c, 3);
        assert_eq!(table.weight(2, 1, 0, 1), 256);
        assert_eq!(table.weight(0, 0, 2, 1), 0);
    }

    #[test]
    fn resolution_errors_name_the_problem() {
        let d = desc(&[
            ("cpus", "[0]"),
            ("xxx", "[1,2,3]"),
            ("yyy", "[[1,2,3],[10,11]]"),
        ]);
        let err = |text: &str| {
            resolve_coupling(&parse_coupling(text).unwrap(), &d)
                .unwrap_err()
                .to_string()
        };
        assert!(err("foo[0]:goo[1]").starts_with("Resource not found: foo "));
        assert!(err("xxx[0]:yyy[0]").starts_with("Resource 'xxx' has only a single group;"));
        assert!(err("yyy[0]:yyy[3]").starts_with("Invalid group id 3 for resource 'yyy' "));
        assert!(err("yyy[1]:yyy[1]").contains("itself"));
        assert!(err("yyy[0]:yyy[1],yyy[1]:yyy[0]").contains("more than once"));
    }
}
