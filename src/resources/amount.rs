//! Fixed-point resource amounts with 4 decimal digits (1 unit = 1/10000).

use super::ResourceError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// Number of fractional units in one whole resource.
pub const FRACTIONS_PER_UNIT: u64 = 10_000;

/// Number of decimal digits an amount may carry.
pub const MAX_DECIMALS: usize = 4;

/// Largest whole amount of one resource a request or a worker may name; beyond it a request
/// could never be met (no worker can have more) and sums could overflow.
pub const MAX_WHOLE: u64 = u32::MAX as u64;

/// An amount of a resource in 1/10000 units, so `gpus=0.5` is exact and sums never drift.
#[derive(
    Copy, Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct ResourceAmount(pub u64);

impl ResourceAmount {
    pub const ZERO: ResourceAmount = ResourceAmount(0);
    pub const ONE: ResourceAmount = ResourceAmount(FRACTIONS_PER_UNIT);

    /// `n` whole units (saturating, so absurd inputs cannot wrap around).
    pub fn whole(n: u64) -> Self {
        ResourceAmount(n.saturating_mul(FRACTIONS_PER_UNIT))
    }

    /// An amount from whole units plus 1/10000 fractions (`fractions` < 10000 is not required).
    pub fn new(whole: u64, fractions: u64) -> Self {
        ResourceAmount(
            whole
                .saturating_mul(FRACTIONS_PER_UNIT)
                .saturating_add(fractions),
        )
    }

    /// The raw number of 1/10000 units.
    pub fn units(self) -> u64 {
        self.0
    }

    pub fn whole_part(self) -> u64 {
        self.0 / FRACTIONS_PER_UNIT
    }

    /// The fractional remainder in 1/10000 units (`1.25` → 2500).
    pub fn fraction_part(self) -> u64 {
        self.0 % FRACTIONS_PER_UNIT
    }

    pub fn is_integral(self) -> bool {
        self.fraction_part() == 0
    }

    pub fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn checked_add(self, rhs: Self) -> Option<Self> {
        self.0.checked_add(rhs.0).map(ResourceAmount)
    }

    pub fn checked_sub(self, rhs: Self) -> Option<Self> {
        self.0.checked_sub(rhs.0).map(ResourceAmount)
    }

    /// The amount as a float, for display and ratios only (never for bookkeeping).
    pub fn as_f64(self) -> f64 {
        self.0 as f64 / FRACTIONS_PER_UNIT as f64
    }

    /// Converts an unquoted TOML number (`2`, `1.5`); more than 4 decimals is an error.
    pub fn from_f64(value: f64) -> Result<Self, ResourceError> {
        if !value.is_finite() || value < 0.0 {
            return Err(ResourceError::InvalidAmount(value.to_string()));
        }
        // `Display` of f64 prints the shortest text that round-trips, e.g. `1.5`, not `1.4999…`.
        Self::parse(&value.to_string())
    }

    /// Parses `2`, `1.5`, `.5`, `0.0001`, `1_000`; more than 4 decimals is an error.
    pub fn parse(text: &str) -> Result<Self, ResourceError> {
        let bad = || ResourceError::InvalidAmount(text.to_string());
        let cleaned: String = text.trim().chars().filter(|c| *c != '_').collect();
        let (int, frac) = cleaned.split_once('.').unwrap_or((&cleaned, ""));
        let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
        if (int.is_empty() && frac.is_empty()) || !digits(int) || !digits(frac) {
            return Err(bad());
        }
        let significant = frac.trim_end_matches('0');
        if significant.len() > MAX_DECIMALS {
            return Err(ResourceError::PrecisionExceeded(text.trim().to_string()));
        }
        let whole: u64 = if int.is_empty() {
            0
        } else if int.trim_start_matches('0').len() > 10 {
            return Err(ResourceError::AmountTooLarge(text.trim().to_string()));
        } else {
            int.parse().map_err(|_| bad())?
        };
        if whole > MAX_WHOLE {
            return Err(ResourceError::AmountTooLarge(text.trim().to_string()));
        }
        let mut frac_units: u64 = if significant.is_empty() {
            0
        } else {
            significant.parse().map_err(|_| bad())?
        };
        for _ in significant.len()..MAX_DECIMALS {
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

impl std::ops::AddAssign for ResourceAmount {
    fn add_assign(&mut self, rhs: Self) {
        self.0 += rhs.0;
    }
}

impl std::ops::Sub for ResourceAmount {
    type Output = ResourceAmount;
    fn sub(self, rhs: Self) -> Self {
        ResourceAmount(self.0 - rhs.0)
    }
}

impl std::ops::SubAssign for ResourceAmount {
    fn sub_assign(&mut self, rhs: Self) {
        self.0 -= rhs.0;
    }
}

impl std::iter::Sum for ResourceAmount {
    fn sum<I: Iterator<Item = Self>>(iter: I) -> Self {
        ResourceAmount(iter.map(|a| a.0).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Result<ResourceAmount, ResourceError> {
        ResourceAmount::parse(text)
    }

    #[test]
    fn parses_integers_decimals_and_separators() {
        assert_eq!(p("2").unwrap(), ResourceAmount::whole(2));
        assert_eq!(p("0.5").unwrap().0, 5000);
        assert_eq!(p(".5").unwrap().0, 5000);
        assert_eq!(p("1.").unwrap(), ResourceAmount::ONE);
        assert_eq!(p("0.0001").unwrap().0, 1);
        assert_eq!(p("1_000").unwrap(), ResourceAmount::whole(1000));
        assert_eq!(p(" 3 ").unwrap(), ResourceAmount::whole(3));
        // Trailing zeros do not count as precision.
        assert_eq!(p("1.50000").unwrap().0, 15000);
    }

    #[test]
    fn rejects_bad_amounts() {
        assert_eq!(
            p("0.00001"),
            Err(ResourceError::PrecisionExceeded("0.00001".into()))
        );
        assert!(p("0.00001")
            .unwrap_err()
            .to_string()
            .starts_with("Resource precision exceeded"));
        for huge in [
            "4294967296",
            "99999999999999999999",
            "999999999999999999999999",
        ] {
            assert_eq!(p(huge), Err(ResourceError::AmountTooLarge(huge.into())));
        }
        assert_eq!(p("4294967295").unwrap(), ResourceAmount::whole(4294967295));
        for bad in ["x", "", ".", "-1", "1.2.3", "1e3"] {
            assert!(
                matches!(p(bad), Err(ResourceError::InvalidAmount(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn prints_shortest_form() {
        assert_eq!(p("1.25").unwrap().to_string(), "1.25");
        assert_eq!(p("1.1").unwrap().to_string(), "1.1");
        assert_eq!(p("0.0001").unwrap().to_string(), "0.0001");
        assert_eq!(ResourceAmount::whole(7).to_string(), "7");
    }

    #[test]
    fn converts_toml_floats() {
        assert_eq!(ResourceAmount::from_f64(1.5).unwrap().0, 15000);
        assert_eq!(
            ResourceAmount::from_f64(2.0).unwrap(),
            ResourceAmount::whole(2)
        );
        assert!(ResourceAmount::from_f64(0.123456).is_err());
        assert!(ResourceAmount::from_f64(-1.0).is_err());
    }
}
