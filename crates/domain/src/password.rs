//! New passwords, checked against the rules of NIST SP 800-63B: length, a list of common
//! passwords, trivial patterns and the user's own name or e-mail address. No composition rules.

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

/// The fewest characters (Unicode scalar values) a password may have.
pub const MIN_CHARS: usize = 8;

/// The most characters (Unicode scalar values) a password may have.
pub const MAX_CHARS: usize = 256;

/// Name and e-mail parts shorter than this are too common as substrings to refuse on.
const MIN_PERSONAL_TERM_CHARS: usize = 4;

/// The most common passwords, lowercase, one a line; `data/README.md` says where they come from.
static COMMON_PASSWORDS: LazyLock<HashSet<&'static str>> = LazyLock::new(|| {
    include_str!("../data/common-passwords.txt")
        .lines()
        .collect()
});

/// A new password that passed the rules; holds the text exactly as typed.
pub struct NewPassword(String);

impl NewPassword {
    /// Checks a password typed by a user; `context` holds the user's e-mail address and name.
    ///
    /// The password must not equal or contain, case-insensitively, any context string, the local
    /// part of an e-mail address among them, or any whitespace-separated word of one, when that
    /// string is at least 4 characters long.
    pub fn parse(raw: &str, context: &[&str]) -> Result<NewPassword, PasswordError> {
        let chars = raw.chars().count();
        if chars == 0 {
            return Err(PasswordError::Empty);
        }
        if chars < MIN_CHARS {
            return Err(PasswordError::TooShort { min: MIN_CHARS });
        }
        if chars > MAX_CHARS {
            return Err(PasswordError::TooLong { max: MAX_CHARS });
        }
        // Lowercase only to compare: the stored value stays exactly as typed.
        let lower = raw.to_lowercase();
        if COMMON_PASSWORDS.contains(lower.as_str()) || is_trivial_pattern(&lower) {
            return Err(PasswordError::Common);
        }
        if contains_personal_info(&lower, context) {
            return Err(PasswordError::ContainsPersonalInfo);
        }
        Ok(NewPassword(raw.to_owned()))
    }

    /// The password as typed, for hashing.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The password as typed, giving up the wrapper.
    pub fn into_inner(self) -> String {
        self.0
    }
}

impl fmt::Debug for NewPassword {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NewPassword(***)")
    }
}

/// Why a new password was refused; the message is safe to show to the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PasswordError {
    /// Fewer characters than allowed.
    #[error("Password must be at least {min} characters.")]
    TooShort {
        /// The fewest characters allowed.
        min: usize,
    },
    /// More characters than allowed.
    #[error("Password must be at most {max} characters.")]
    TooLong {
        /// The most characters allowed.
        max: usize,
    },
    /// On the list of common passwords, or one repeated character or a simple run.
    #[error("Password is too common; choose a less guessable one.")]
    Common,
    /// Contains the user's name or e-mail address.
    #[error("Password must not contain your name or e-mail address.")]
    ContainsPersonalInfo,
    /// Nothing was typed.
    #[error("Password is required.")]
    Empty,
}

/// Whether the password is one character repeated ("aaaaaaaa") or a run ("abcdefgh", "87654321").
fn is_trivial_pattern(lower: &str) -> bool {
    let codes: Vec<i64> = lower.chars().map(|c| i64::from(u32::from(c))).collect();
    let mut steps = codes.windows(2).map(|pair| pair[1] - pair[0]);
    match steps.next() {
        Some(step @ -1..=1) => steps.all(|next| next == step),
        _ => false,
    }
}

/// Whether the lowercase password contains a long enough part of the user's name or e-mail.
fn contains_personal_info(lower: &str, context: &[&str]) -> bool {
    context
        .iter()
        .flat_map(|item| personal_terms(item))
        .any(|term| term.chars().count() >= MIN_PERSONAL_TERM_CHARS && lower.contains(&term))
}

/// A context string, the local part if it is an e-mail address, and its words, lowercase.
fn personal_terms(item: &str) -> impl Iterator<Item = String> {
    let local_part = item.rsplit_once('@').map(|(local, _domain)| local);
    std::iter::once(item)
        .chain(local_part)
        .chain(item.split_whitespace())
        .map(str::to_lowercase)
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMAIL: &str = "sunflower77@example.org";
    const NAME: &str = "Jane Marie Okafor";

    fn parse(raw: &str) -> Result<String, PasswordError> {
        NewPassword::parse(raw, &[EMAIL, NAME]).map(NewPassword::into_inner)
    }

    #[test]
    fn accepts_8_chars() {
        assert_eq!(parse("tulip#42"), Ok("tulip#42".to_owned()));
    }

    #[test]
    fn refuses_7_chars() {
        assert_eq!(parse("tulip#4"), Err(PasswordError::TooShort { min: 8 }));
    }

    #[test]
    fn refuses_empty() {
        assert_eq!(parse(""), Err(PasswordError::Empty));
    }

    #[test]
    fn accepts_128_and_256_chars() {
        let long = "tulip#42".repeat(16);
        assert_eq!(long.chars().count(), 128);
        assert_eq!(parse(&long), Ok(long.clone()));

        let longest = "tulip#42".repeat(32);
        assert_eq!(longest.chars().count(), 256);
        assert_eq!(parse(&longest), Ok(longest.clone()));
    }

    #[test]
    fn refuses_257_chars() {
        let too_long = format!("{}x", "tulip#42".repeat(32));
        assert_eq!(parse(&too_long), Err(PasswordError::TooLong { max: 256 }));
    }

    #[test]
    fn accepts_spaces_and_no_composition_rules() {
        let phrase = "paper lanterns drift over the harbour";
        assert_eq!(parse(phrase), Ok(phrase.to_owned()));
    }

    #[test]
    fn counts_emoji_as_one_char_each() {
        let eight = "🔒🔑🏥🩺💊🧬🫀🦷";
        assert_eq!(parse(eight), Ok(eight.to_owned()));
        // 28 bytes, but only 7 characters.
        assert_eq!(
            parse("🔒🔑🏥🩺💊🧬🫀"),
            Err(PasswordError::TooShort { min: 8 })
        );
        // Eight characters long enough, refused only for being one character repeated.
        assert_eq!(parse("🔒🔒🔒🔒🔒🔒🔒🔒"), Err(PasswordError::Common));
    }

    #[test]
    fn keeps_leading_and_trailing_spaces_and_case_as_typed() {
        let typed = "  Tulip Garden 42  ";
        let password =
            NewPassword::parse(typed, &[]).expect("a long uncommon password is accepted");
        assert_eq!(password.as_str(), typed);
        assert_eq!(password.into_inner(), typed);
    }

    #[test]
    fn refuses_password() {
        assert_eq!(parse("password"), Err(PasswordError::Common));
    }

    #[test]
    fn refuses_common_password_whatever_its_case() {
        assert!(COMMON_PASSWORDS.contains("password1"));
        assert_eq!(parse("Password1"), Err(PasswordError::Common));
        assert_eq!(parse("PASSWORD1"), Err(PasswordError::Common));
    }

    #[test]
    fn refuses_qwertyuiop() {
        assert_eq!(parse("qwertyuiop"), Err(PasswordError::Common));
    }

    #[test]
    fn refuses_repeated_character_and_sequential_runs() {
        for trivial in [
            "aaaaaaaa",
            "zzzzzzzzzzzz",
            "abcdefgh",
            "ABCDEFGHIJ",
            "87654321",
            "23456789",
        ] {
            assert_eq!(parse(trivial), Err(PasswordError::Common), "{trivial}");
        }
    }

    #[test]
    fn refuses_password_containing_email_local_part() {
        assert_eq!(
            parse("my-SunFlower77-pass"),
            Err(PasswordError::ContainsPersonalInfo)
        );
        assert_eq!(parse(EMAIL), Err(PasswordError::ContainsPersonalInfo));
    }

    #[test]
    fn refuses_password_containing_a_part_of_the_name() {
        assert_eq!(
            parse("okafor-in-lagos"),
            Err(PasswordError::ContainsPersonalInfo)
        );
        assert_eq!(
            parse("Marie!Marie!"),
            Err(PasswordError::ContainsPersonalInfo)
        );
    }

    #[test]
    fn ignores_name_parts_shorter_than_4_chars() {
        let password = NewPassword::parse("lighthouse wuzzle", &["Li Wu"]);
        assert_eq!(
            password.map(NewPassword::into_inner),
            Ok("lighthouse wuzzle".to_owned())
        );
    }

    #[test]
    fn debug_does_not_leak_the_password() {
        let password =
            NewPassword::parse("tulip#42", &[]).expect("an uncommon password is accepted");
        let shown = format!("{password:?}");
        assert_eq!(shown, "NewPassword(***)");
        assert!(!shown.contains("tulip"));
    }

    #[test]
    fn messages_name_the_field() {
        assert_eq!(
            PasswordError::TooShort { min: 8 }.to_string(),
            "Password must be at least 8 characters."
        );
        assert_eq!(
            PasswordError::Common.to_string(),
            "Password is too common; choose a less guessable one."
        );
        assert_eq!(
            PasswordError::ContainsPersonalInfo.to_string(),
            "Password must not contain your name or e-mail address."
        );
    }

    #[test]
    fn common_list_entries_are_lowercase_and_trimmed() {
        assert!(COMMON_PASSWORDS.len() >= 10_000);
        for entry in COMMON_PASSWORDS.iter() {
            assert_eq!(*entry, entry.trim().to_lowercase(), "{entry:?}");
        }
    }
}
