//! Values the server makes itself, from the operating system's secure
//! random generator, so that nobody (the model included) ever knows them.

use rand::TryRngCore;
use rand::rngs::OsRng;
use schemars::JsonSchema;
use secrecy::SecretString;
use serde::Deserialize;
use zeroize::Zeroize;

/// Length of a generated value when `length` is left out.
pub const DEFAULT_LENGTH: usize = 32;
/// Shortest generated value accepted.
pub const MIN_LENGTH: usize = 16;
/// Longest generated value accepted.
pub const MAX_LENGTH: usize = 256;

const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &[u8] = b"0123456789";
const HEX: &[u8] = b"0123456789abcdef";
/// The punctuation of `symbols`: the four characters RFC 3986 leaves
/// unreserved, so a value never needs percent-encoding in a URL, and none of
/// them is special to a POSIX shell inside a word. `~` and `-` mean something
/// at the start of a word (a home directory, an option), so a `symbols`
/// value always starts with a letter or a digit.
pub const SYMBOLS: &[u8] = b"-._~";

// Which characters a generated value is made of. Plain comments, not doc
// comments, on the type and its variants: the schema is a bare `enum` of
// strings, with no description for tools/list to carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Alphabet {
    // a-z, A-Z, 0-9
    Alphanumeric,
    // 0-9, a-f
    Hex,
    // a-z, A-Z, 0-9, `-` and `_`
    Base64url,
    // a-z, A-Z, 0-9 and `-._~`, at least one of each class
    Symbols,
}

impl Alphabet {
    pub fn as_str(self) -> &'static str {
        match self {
            Alphabet::Alphanumeric => "alphanumeric",
            Alphabet::Hex => "hex",
            Alphabet::Base64url => "base64url",
            Alphabet::Symbols => "symbols",
        }
    }

    /// Every character the alphabet may use.
    pub fn characters(self) -> Vec<u8> {
        let mut all = Vec::new();
        match self {
            Alphabet::Hex => all.extend_from_slice(HEX),
            Alphabet::Alphanumeric | Alphabet::Base64url | Alphabet::Symbols => {
                all.extend_from_slice(LOWER);
                all.extend_from_slice(UPPER);
                all.extend_from_slice(DIGITS);
                match self {
                    Alphabet::Base64url => all.extend_from_slice(b"-_"),
                    Alphabet::Symbols => all.extend_from_slice(SYMBOLS),
                    _ => {}
                }
            }
        }
        all
    }
}

/// The `generate` argument: `{}` for the defaults.
#[derive(Deserialize, JsonSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct GenerateArgs {
    /// Characters (default 32).
    #[serde(default)]
    #[schemars(schema_with = "length_schema")]
    pub length: Option<i64>,
    // Its names say enough (`symbols` adds `-._~`); tools/list pays for
    // every word of a description, twice here (set and rotate).
    #[serde(default)]
    pub alphabet: Option<Alphabet>,
}

fn length_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "integer",
        "minimum": MIN_LENGTH,
        "maximum": MAX_LENGTH,
        "default": DEFAULT_LENGTH,
        "description": "Characters (default 32)."
    })
}

/// What was generated, without the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recipe {
    pub length: usize,
    pub alphabet: Alphabet,
}

impl GenerateArgs {
    /// The length and alphabet asked for, or what is wrong with them.
    pub fn recipe(&self) -> Result<Recipe, String> {
        let length = match self.length {
            None => DEFAULT_LENGTH,
            Some(n) => usize::try_from(n)
                .ok()
                .filter(|n| (MIN_LENGTH..=MAX_LENGTH).contains(n))
                .ok_or_else(|| {
                    format!(
                        "`generate.length` is {n}; it must be from {MIN_LENGTH} to {MAX_LENGTH} \
                         (leave it out for {DEFAULT_LENGTH})"
                    )
                })?,
        };
        Ok(Recipe {
            length,
            alphabet: self.alphabet.unwrap_or(Alphabet::Alphanumeric),
        })
    }
}

/// The OS generator failed; nothing was made.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's secure random generator failed")]
pub struct GeneratorFailed;

/// Makes a value as `recipe` says. Each character is drawn uniformly by
/// rejection sampling (a random byte outside the largest multiple of the
/// alphabet's size is drawn again, never reduced modulo). For `symbols`, a
/// whole value that lacks a class or starts with punctuation is thrown away
/// and drawn again, so every value that meets the rule is equally likely.
pub fn generate(recipe: Recipe) -> Result<SecretString, GeneratorFailed> {
    generate_with(recipe, &mut OsRng)
}

fn generate_with<R: TryRngCore>(
    recipe: Recipe,
    rng: &mut R,
) -> Result<SecretString, GeneratorFailed> {
    let characters = recipe.alphabet.characters();
    // Bounded: a draw meets the `symbols` rule with probability above 0.5
    // even at the shortest length, so 10 000 failures in a row mean a broken
    // generator, not bad luck.
    for _ in 0..10_000 {
        let mut value = draw(&characters, recipe.length, rng)?;
        if recipe.alphabet != Alphabet::Symbols || meets_symbols_rule(value.as_bytes()) {
            // Exactly `length` ASCII bytes in a buffer of that capacity: the
            // conversion into the secret does not reallocate or copy.
            return Ok(SecretString::from(value));
        }
        value.zeroize();
    }
    Err(GeneratorFailed)
}

fn draw<R: TryRngCore>(
    characters: &[u8],
    length: usize,
    rng: &mut R,
) -> Result<String, GeneratorFailed> {
    // The alphabets have at most 66 characters, so a byte is enough.
    let size = characters.len();
    let limit = 256 - (256 % size);
    let mut value = String::with_capacity(length);
    let mut bytes = [0u8; 64];
    while value.len() < length {
        rng.try_fill_bytes(&mut bytes)
            .map_err(|_| GeneratorFailed)?;
        for &b in &bytes {
            if value.len() == length {
                break;
            }
            if usize::from(b) < limit
                && let Some(&c) = characters.get(usize::from(b) % size)
            {
                value.push(char::from(c));
            }
        }
    }
    bytes.zeroize();
    Ok(value)
}

fn meets_symbols_rule(value: &[u8]) -> bool {
    value.first().is_some_and(u8::is_ascii_alphanumeric)
        && value.iter().any(u8::is_ascii_lowercase)
        && value.iter().any(u8::is_ascii_uppercase)
        && value.iter().any(u8::is_ascii_digit)
        && value.iter().any(|c| SYMBOLS.contains(c))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn every_alphabet_keeps_to_its_characters_and_length() {
        for (alphabet, allowed) in [
            (
                Alphabet::Alphanumeric,
                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
            ),
            (Alphabet::Hex, "0123456789abcdef"),
            (
                Alphabet::Base64url,
                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_",
            ),
            (
                Alphabet::Symbols,
                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~",
            ),
        ] {
            for length in [16, 33, 256] {
                let v = generate(Recipe { length, alphabet }).unwrap();
                let v = v.expose_secret();
                assert_eq!(v.len(), length);
                assert!(v.chars().all(|c| allowed.contains(c)), "{alphabet:?}");
            }
        }
    }

    #[test]
    fn symbols_always_meets_its_rule() {
        for _ in 0..200 {
            let v = generate(Recipe {
                length: 16,
                alphabet: Alphabet::Symbols,
            })
            .unwrap();
            assert!(meets_symbols_rule(v.expose_secret().as_bytes()));
        }
    }

    /// Rejection sampling: every hex digit appears about equally often. A
    /// modulo reduction of bytes would not change hex (16 divides 256), so
    /// alphanumeric (62) is the one to watch: with `% 62`, the first 8
    /// characters would come up 5/4 as often as the others.
    #[test]
    fn characters_are_drawn_uniformly() {
        let mut counts = [0usize; 128];
        let mut total = 0usize;
        for _ in 0..400 {
            let v = generate(Recipe {
                length: 256,
                alphabet: Alphabet::Alphanumeric,
            })
            .unwrap();
            for b in v.expose_secret().bytes() {
                counts[usize::from(b)] += 1;
                total += 1;
            }
        }
        let expected = total as f64 / 62.0;
        let first = f64::from(u32::try_from(counts[usize::from(b'a')]).unwrap());
        let last = f64::from(u32::try_from(counts[usize::from(b'9')]).unwrap());
        // About 1650 each; a 25 % excess would be about 2060.
        assert!(
            (first - expected).abs() < expected * 0.12,
            "{first} vs {expected}"
        );
        assert!(
            (last - expected).abs() < expected * 0.12,
            "{last} vs {expected}"
        );
    }

    #[test]
    fn lengths_outside_the_bounds_are_refused() {
        let args = |length| GenerateArgs {
            length: Some(length),
            alphabet: None,
        };
        assert!(args(15).recipe().is_err());
        assert!(args(257).recipe().is_err());
        assert!(args(-1).recipe().is_err());
        assert_eq!(args(16).recipe().unwrap().length, 16);
        assert_eq!(
            GenerateArgs::default().recipe().unwrap(),
            Recipe {
                length: 32,
                alphabet: Alphabet::Alphanumeric
            }
        );
    }
}
