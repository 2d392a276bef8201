//! The one way settings are read from the environment: [`Env`].
//!
//! A variable that is unset or blank counts as absent, so the default holds.
//! Every reader answers `Ok(None)` when the variable is absent, the parsed
//! value when it is good, and otherwise a [`ConfigError`] naming the variable
//! and quoting the value as it was given.

use std::fmt::Display;
use std::ops::RangeInclusive;
use std::str::FromStr;
use std::time::Duration;

use super::ConfigError;

pub(super) const MILLISECOND: Duration = Duration::from_millis(1);
pub(super) const SECOND: Duration = Duration::from_secs(1);
pub(super) const HOUR: Duration = Duration::from_secs(3600);
pub(super) const DAY: Duration = Duration::from_secs(24 * 3600);

/// The environment as settings see it: a lookup by variable name.
pub(super) struct Env<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
}

impl<'a> Env<'a> {
    pub(super) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Env { lookup }
    }

    /// The variable's value as given, if it is set and not blank.
    pub(super) fn string(&self, var: &str) -> Option<String> {
        (self.lookup)(var).filter(|v| !v.trim().is_empty())
    }

    /// The variable as `parse` reads it from the value as given; `parse`
    /// phrases the problem itself when the value is bad.
    pub(super) fn read<T>(
        &self,
        var: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        self.string(var).map(|raw| parse(&raw).map_err(|problem| ConfigError { var, problem })).transpose()
    }

    /// The variable as `parse` reads it from the trimmed value; when it
    /// reads nothing, the problem is "`value` is not `what`".
    pub(super) fn parsed<T>(
        &self,
        var: &'static str,
        what: &str,
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Result<Option<T>, ConfigError> {
        self.read(var, |raw| parse(raw.trim()).ok_or_else(|| format!("{raw:?} is not {what}")))
    }

    /// A yes-or-no variable, in one of the usual spellings.
    pub(super) fn flag(&self, var: &'static str) -> Result<Option<bool>, ConfigError> {
        self.parsed(var, "true or false", |v| match v.to_ascii_lowercase().as_str() {
            "1" | "true" | "yes" | "on" => Some(true),
            "0" | "false" | "no" | "off" => Some(false),
            _ => None,
        })
    }

    /// A whole number within `range`; `what` names what it counts, e.g.
    /// "a number of days", for the message.
    pub(super) fn number_in<T>(
        &self,
        var: &'static str,
        what: &str,
        range: RangeInclusive<T>,
    ) -> Result<Option<T>, ConfigError>
    where
        T: FromStr + PartialOrd + Display,
    {
        let what = format!("{what} from {} to {}", range.start(), range.end());
        self.parsed(var, &what, |v| v.parse().ok().filter(|n| range.contains(n)))
    }

    /// A whole number of `unit`s within `range`, as a duration.
    pub(super) fn duration_in(
        &self,
        var: &'static str,
        unit: Duration,
        what: &str,
        range: RangeInclusive<u32>,
    ) -> Result<Option<Duration>, ConfigError> {
        // u32::MAX days is far below Duration's limit: the product cannot overflow.
        Ok(self.number_in(var, what, range)?.map(|n| unit * n))
    }

    /// A list separated by commas or spaces, each item read by `parse`; the
    /// first item it cannot read is the problem, "`item` is not `what`".
    pub(super) fn list<T>(
        &self,
        var: &'static str,
        what: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<Vec<T>>, ConfigError> {
        self.read(var, |raw| {
            raw.split([',', ' '])
                .filter(|item| !item.is_empty())
                .map(|item| parse(item).ok_or_else(|| format!("{item:?} is not {what}")))
                .collect()
        })
    }
}

/// Whether `url` is an http or https URL.
pub(super) fn is_http(url: &str) -> bool {
    url.starts_with("http://") || url.starts_with("https://")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with<T>(value: &str, read: impl FnOnce(&Env) -> Result<Option<T>, ConfigError>) -> Result<Option<T>, String> {
        let value = value.to_owned();
        let lookup = move |var: &str| (var == "SOME_VAR").then(|| value.clone());
        read(&Env::new(&lookup)).map_err(|e| e.to_string())
    }

    fn days(value: &str) -> Result<Option<u32>, String> {
        with(value, |env| env.number_in("SOME_VAR", "a number of days", 1..=365))
    }

    #[test]
    fn a_number_in_a_range_takes_both_edges_and_nothing_beyond() {
        assert_eq!(days("1"), Ok(Some(1)));
        assert_eq!(days(" 365 "), Ok(Some(365)));
        assert_eq!(days("0"), Err(r#"SOME_VAR: "0" is not a number of days from 1 to 365"#.to_owned()));
        assert_eq!(days("366"), Err(r#"SOME_VAR: "366" is not a number of days from 1 to 365"#.to_owned()));
    }

    #[test]
    fn a_bad_number_is_quoted_as_given_after_the_variable_name() {
        for value in ["ten", "-1", "1.5", "99999999999", " 7 days"] {
            assert_eq!(days(value), Err(format!("SOME_VAR: {value:?} is not a number of days from 1 to 365")));
        }
    }

    #[test]
    fn an_unset_or_blank_variable_keeps_the_default() {
        assert_eq!(days(""), Ok(None));
        assert_eq!(days("  "), Ok(None));
        let lookup = |_: &str| None;
        assert_eq!(Env::new(&lookup).number_in("SOME_VAR", "a number", 0..=1_u8).map_err(|e| e.var), Ok(None));
    }

    #[test]
    fn a_duration_counts_its_unit() {
        let read = |value| with(value, |env| env.duration_in("SOME_VAR", HOUR, "a number of hours", 1..=720));
        assert_eq!(read("2"), Ok(Some(Duration::from_secs(7200))));
        assert_eq!(read("721"), Err(r#"SOME_VAR: "721" is not a number of hours from 1 to 720"#.to_owned()));
    }

    #[test]
    fn a_flag_takes_the_usual_spellings_of_yes_and_no() {
        for (value, expected) in [("on", true), ("YES", true), (" 1 ", true), ("off", false), ("False", false)] {
            assert_eq!(with(value, |env| env.flag("SOME_VAR")), Ok(Some(expected)), "{value}");
        }
        assert_eq!(with("maybe", |env| env.flag("SOME_VAR")), Err(r#"SOME_VAR: "maybe" is not true or false"#.into()));
    }

    #[test]
    fn a_list_names_its_first_bad_item() {
        let read =
            |value| with(value, |env| env.list("SOME_VAR", "a digit", |i| i.parse::<u8>().ok().filter(|d| *d < 10)));
        assert_eq!(read("1, 2,3"), Ok(Some(vec![1, 2, 3])));
        assert_eq!(read("1,x,12"), Err(r#"SOME_VAR: "x" is not a digit"#.to_owned()));
    }
}
