//! The price bands the listing's sidebar offers (`price=25-100`): fixed
//! ranges, each from its lower bound up to, not including, the next one, so
//! a product is in exactly one band.

use super::money::Money;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PriceBand {
    Under25,
    From25To100,
    From100To500,
    From500,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Select a valid choice. {0:?} is not one of the available choices: under-25, 25-100, 100-500, 500-up.")]
pub struct PriceBandError(pub String);

impl PriceBand {
    pub const ALL: [PriceBand; 4] =
        [PriceBand::Under25, PriceBand::From25To100, PriceBand::From100To500, PriceBand::From500];

    pub fn parse(input: &str) -> Result<Self, PriceBandError> {
        let value = input.trim();
        Self::ALL.into_iter().find(|b| b.param() == value).ok_or_else(|| PriceBandError(value.to_owned()))
    }

    /// The parameter value.
    pub fn param(self) -> &'static str {
        match self {
            PriceBand::Under25 => "under-25",
            PriceBand::From25To100 => "25-100",
            PriceBand::From100To500 => "100-500",
            PriceBand::From500 => "500-up",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            PriceBand::Under25 => "Under $25",
            PriceBand::From25To100 => "$25 to $100",
            PriceBand::From100To500 => "$100 to $500",
            PriceBand::From500 => "$500 and up",
        }
    }

    /// The band's prices in cents: from (inclusive) and below (exclusive).
    pub fn cents(self) -> (Option<i64>, Option<i64>) {
        match self {
            PriceBand::Under25 => (None, Some(2_500)),
            PriceBand::From25To100 => (Some(2_500), Some(10_000)),
            PriceBand::From100To500 => (Some(10_000), Some(50_000)),
            PriceBand::From500 => (Some(50_000), None),
        }
    }

    /// The band a price is in.
    pub fn of(price: Money) -> PriceBand {
        Self::of_cents(price.cents())
    }

    /// The band of a price in cents (as the facets read prices).
    pub fn of_cents(cents: i64) -> PriceBand {
        Self::ALL.into_iter().find(|b| b.cents().1.is_none_or(|below| cents < below)).unwrap_or(PriceBand::From500)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_its_own_values_only() {
        for band in PriceBand::ALL {
            assert_eq!(PriceBand::parse(band.param()), Ok(band));
        }
        assert!(PriceBand::parse("cheap").is_err());
        assert!(PriceBand::parse("25-99").is_err());
    }

    #[test]
    fn each_price_is_in_one_band_and_bounds_belong_to_the_band_above() {
        let band = |cents| PriceBand::of(Money::from_cents(cents).unwrap());
        assert_eq!(band(2_499), PriceBand::Under25);
        assert_eq!(band(2_500), PriceBand::From25To100);
        assert_eq!(band(9_999), PriceBand::From25To100);
        assert_eq!(band(10_000), PriceBand::From100To500);
        assert_eq!(band(50_000), PriceBand::From500);
    }
}
