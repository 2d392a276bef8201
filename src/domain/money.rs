//! Money as integer cents: exact arithmetic, exact comparisons, and the same
//! storage on SQLite and PostgreSQL.

use std::fmt;
use std::str::FromStr;

/// A non-negative amount in cents.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Money(i64);

/// Upper bound on a price, so parsing can never overflow and absurd inputs are
/// refused instead of stored.
const MAX_CENTS: i64 = 100_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    #[error("Enter a number.")]
    NotANumber,
    #[error("Ensure this value is greater than or equal to 0.")]
    Negative,
    #[error("Ensure that there are no more than 2 decimal places.")]
    TooPrecise,
    #[error("Ensure this value is less than or equal to 1000000000.")]
    TooLarge,
}

impl Money {
    pub const ZERO: Money = Money(0);

    pub fn from_cents(cents: i64) -> Result<Self, MoneyError> {
        match cents {
            c if c < 0 => Err(MoneyError::Negative),
            c if c > MAX_CENTS => Err(MoneyError::TooLarge),
            c => Ok(Money(c)),
        }
    }

    pub fn cents(self) -> i64 {
        self.0
    }

    /// The amount as shoppers read it: `$1,058.99`.
    pub fn display(self) -> Price {
        Price(self)
    }

    /// Parses a decimal such as `19`, `19.9` or `19.99`.
    pub fn parse(input: &str) -> Result<Self, MoneyError> {
        let s = input.trim();
        let (negative, digits) = match s.strip_prefix('-') {
            Some(rest) => (true, rest),
            None => (false, s.strip_prefix('+').unwrap_or(s)),
        };
        let (whole, frac) = match digits.split_once('.') {
            Some((w, f)) => (w, f),
            None => (digits, ""),
        };
        let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
        if (whole.is_empty() && frac.is_empty()) || !all_digits(whole) || !all_digits(frac) {
            return Err(MoneyError::NotANumber);
        }
        if negative && (whole.bytes().any(|b| b != b'0') || frac.bytes().any(|b| b != b'0')) {
            return Err(MoneyError::Negative);
        }
        // Trailing zeros carry no precision: 1.500 is 1.50.
        let frac = frac.trim_end_matches('0');
        if frac.len() > 2 {
            return Err(MoneyError::TooPrecise);
        }
        let whole = whole.trim_start_matches('0');
        if whole.len() > 12 {
            return Err(MoneyError::TooLarge);
        }
        let whole: i64 = if whole.is_empty() { 0 } else { whole.parse().map_err(|_| MoneyError::NotANumber)? };
        let frac_cents: i64 = match frac.len() {
            0 => 0,
            1 => i64::from(frac.as_bytes()[0] - b'0') * 10,
            _ => frac.parse().map_err(|_| MoneyError::NotANumber)?,
        };
        Money::from_cents(whole * 100 + frac_cents)
    }
}

impl FromStr for Money {
    type Err = MoneyError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Money::parse(s)
    }
}

/// Always two decimals, no thousands separator: `19.90`. This is both the
/// API's wire form and the canonical form in cache keys.
impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:02}", self.0 / 100, self.0 % 100)
    }
}

/// A [`Money`] written for people: a dollar sign, thousands grouped by
/// commas, two decimals. Pages and mail use it; the API and cache keys keep
/// the plain decimal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Price(Money);

impl fmt::Display for Price {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let whole = (self.0.0 / 100).to_string();
        f.write_str("$")?;
        for (i, digit) in whole.chars().enumerate() {
            if i > 0 && (whole.len() - i).is_multiple_of(3) {
                f.write_str(",")?;
            }
            write!(f, "{digit}")?;
        }
        write!(f, ".{:02}", self.0.0 % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_whole_and_fractional_amounts() {
        assert_eq!(Money::parse("19").unwrap().cents(), 1900);
        assert_eq!(Money::parse("19.9").unwrap().cents(), 1990);
        assert_eq!(Money::parse("19.99").unwrap().cents(), 1999);
        assert_eq!(Money::parse("0.5").unwrap().cents(), 50);
        assert_eq!(Money::parse(".5").unwrap().cents(), 50);
        assert_eq!(Money::parse("7.").unwrap().cents(), 700);
        assert_eq!(Money::parse(" 1.500 ").unwrap().cents(), 150);
        assert_eq!(Money::parse("-0").unwrap().cents(), 0);
    }

    #[test]
    fn refuses_what_is_not_a_price() {
        for bad in ["", ".", "abc", "1,5", "1e3", "1.2.3", "--1", "NaN", "١٢"] {
            assert_eq!(Money::parse(bad), Err(MoneyError::NotANumber), "{bad:?}");
        }
        assert_eq!(Money::parse("-1"), Err(MoneyError::Negative));
        assert_eq!(Money::parse("-0.01"), Err(MoneyError::Negative));
        assert_eq!(Money::parse("1.999"), Err(MoneyError::TooPrecise));
        assert_eq!(Money::parse("99999999999999999999999"), Err(MoneyError::TooLarge));
    }

    #[test]
    fn displays_with_two_decimals_and_round_trips() {
        for cents in [0, 5, 50, 100, 1999, 123_456_789] {
            let m = Money::from_cents(cents).unwrap();
            assert_eq!(Money::parse(&m.to_string()).unwrap(), m);
        }
        assert_eq!(Money::from_cents(1990).unwrap().to_string(), "19.90");
        assert_eq!(Money::from_cents(5).unwrap().to_string(), "0.05");
    }

    #[test]
    fn displays_for_people_with_grouped_thousands() {
        let shown = |cents| Money::from_cents(cents).unwrap().display().to_string();
        assert_eq!(shown(0), "$0.00");
        assert_eq!(shown(5), "$0.05");
        assert_eq!(shown(99_999), "$999.99");
        assert_eq!(shown(105_899), "$1,058.99");
        assert_eq!(shown(100_000_000), "$1,000,000.00");
        assert_eq!(shown(12_345_678_901), "$123,456,789.01");
    }
}
