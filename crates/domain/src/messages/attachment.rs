//! Files attached to messages: what kind a file is, judged by its content (never by its name or
//! the type the browser claims), and the name it is offered under.

use crate::fields::Invalid;

/// A kind of file the portal accepts on a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A JPEG photo.
    Jpeg,
    /// A PNG image (screenshots).
    Png,
    /// A PDF document.
    Pdf,
    /// A HEIC/HEIF photo (iPhones' camera). Offered as a download: browsers cannot show it.
    Heic,
}

impl Kind {
    /// The media type it is served with.
    pub fn content_type(self) -> &'static str {
        match self {
            Kind::Jpeg => "image/jpeg",
            Kind::Png => "image/png",
            Kind::Pdf => "application/pdf",
            Kind::Heic => "image/heic",
        }
    }
    /// The stable text stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Jpeg => "jpeg",
            Kind::Png => "png",
            Kind::Pdf => "pdf",
            Kind::Heic => "heic",
        }
    }
    /// Reads the stored text.
    pub fn from_stored(s: &str) -> Option<Self> {
        match s {
            "jpeg" => Some(Kind::Jpeg),
            "png" => Some(Kind::Png),
            "pdf" => Some(Kind::Pdf),
            "heic" => Some(Kind::Heic),
            _ => None,
        }
    }
    /// The file name extension it is offered under.
    pub fn extension(self) -> &'static str {
        match self {
            Kind::Jpeg => "jpg",
            Kind::Png => "png",
            Kind::Pdf => "pdf",
            Kind::Heic => "heic",
        }
    }
    /// Whether pages show it as a picture (to those allowed) rather than only as a download.
    pub fn shown_inline(self) -> bool {
        matches!(self, Kind::Jpeg | Kind::Png)
    }
    /// Words for the page.
    pub fn label(self) -> &'static str {
        match self {
            Kind::Jpeg => "JPEG photo",
            Kind::Png => "PNG image",
            Kind::Pdf => "PDF document",
            Kind::Heic => "HEIC photo (download to open)",
        }
    }
}

/// Why a file was refused, in words for the person who chose it.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The file is empty.
    #[error("{name} is empty.")]
    Empty {
        /// The file's (cleaned) name.
        name: String,
    },
    /// The file is larger than the clinic allows.
    #[error("{name} is larger than {limit}; attach a smaller file.")]
    TooLarge {
        /// The file's (cleaned) name.
        name: String,
        /// The limit, in words ("10 MB").
        limit: String,
    },
    /// The content is not a kind the portal accepts, whatever its name says.
    #[error("{name} is not a JPEG, PNG or HEIC photo or a PDF document.")]
    WrongKind {
        /// The file's (cleaned) name.
        name: String,
    },
    /// The name says one kind of file and the content is another (a PDF renamed `.png`), or
    /// the name has no extension the portal knows.
    #[error("{name} is not what its name says: its content is {actual}. Attach the original file.")]
    Mismatch {
        /// The file's (cleaned) name.
        name: String,
        /// What the content is, in words.
        actual: &'static str,
    },
    /// The content holds markup a browser could run.
    #[error("{name} holds web page content and cannot be attached.")]
    Markup {
        /// The file's (cleaned) name.
        name: String,
    },
}

/// Sequences that make a browser treat bytes as a web page or a script, looked for (ignoring
/// case) anywhere in an attachment: a file that is both a valid image and HTML is refused.
const MARKUP: [&[u8]; 10] = [
    b"<html",
    b"<!doctype",
    b"<script",
    b"<body",
    b"<iframe",
    b"<svg",
    b"<object",
    b"<embed",
    b"<?xml",
    b"javascript:",
];

/// The kind a file name's extension claims, if it is one the portal knows.
fn claimed(raw_name: &str) -> Option<Kind> {
    let (_, ext) = raw_name.rsplit_once('.')?;
    match ext.trim().to_ascii_lowercase().as_str() {
        "jpg" | "jpeg" | "jpe" | "jfif" => Some(Kind::Jpeg),
        "png" => Some(Kind::Png),
        "pdf" => Some(Kind::Pdf),
        "heic" | "heif" | "hif" => Some(Kind::Heic),
        _ => None,
    }
}

/// Judges a file by its content and its name: its kind, or why it is refused. The content
/// decides the kind; a name whose extension claims another kind (or none the portal knows) is
/// refused, so nobody is misled by it. `shown` is the name the messages use.
pub fn judge(bytes: &[u8], raw_name: &str, shown: &str, max_bytes: usize) -> Result<Kind, Refused> {
    let name = shown.to_string();
    if bytes.is_empty() {
        return Err(Refused::Empty { name });
    }
    if bytes.len() > max_bytes {
        return Err(Refused::TooLarge {
            name,
            limit: size_words(max_bytes),
        });
    }
    let kind = sniff(bytes).ok_or_else(|| Refused::WrongKind { name: name.clone() })?;
    if holds_markup(bytes) {
        return Err(Refused::Markup { name });
    }
    if claimed(raw_name) != Some(kind) {
        return Err(Refused::Mismatch {
            name,
            actual: kind.label(),
        });
    }
    Ok(kind)
}

/// The kind a file's first bytes (its "magic") say it is.
fn sniff(bytes: &[u8]) -> Option<Kind> {
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(Kind::Jpeg);
    }
    if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A]) {
        return Some(Kind::Png);
    }
    if bytes.starts_with(b"%PDF-") {
        return Some(Kind::Pdf);
    }
    // ISO base media: a box size, "ftyp", then the major brand.
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        let brand = &bytes[8..12];
        if [
            b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1",
        ]
        .iter()
        .any(|b| brand == *b)
        {
            return Some(Kind::Heic);
        }
    }
    None
}

/// One pass over the bytes: at each `<` or `j`, whether a markup sequence starts there.
fn holds_markup(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().any(|(i, b)| {
        matches!(b, b'<' | b'j' | b'J')
            && MARKUP
                .iter()
                .any(|m| starts_with_ignoring_case(&bytes[i..], m))
    })
}

fn starts_with_ignoring_case(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.len() >= needle.len() && haystack[..needle.len()].eq_ignore_ascii_case(needle)
}

/// A size in words: "10 MB", "500 KB".
pub fn size_words(bytes: usize) -> String {
    const MB: usize = 1024 * 1024;
    if bytes >= MB {
        let tenths = bytes * 10 / MB;
        if tenths.is_multiple_of(10) {
            format!("{} MB", tenths / 10)
        } else {
            format!("{}.{} MB", tenths / 10, tenths % 10)
        }
    } else {
        format!("{} KB", bytes.div_ceil(1024))
    }
}

/// The name a file is offered under: the last part of what the browser sent, with nothing
/// but letters, digits, spaces, dots, dashes and underscores, at most 80 characters, ending in
/// the extension of the kind its content is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileName(String);

impl FileName {
    /// Cleans a submitted name for a file of `kind`.
    pub fn clean(raw: &str, kind: Kind) -> Self {
        Self(clean_stem(raw) + "." + kind.extension())
    }
    /// Wraps a name the portal stored after cleaning it.
    pub fn stored(name: String) -> Self {
        Self(name)
    }
    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn clean_stem(raw: &str) -> String {
    let last = raw.rsplit(['/', '\\']).next().unwrap_or("");
    let stem = match last.rsplit_once('.') {
        Some((stem, _)) if !stem.is_empty() => stem,
        _ => last,
    };
    let mut out = String::new();
    for c in stem.chars() {
        if out.chars().count() >= 80 {
            break;
        }
        if c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.') {
            out.push(c);
        } else if !out.ends_with('_') {
            out.push('_');
        }
    }
    let out = out.trim_matches(|c: char| c == '.' || c == ' ' || c == '_');
    if out.is_empty() {
        "attachment".to_string()
    } else {
        out.to_string()
    }
}

/// Checks how many files one message carries against the clinic's limit.
pub fn check_count(count: usize, max: usize) -> Result<(), Invalid> {
    if count > max {
        Err(Invalid(format!(
            "Attach at most {max} file{} to one message.",
            if max == 1 { "" } else { "s" }
        )))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG_1X1: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 0x0D, b'I', b'H', b'D', b'R', 0,
        0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 0x1F, 0x15, 0xC4, 0x89, 0, 0, 0, 0, b'I', b'E', b'N',
        b'D', 0xAE, 0x42, 0x60, 0x82,
    ];

    #[test]
    fn images_and_pdfs_are_known_by_their_content() {
        assert_eq!(judge(PNG_1X1, "a.png", "a", 1000), Ok(Kind::Png));
        assert_eq!(
            judge(&[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10], "a.JPEG", "a", 1000),
            Ok(Kind::Jpeg)
        );
        assert_eq!(judge(b"%PDF-1.7\n%%EOF", "a.pdf", "a", 1000), Ok(Kind::Pdf));
        let mut heic = vec![0, 0, 0, 0x18];
        heic.extend_from_slice(b"ftypheic\0\0\0\0mif1heic");
        assert_eq!(judge(&heic, "IMG_0001.HEIC", "a", 1000), Ok(Kind::Heic));
    }

    #[test]
    fn a_file_whose_name_claims_another_kind_is_refused() {
        assert!(matches!(
            judge(b"%PDF-1.4 ...", "rash.png", "rash", 1000),
            Err(Refused::Mismatch { .. })
        ));
        assert!(matches!(
            judge(PNG_1X1, "rash", "rash", 1000),
            Err(Refused::Mismatch { .. })
        ));
        assert!(matches!(
            judge(PNG_1X1, "rash.exe", "rash", 1000),
            Err(Refused::Mismatch { .. })
        ));
        assert_eq!(
            FileName::clean("rash.JPEG", Kind::Jpeg).as_str(),
            "rash.jpg"
        );
    }

    #[test]
    fn web_pages_scripts_and_svg_are_refused() {
        for (bytes, name) in [
            (&b"<html><script>alert(1)</script></html>"[..], "x.html"),
            (
                b"<?xml version=\"1.0\"?><svg onload=\"alert(1)\"/>",
                "x.svg",
            ),
            (
                b"<svg xmlns='http://www.w3.org/2000/svg'><script>1</script></svg>",
                "x.png",
            ),
            (b"GIF89a....", "x.gif"),
            (b"plain text", "x.txt"),
        ] {
            assert!(judge(bytes, name, name, 1000).is_err(), "{name}");
        }
    }

    #[test]
    fn an_image_that_is_also_a_web_page_is_refused() {
        let mut polyglot = PNG_1X1.to_vec();
        polyglot.extend_from_slice(b"<HTML><body onload=alert(1)>");
        assert!(matches!(
            judge(&polyglot, "x.png", "x", 1000),
            Err(Refused::Markup { .. })
        ));
        let mut tail = PNG_1X1.to_vec();
        tail.extend_from_slice(b"<svg");
        assert!(matches!(
            judge(&tail, "x.png", "x", 1000),
            Err(Refused::Markup { .. })
        ));
        let mut js = vec![0xFF, 0xD8, 0xFF, 0xE1];
        js.extend_from_slice(b"xx JavaScript:alert(1)");
        assert!(judge(&js, "x.jpg", "x", 1000).is_err());
    }

    #[test]
    fn empty_and_oversize_files_are_refused_with_the_limit_in_words() {
        assert!(matches!(
            judge(b"", "a.png", "a", 10),
            Err(Refused::Empty { .. })
        ));
        let err = judge(PNG_1X1, "big.png", "big", 10).expect_err("too large");
        assert!(matches!(err, Refused::TooLarge { .. }));
        assert_eq!(size_words(10 * 1024 * 1024), "10 MB");
        assert_eq!(size_words(1536 * 1024), "1.5 MB");
        assert_eq!(size_words(300), "1 KB");
    }

    #[test]
    fn names_lose_paths_markup_and_their_claimed_extension() {
        assert_eq!(
            FileName::clean("C:\\Users\\me\\<img src=x onerror=alert(1)>.png", Kind::Png).as_str(),
            "img src_x onerror_alert_1.png"
        );
        assert_eq!(
            FileName::clean("../../etc/passwd", Kind::Pdf).as_str(),
            "passwd.pdf"
        );
        assert_eq!(FileName::clean("", Kind::Jpeg).as_str(), "attachment.jpg");
        assert_eq!(
            FileName::clean("ÉCZÉMA photo.JPG", Kind::Jpeg).as_str(),
            "ÉCZÉMA photo.jpg"
        );
        let long = "a".repeat(300);
        assert_eq!(FileName::clean(&long, Kind::Png).as_str().len(), 84);
    }

    #[test]
    fn too_many_files_are_refused() {
        assert!(check_count(3, 3).is_ok());
        assert!(check_count(4, 3).is_err());
    }
}
