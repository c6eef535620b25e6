//! Fixed-point resource amounts with 4 decimal digits (1 unit = 1/10000).

use super::ResourceError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Number of fractional units in one whole resource.
pub const FRACTIONS_PER_UNIT: u64 = 10_000;

/// An amount of a resource in 1/10000 units, so `gpus=0.5` is exact and sums never drift.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct ResourceAmount(pub u64);

impl ResourceAmount {
    pub const ZERO: ResourceAmount = ResourceAmount(0);
    pub const ONE: ResourceAmount = ResourceAmount(FRACTIONS_PER_UNIT);

    pub fn whole(n: u64) -> Self {
        ResourceAmount(n * FRACTIONS_PER_UNIT)
    }

    pub fn units(self) -> u64 {
        self.0
    }

    pub fn whole_part(self) -> u64 {
        self.0 / FRACTIONS_PER_UNIT
    }

    pub fn fraction_part(self) -> u64 {
        self.0 % FRACTIONS_PER_UNIT
    }

    pub fn is_integral(self) -> bool {
        self.fraction_part() == 0
    }

    /// Parses `2`, `1.5`, `0.0001`, `1_000`; more than 4 decimals is an error.
    pub fn parse(text: &str) -> Result<Self, ResourceError> {
        let cleaned: String = text.trim().chars().filter(|c| *c != '_').collect();
        let (int, frac) = cleaned.split_once('.').unwrap_or((&cleaned, ""));
        let bad = || {
            ResourceError::Invalid(format!(
                "invalid amount `{text}`: expected a number like `2` or `0.5`"
            ))
        };
        if int.is_empty() && frac.is_empty() {
            return Err(bad());
        }
        if !int.chars().all(|c| c.is_ascii_digit()) || !frac.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        if frac.len() > 4 {
            return Err(ResourceError::PrecisionExceeded(text.to_string()));
        }
        let whole: u64 = if int.is_empty() {
            0
        } else {
            int.parse().map_err(|_| bad())?
        };
        let mut frac_units: u64 = if frac.is_empty() {
            0
        } else {
            frac.parse().map_err(|_| bad())?
        };
        for _ in frac.len()..4 {
            frac_units *= 10;
        }
        whole
            .checked_mul(FRACTIONS_PER_UNIT)
            .and_then(|w| w.checked_add(frac_units))
            .map(ResourceAmount)
            .ok_or_else(bad)
    }
}

impl fmt::Display for ResourceAmount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let frac = self.fraction_part();
        if frac == 0 {
            write!(f, "{}", self.whole_part())
        } else {
            let digits = format!("{frac:04}");
            write!(f, "{}.{}", self.whole_part(), digits.trim_end_matches('0'))
        }
    }
}

impl std::ops::Add for ResourceAmount {
    type Output = ResourceAmount;
    fn add(self, rhs: Self) -> Self {
        ResourceAmount(self.0 + rhs.0)
    }
}

impl std::ops::Sub for ResourceAmount {
    type Output = ResourceAmount;
    fn sub(self, rhs: Self) -> Self {
        ResourceAmount(self.0 - rhs.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_print() {
        assert_eq!(
            ResourceAmount::parse("2").unwrap(),
            ResourceAmount::whole(2)
        );
        assert_eq!(ResourceAmount::parse("0.5").unwrap().0, 5000);
        assert_eq!(ResourceAmount::parse("1.25").unwrap().to_string(), "1.25");
        assert!(matches!(
            ResourceAmount::parse("0.00001"),
            Err(ResourceError::PrecisionExceeded(_))
        ));
        assert!(ResourceAmount::parse("x").is_err());
    }
}
