//! Quantities written as people say them: `1.5B` tokens, `800ms`, `$50k`.
//!
//! Parsing is exact decimal arithmetic, never `f64::from_str` on the mantissa, so `1.1B` is
//! 1,100,000,000 tokens and not 1,100,000,000.0000002. Every error names the input it rejects.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Returns why a quantity could not be read; every variant names the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// The input was empty or only whitespace.
    #[error("empty {what}: expected a number such as {example}")]
    Empty {
        /// What was being parsed ("token count", "duration", …).
        what: &'static str,
        /// An example of valid input.
        example: &'static str,
    },
    /// The input was negative.
    #[error("{what} '{input}' is negative")]
    Negative {
        /// What was being parsed.
        what: &'static str,
        /// The input as given.
        input: String,
    },
    /// The input was zero where a positive value is required.
    #[error("{what} '{input}' must be greater than zero")]
    Zero {
        /// What was being parsed.
        what: &'static str,
        /// The input as given.
        input: String,
    },
    /// The input is not a number with an accepted suffix.
    #[error("invalid {what} '{input}': {reason}")]
    Invalid {
        /// What was being parsed.
        what: &'static str,
        /// The input as given.
        input: String,
        /// Why it was rejected, with the accepted forms.
        reason: String,
    },
    /// The value does not fit in the target type.
    #[error("{what} '{input}' is too large")]
    Overflow {
        /// What was being parsed.
        what: &'static str,
        /// The input as given.
        input: String,
    },
}

/// A decimal number split into its digits, exactly as written: `12.305` is
/// `digits = 12305, scale = 3`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Decimal {
    digits: u128,
    scale: u32,
}

impl Decimal {
    /// Returns `self × multiplier` as an integer if it is one.
    fn times_integer(self, multiplier: u128) -> Option<Result<u128, ()>> {
        let scaled = self.digits.checked_mul(multiplier)?;
        let divisor = 10u128.checked_pow(self.scale)?;
        if scaled % divisor == 0 {
            Some(Ok(scaled / divisor))
        } else {
            Some(Err(()))
        }
    }

    fn to_f64(self) -> f64 {
        // Exact for every value a person types (at most 15 significant digits).
        self.digits as f64 / 10f64.powi(self.scale as i32)
    }
}

/// Splits `input` into a decimal number and the suffix after it.
fn split_number<'a>(
    what: &'static str,
    example: &'static str,
    raw: &'a str,
) -> Result<(Decimal, &'a str), UnitError> {
    let input = raw.trim();
    if input.is_empty() {
        return Err(UnitError::Empty { what, example });
    }
    let invalid = |reason: String| UnitError::Invalid {
        what,
        input: raw.to_string(),
        reason,
    };
    let body = input.strip_prefix('+').unwrap_or(input);
    if body.starts_with('-') {
        return Err(UnitError::Negative {
            what,
            input: raw.to_string(),
        });
    }
    let number_end = body
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(body.len());
    let (number, suffix) = body.split_at(number_end);
    let number: String = number.chars().filter(|&c| c != '_').collect();
    if number.is_empty() {
        return Err(invalid(format!("expected a number such as {example}")));
    }
    let (int_part, frac_part) = match number.split_once('.') {
        Some((i, f)) => (i, f),
        None => (number.as_str(), ""),
    };
    if frac_part.contains('.') || (int_part.is_empty() && frac_part.is_empty()) {
        return Err(invalid(format!("expected a number such as {example}")));
    }
    let overflow = || UnitError::Overflow {
        what,
        input: raw.to_string(),
    };
    let mut digits: u128 = 0;
    for c in int_part.chars().chain(frac_part.chars()) {
        let d = u128::from(c.to_digit(10).expect("filtered to ascii digits"));
        digits = digits
            .checked_mul(10)
            .and_then(|v| v.checked_add(d))
            .ok_or_else(overflow)?;
    }
    let scale = u32::try_from(frac_part.len()).map_err(|_| overflow())?;
    if scale > 30 {
        return Err(overflow());
    }
    Ok((Decimal { digits, scale }, suffix.trim()))
}

/// A whole number of tokens, parsed from `1.5B`, `500M`, `20k`, `2T` or `1500000000`.
///
/// Suffixes are case-insensitive: K = 10³, M = 10⁶, B = 10⁹, T = 10¹². A value that is not a
/// whole number of tokens (`1.5`, `0.0001k`), negative, NaN, empty, too large for `u64` or with an
/// unknown suffix is an error naming the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct TokenCount(pub u64);

impl TokenCount {
    /// Returns the count as tokens.
    pub fn get(self) -> u64 {
        self.0
    }

    /// Returns the count in millions of tokens, the unit the solver works in.
    pub fn millions(self) -> f64 {
        self.0 as f64 / 1e6
    }
}

impl std::str::FromStr for TokenCount {
    type Err = UnitError;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        const WHAT: &str = "token count";
        const EXAMPLE: &str = "1.5B, 500M, 20k or 1500000000";
        let (number, suffix) = split_number(WHAT, EXAMPLE, raw)?;
        let multiplier: u128 = match suffix.to_ascii_lowercase().as_str() {
            "" => 1,
            "k" => 1_000,
            "m" => 1_000_000,
            "b" => 1_000_000_000,
            "t" => 1_000_000_000_000,
            _ => {
                return Err(UnitError::Invalid {
                    what: WHAT,
                    input: raw.to_string(),
                    reason: format!("unknown suffix '{suffix}' (use K, M, B or T, e.g. {EXAMPLE})"),
                });
            }
        };
        let overflow = || UnitError::Overflow {
            what: WHAT,
            input: raw.to_string(),
        };
        let tokens = match number.times_integer(multiplier) {
            None => return Err(overflow()),
            Some(Err(())) => {
                return Err(UnitError::Invalid {
                    what: WHAT,
                    input: raw.to_string(),
                    reason: "not a whole number of tokens".to_string(),
                });
            }
            Some(Ok(tokens)) => tokens,
        };
        let tokens = u64::try_from(tokens).map_err(|_| overflow())?;
        Ok(TokenCount(tokens))
    }
}

impl fmt::Display for TokenCount {
    /// Writes the count the way it is read: `1.5B`, `19.35M`, `800`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&format_tokens(self.0 as f64))
    }
}

impl Serialize for TokenCount {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_u64(self.0)
    }
}

impl<'de> Deserialize<'de> for TokenCount {
    /// Accepts a plain integer or a string such as `"1.5B"`.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Int(u64),
            Text(String),
            Float(f64),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Int(v) => Ok(TokenCount(v)),
            Raw::Text(text) => text.parse().map_err(serde::de::Error::custom),
            Raw::Float(v) => Err(serde::de::Error::custom(format!(
                "token count {v} must be a whole number or a string such as \"1.5B\""
            ))),
        }
    }
}

/// Parses a duration such as `800ms`, `2s`, `1.5s` or `1m` into milliseconds.
///
/// A unit is required (a bare `2` could mean seconds or milliseconds), and the duration must be
/// greater than zero.
pub fn parse_duration_ms(raw: &str) -> Result<f64, UnitError> {
    const WHAT: &str = "duration";
    const EXAMPLE: &str = "800ms, 2s or 1.5s";
    let (number, suffix) = split_number(WHAT, EXAMPLE, raw)?;
    if number.digits == 0 {
        return Err(UnitError::Zero {
            what: WHAT,
            input: raw.to_string(),
        });
    }
    let factor_ms = match suffix.to_ascii_lowercase().as_str() {
        "ms" => 1.0,
        "s" | "sec" => 1_000.0,
        "m" | "min" => 60_000.0,
        "" => {
            return Err(UnitError::Invalid {
                what: WHAT,
                input: raw.to_string(),
                reason: format!("missing unit (write {EXAMPLE})"),
            });
        }
        _ => {
            return Err(UnitError::Invalid {
                what: WHAT,
                input: raw.to_string(),
                reason: format!("unknown unit '{suffix}' (use ms, s or m, e.g. {EXAMPLE})"),
            });
        }
    };
    Ok(number.to_f64() * factor_ms)
}

/// Parses a non-negative decimal with an optional K/M/B suffix, e.g. a budget `50k` or `12000`.
/// A leading `$` is allowed.
pub fn parse_scaled_decimal(what: &'static str, raw: &str) -> Result<f64, UnitError> {
    const EXAMPLE: &str = "12000, 50k or 1.2M";
    let trimmed = raw.trim();
    let without_dollar = trimmed.strip_prefix('$').unwrap_or(trimmed);
    let (number, suffix) = split_number(what, EXAMPLE, without_dollar).map_err(|e| match e {
        UnitError::Invalid { what, reason, .. } => UnitError::Invalid {
            what,
            input: raw.to_string(),
            reason,
        },
        UnitError::Negative { what, .. } => UnitError::Negative {
            what,
            input: raw.to_string(),
        },
        other => other,
    })?;
    let multiplier = match suffix.to_ascii_lowercase().as_str() {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "b" => 1e9,
        _ => {
            return Err(UnitError::Invalid {
                what,
                input: raw.to_string(),
                reason: format!("unknown suffix '{suffix}' (use K, M or B, e.g. {EXAMPLE})"),
            });
        }
    };
    Ok(number.to_f64() * multiplier)
}

/// Formats a token quantity with a K/M/B/T suffix and up to four significant digits:
/// `19353600.0` → `19.35M`, `1.5e9` → `1.5B`.
pub fn format_tokens(tokens: f64) -> String {
    let abs = tokens.abs();
    let (value, suffix) = if abs >= 1e12 {
        (tokens / 1e12, "T")
    } else if abs >= 1e9 {
        (tokens / 1e9, "B")
    } else if abs >= 1e6 {
        (tokens / 1e6, "M")
    } else if abs >= 1e3 {
        (tokens / 1e3, "k")
    } else {
        return format!("{}", tokens.round() as i64);
    };
    let decimals = if value.abs() >= 100.0 {
        1
    } else if value.abs() >= 10.0 {
        2
    } else {
        3
    };
    let text = format!("{value:.decimals$}");
    let text = if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        text
    };
    format!("{text}{suffix}")
}

/// Formats US dollars with thousands separators and cents: `1234.5` → `$1,234.50`.
/// Amounts below one dollar keep four decimals so per-token prices stay readable: `$0.0398`.
pub fn format_usd(usd: f64) -> String {
    if usd.abs() < 1.0 && usd != 0.0 {
        // Four decimals keep per-token prices readable; trailing zeros past the cents go.
        let text = format!("{:.4}", usd.abs());
        let text = text.trim_end_matches('0');
        let text = if text.len() < 4 {
            format!("{text:0<4}")
        } else {
            text.to_string()
        };
        let sign = if usd < 0.0 { "-" } else { "" };
        return format!("{sign}${text}");
    }
    let negative = usd < 0.0;
    let cents = (usd.abs() * 100.0).round() as u128;
    let whole = group_thousands(cents / 100);
    let text = format!("${whole}.{:02}", cents % 100);
    if negative { format!("-{text}") } else { text }
}

/// Formats a whole number with thousands separators: `4096` → `4,096`.
pub fn format_int(value: f64) -> String {
    let negative = value < 0.0;
    let text = group_thousands(value.abs().round() as u128);
    if negative { format!("-{text}") } else { text }
}

fn group_thousands(value: u128) -> String {
    let digits = value.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// Formats milliseconds as `780 ms` or `2.5 s`.
pub fn format_ms(ms: f64) -> String {
    if ms >= 1_000.0 {
        let s = format!("{:.2}", ms / 1_000.0);
        format!("{} s", s.trim_end_matches('0').trim_end_matches('.'))
    } else {
        format!("{} ms", ms.round() as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(s: &str) -> Result<u64, UnitError> {
        s.parse::<TokenCount>().map(TokenCount::get)
    }

    #[test]
    fn parses_token_counts_as_people_write_them() {
        assert_eq!(tokens("1.5B"), Ok(1_500_000_000));
        assert_eq!(tokens("1.5b"), Ok(1_500_000_000));
        assert_eq!(tokens("500M"), Ok(500_000_000));
        assert_eq!(tokens("20k"), Ok(20_000));
        assert_eq!(tokens("20K"), Ok(20_000));
        assert_eq!(tokens("2T"), Ok(2_000_000_000_000));
        assert_eq!(tokens("1500000000"), Ok(1_500_000_000));
        assert_eq!(tokens("1_000_000"), Ok(1_000_000));
        assert_eq!(tokens(" 1.1B "), Ok(1_100_000_000));
        assert_eq!(tokens("0.000001B"), Ok(1_000));
        assert_eq!(tokens(".5M"), Ok(500_000));
        assert_eq!(tokens("0"), Ok(0));
    }

    #[test]
    fn rejects_bad_token_counts_naming_the_input() {
        for (input, needle) in [
            ("-1", "'-1' is negative"),
            ("1.5Q", "unknown suffix 'Q'"),
            ("", "empty token count"),
            ("   ", "empty token count"),
            ("NaN", "invalid token count 'NaN'"),
            ("inf", "invalid token count 'inf'"),
            ("1.5", "not a whole number of tokens"),
            ("1.2.3B", "invalid token count '1.2.3B'"),
            ("20000000T", "too large"),
            ("99999999999999999999999999999999999999999", "too large"),
            ("1e9", "unknown suffix 'e9'"),
        ] {
            let err = tokens(input).expect_err(input).to_string();
            assert!(err.contains(needle), "{input:?}: {err}");
        }
    }

    #[test]
    fn parses_durations_with_units_only() {
        assert_eq!(parse_duration_ms("800ms"), Ok(800.0));
        assert_eq!(parse_duration_ms("2s"), Ok(2_000.0));
        assert_eq!(parse_duration_ms("1.5s"), Ok(1_500.0));
        assert_eq!(parse_duration_ms("1m"), Ok(60_000.0));
        assert!(
            parse_duration_ms("2")
                .unwrap_err()
                .to_string()
                .contains("missing unit")
        );
        assert_eq!(
            parse_duration_ms("0").unwrap_err().to_string(),
            "duration '0' must be greater than zero"
        );
        assert!(
            parse_duration_ms("0s")
                .unwrap_err()
                .to_string()
                .contains("must be greater than zero")
        );
        assert!(
            parse_duration_ms("-2s")
                .unwrap_err()
                .to_string()
                .contains("negative")
        );
        assert!(
            parse_duration_ms("2h")
                .unwrap_err()
                .to_string()
                .contains("unknown unit 'h'")
        );
    }

    #[test]
    fn parses_budgets() {
        assert_eq!(parse_scaled_decimal("budget", "$50k"), Ok(50_000.0));
        assert_eq!(parse_scaled_decimal("budget", "12000"), Ok(12_000.0));
        assert_eq!(parse_scaled_decimal("budget", "1.2M"), Ok(1_200_000.0));
        assert!(parse_scaled_decimal("budget", "-5").is_err());
        assert!(parse_scaled_decimal("budget", "5x").is_err());
    }

    #[test]
    fn formats_quantities_for_reading() {
        assert_eq!(format_tokens(19_353_600.0), "19.35M");
        assert_eq!(format_tokens(1.5e9), "1.5B");
        assert_eq!(format_tokens(313_000_000.0), "313M");
        assert_eq!(format_tokens(800.0), "800");
        assert_eq!(format_usd(150.728), "$150.73");
        assert_eq!(format_usd(1234567.891), "$1,234,567.89");
        assert_eq!(format_usd(0.0398), "$0.0398");
        assert_eq!(format_usd(0.16), "$0.16");
        assert_eq!(format_usd(0.85), "$0.85");
        assert_eq!(format_usd(0.5), "$0.50");
        assert_eq!(format_usd(-0.025), "-$0.025");
        assert_eq!(format_usd(-12.5), "-$12.50");
        assert_eq!(format_int(4096.0), "4,096");
        assert_eq!(format_ms(780.2), "780 ms");
        assert_eq!(format_ms(2500.0), "2.5 s");
    }

    #[test]
    fn token_count_round_trips_through_json() {
        let parsed: TokenCount = serde_json::from_str("\"1.5B\"").unwrap();
        assert_eq!(parsed.get(), 1_500_000_000);
        let parsed: TokenCount = serde_json::from_str("42").unwrap();
        assert_eq!(parsed.get(), 42);
        assert!(serde_json::from_str::<TokenCount>("-1").is_err());
        assert!(serde_json::from_str::<TokenCount>("1.5").is_err());
        assert_eq!(serde_json::to_string(&TokenCount(7)).unwrap(), "7");
    }
}
