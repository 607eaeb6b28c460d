//! Time-based one-time passwords (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps), the QR code
//! that carries the secret to an authenticator app, and recovery codes.

use hmac::{Hmac, Mac};
use jiff::Timestamp;
use sha1::Sha1;

/// Seconds per step.
pub const STEP_SECONDS: i64 = 30;

/// The time step `at` falls in.
pub fn step_at(at: Timestamp) -> i64 {
    at.as_second().div_euclid(STEP_SECONDS)
}

/// The 6-digit code for `step` (RFC 4226 dynamic truncation).
pub fn code_for_step(secret: &[u8], step: i64) -> String {
    let mut mac = Hmac::<Sha1>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = usize::from(digest[19] & 0x0f);
    let binary = (u32::from(digest[offset] & 0x7f) << 24)
        | (u32::from(digest[offset + 1]) << 16)
        | (u32::from(digest[offset + 2]) << 8)
        | u32::from(digest[offset + 3]);
    format!("{:06}", binary % 1_000_000)
}

/// The step whose code `code` is, within one step either side of `now`; `None` if none matches.
/// Comparison is constant-time per candidate.
pub fn matching_step(secret: &[u8], code: &str, now: Timestamp) -> Option<i64> {
    use subtle::ConstantTimeEq;
    let current = step_at(now);
    let mut found = None;
    for step in [current - 1, current, current + 1] {
        if bool::from(
            code_for_step(secret, step)
                .as_bytes()
                .ct_eq(code.as_bytes()),
        ) {
            found = Some(step);
        }
    }
    found
}

/// The otpauth:// URI an authenticator app reads from the QR code.
pub fn provisioning_uri(secret: &[u8], issuer: &str, account: &str) -> String {
    let secret = data_encoding::BASE32_NOPAD.encode(secret);
    let issuer_enc = percent_encode(issuer);
    format!(
        "otpauth://totp/{issuer_enc}:{}?secret={secret}&issuer={issuer_enc}&algorithm=SHA1&digits=6&period=30",
        percent_encode(account)
    )
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'@' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The secret written for typing by hand, in groups of four.
pub fn manual_key(secret: &[u8]) -> String {
    portal_domain::fields::format_code(&data_encoding::BASE32_NOPAD.encode(secret))
        .replace('-', " ")
}

/// The QR code of `data` as an SVG element drawn on the server (no script, no external image).
pub fn qr_svg(data: &str) -> Option<String> {
    let code = qrcode::QrCode::new(data.as_bytes()).ok()?;
    let svg = code
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(220, 220)
        .dark_color(qrcode::render::svg::Color("#000000"))
        .light_color(qrcode::render::svg::Color("#ffffff"))
        .build();
    // Keep only the <svg> element, so it can sit inside the page.
    let start = svg.find("<svg")?;
    Some(svg[start..].replacen(
        "<svg",
        "<svg role=\"img\" aria-label=\"QR code for your authenticator app\"",
        1,
    ))
}

/// Ten new recovery codes of ten characters.
pub fn new_recovery_codes() -> Vec<String> {
    (0..10).map(|_| crate::crypto::random_code(10)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 6238 appendix B test vectors (SHA-1, 8 digits there; we check the last 6 digits).
    const RFC_SECRET: &[u8] = b"12345678901234567890";

    #[test]
    fn matches_rfc_6238_vectors() {
        for (time, eight) in [
            (59_i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
        ] {
            let step = time.div_euclid(STEP_SECONDS);
            assert_eq!(code_for_step(RFC_SECRET, step), eight[2..], "t={time}");
        }
    }

    #[test]
    fn accepts_one_step_either_side_only() {
        let now = Timestamp::from_second(1_800_000_000).expect("valid");
        let step = step_at(now);
        for delta in [-1, 0, 1] {
            let code = code_for_step(RFC_SECRET, step + delta);
            assert_eq!(matching_step(RFC_SECRET, &code, now), Some(step + delta));
        }
        for delta in [-2, 2] {
            let code = code_for_step(RFC_SECRET, step + delta);
            assert_eq!(matching_step(RFC_SECRET, &code, now), None);
        }
    }

    #[test]
    fn qr_code_is_an_svg_element() {
        let svg = qr_svg("otpauth://totp/x?secret=ABC").expect("qr");
        assert!(svg.starts_with("<svg role=\"img\""));
        assert!(!svg.contains("<?xml"));
        assert!(!svg.contains("<script"));
    }

    #[test]
    fn uri_escapes_names() {
        let uri = provisioning_uri(b"abc", "Portal Clinic", "ann@example.org");
        assert!(uri.starts_with("otpauth://totp/Portal%20Clinic:ann@example.org?secret="));
    }
}
