//! Form input parsed into validated types at the edge, with messages that name the field.

use std::fmt;

/// Validation failures of a form, each naming its field.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldErrors(Vec<(&'static str, String)>);

impl FieldErrors {
    /// No errors yet.
    pub fn new() -> Self {
        Self::default()
    }
    /// Records an error for `field`.
    pub fn add(&mut self, field: &'static str, message: impl Into<String>) {
        self.0.push((field, message.into()));
    }
    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
    /// The errors, in the order they were found.
    pub fn iter(&self) -> impl Iterator<Item = &(&'static str, String)> {
        self.0.iter()
    }
    /// The first message for `field`, if any.
    pub fn get(&self, field: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }
    /// Keeps the value of a parse, or records its error under `field`.
    pub fn take<T, E: fmt::Display>(
        &mut self,
        field: &'static str,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.add(field, e.to_string());
                None
            }
        }
    }
    /// One error for one field.
    pub fn single(field: &'static str, message: impl Into<String>) -> Self {
        let mut e = Self::new();
        e.add(field, message);
        e
    }
}

impl fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for (_, m) in &self.0 {
            if !first {
                f.write_str(" ")?;
            }
            f.write_str(m)?;
            first = false;
        }
        Ok(())
    }
}

impl std::error::Error for FieldErrors {}

/// Why a field was refused; the message is shown next to the field.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Invalid(pub String);

fn invalid(msg: &str) -> Invalid {
    Invalid(msg.to_string())
}

/// An e-mail address, trimmed and lower-cased, loosely checked (the real check is delivery).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Email(String);

impl Email {
    /// Parses an address typed into the "E-mail" field.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim().to_lowercase();
        if s.is_empty() {
            return Err(invalid("E-mail is required."));
        }
        if s.len() > 254 {
            return Err(invalid("E-mail must be at most 254 characters."));
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(invalid("E-mail must look like name@example.org."));
        };
        let ok = !local.is_empty()
            && local.len() <= 64
            && domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && !s.chars().any(|c| c.is_whitespace() || c.is_control())
            && !local.contains('@');
        if !ok {
            return Err(invalid("E-mail must look like name@example.org."));
        }
        Ok(Self(s))
    }
    /// The address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A person's display name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PersonName(String);

impl PersonName {
    /// Parses the "Name" field: 1 to 200 characters, no control characters.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(invalid("Name is required."));
        }
        if s.chars().count() > 200 {
            return Err(invalid("Name must be at most 200 characters."));
        }
        if s.chars().any(char::is_control) {
            return Err(invalid("Name must not contain control characters."));
        }
        Ok(Self(s.to_string()))
    }
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A date of birth, typed as YYYY-MM-DD.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BirthDate(jiff::civil::Date);

impl BirthDate {
    /// Parses the "Date of birth" field; it must be a real date, not in the future, after 1890.
    pub fn parse(raw: &str, today: jiff::civil::Date) -> Result<Self, Invalid> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(invalid("Date of birth is required."));
        }
        let date: jiff::civil::Date = s
            .parse()
            .map_err(|_| invalid("Date of birth must be a real date, for example 04/30/1980."))?;
        if date > today {
            return Err(invalid("Date of birth cannot be in the future."));
        }
        if date.year() < 1890 {
            return Err(invalid("Date of birth must be after 1890."));
        }
        Ok(Self(date))
    }
    /// The date.
    pub fn date(&self) -> jiff::civil::Date {
        self.0
    }
}

/// The alphabet of activation and recovery codes: no 0/O, 1/I/L, to be read aloud safely.
pub const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";

/// An activation code as typed, normalised (upper case, no spaces or dashes).
#[derive(Clone, PartialEq, Eq)]
pub struct ActivationCode(String);

impl ActivationCode {
    /// Parses the "Activation code" field.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = normalise_code(raw);
        if s.is_empty() {
            return Err(invalid("Activation code is required."));
        }
        if s.len() != 16 || !s.bytes().all(|b| CODE_ALPHABET.contains(&b)) {
            return Err(invalid(
                "Activation code must be the 16 letters and digits from your invitation.",
            ));
        }
        Ok(Self(s))
    }
    /// The normalised code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ActivationCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ActivationCode(***)")
    }
}

/// Removes spaces and dashes and upper-cases a typed code.
pub fn normalise_code(raw: &str) -> String {
    raw.chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .flat_map(char::to_uppercase)
        .collect()
}

/// Groups a code in fours for reading: ABCD-EFGH-….
pub fn format_code(code: &str) -> String {
    code.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// What was typed into the "Code" field of the second-factor step.
#[derive(Clone, PartialEq, Eq)]
pub enum SecondFactorCode {
    /// Six digits from an authenticator app.
    Totp(String),
    /// One of the ten recovery codes.
    Recovery(String),
}

impl SecondFactorCode {
    /// Parses the "Code" field: six digits, or a 10-character recovery code.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = normalise_code(raw);
        if s.is_empty() {
            return Err(invalid("Code is required."));
        }
        if s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()) {
            return Ok(Self::Totp(s));
        }
        if s.len() == 10 && s.bytes().all(|b| CODE_ALPHABET.contains(&b)) {
            return Ok(Self::Recovery(s));
        }
        Err(invalid(
            "Code must be the 6 digits from your authenticator app, or a recovery code.",
        ))
    }
}

impl fmt::Debug for SecondFactorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecondFactorCode(***)")
    }
}

/// The reason a clinician types to open break-glass access.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BreakGlassReason(String);

impl BreakGlassReason {
    /// Parses the "Reason" field: 10 to 500 characters.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let s = raw.trim();
        if s.chars().count() < 10 {
            return Err(invalid(
                "Reason must say why you need access (at least 10 characters).",
            ));
        }
        if s.chars().count() > 500 {
            return Err(invalid("Reason must be at most 500 characters."));
        }
        if s.chars().any(|c| c.is_control() && c != '\n') {
            return Err(invalid("Reason must not contain control characters."));
        }
        Ok(Self(s.to_string()))
    }
    /// The reason.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn today() -> jiff::civil::Date {
        jiff::civil::date(2026, 11, 26)
    }

    #[test]
    fn email_is_trimmed_and_lowercased() {
        let e = Email::parse("  Ann.Lee@Example.ORG ").expect("valid");
        assert_eq!(e.as_str(), "ann.lee@example.org");
    }

    #[test]
    fn bad_emails_name_the_field() {
        for bad in [
            "",
            "ann",
            "ann@",
            "@x.org",
            "ann@x",
            "a b@x.org",
            "ann@.org",
            "ann@lee@x.org",
        ] {
            let err = Email::parse(bad).expect_err(bad);
            assert!(err.0.starts_with("E-mail"), "{bad}: {err}");
        }
    }

    #[test]
    fn birth_dates_must_be_real_and_past() {
        assert!(BirthDate::parse("1980-04-30", today()).is_ok());
        assert!(BirthDate::parse("1980-02-30", today()).is_err());
        assert!(BirthDate::parse("30/04/1980", today()).is_err());
        assert!(BirthDate::parse("2027-01-01", today()).is_err());
        assert!(BirthDate::parse("1700-01-01", today()).is_err());
        let err = BirthDate::parse("", today()).expect_err("empty");
        assert!(err.0.starts_with("Date of birth"));
    }

    #[test]
    fn activation_codes_are_normalised() {
        let c = ActivationCode::parse("abcd-efgh jkmn-pqrs").expect("valid");
        assert_eq!(c.as_str(), "ABCDEFGHJKMNPQRS");
        assert!(ActivationCode::parse("ABCD-EFGH-JKMN-PQR0").is_err());
        assert!(ActivationCode::parse("short").is_err());
        assert_eq!(format!("{c:?}"), "ActivationCode(***)");
    }

    #[test]
    fn second_factor_codes_are_totp_or_recovery() {
        assert_eq!(
            SecondFactorCode::parse(" 123 456 ").expect("totp"),
            SecondFactorCode::Totp("123456".into())
        );
        assert_eq!(
            SecondFactorCode::parse("abcde-fghjk").expect("recovery"),
            SecondFactorCode::Recovery("ABCDEFGHJK".into())
        );
        assert!(SecondFactorCode::parse("12345").is_err());
        assert!(SecondFactorCode::parse("").is_err());
    }

    #[test]
    fn break_glass_needs_a_real_reason() {
        assert!(BreakGlassReason::parse("because").is_err());
        assert!(BreakGlassReason::parse("Emergency department, unconscious patient").is_ok());
    }

    #[test]
    fn codes_are_grouped_in_fours() {
        assert_eq!(format_code("ABCDEFGHJKMNPQRS"), "ABCD-EFGH-JKMN-PQRS");
    }

    #[test]
    fn field_errors_keep_their_field() {
        let mut errors = FieldErrors::new();
        let v: Option<Email> = errors.take("email", Email::parse("nope"));
        assert!(v.is_none());
        assert!(errors.get("email").is_some());
        assert!(errors.get("password").is_none());
    }
}
