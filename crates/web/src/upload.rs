//! Forms that carry files (`multipart/form-data`): read whole, within a per-request limit and a
//! budget shared by every request, by the CSRF check, which parses them once and hands the
//! parts to the handler ([`Uploaded`]).

use axum::response::{IntoResponse, Response};
use portal_app::messages::Upload;

/// The most bytes one form with files may carry.
pub const MAX_UPLOAD_BYTES: usize = 52 * 1024 * 1024;
/// The bytes of forms with files all requests together may hold at once.
pub const UPLOAD_BUDGET_BYTES: usize = 2 * MAX_UPLOAD_BYTES;
/// The most parts one form may have.
const MAX_PARTS: usize = 40;
/// The most bytes of a part's headers.
const MAX_PART_HEADERS: usize = 8 * 1024;
/// The most bytes of one text field.
const MAX_TEXT_FIELD: usize = 64 * 1024;

/// A parsed form with files: its text fields and its files, in the order sent.
#[derive(Clone, Debug, Default)]
pub struct MultipartForm {
    fields: Vec<(String, String)>,
    files: Vec<Upload>,
}

impl MultipartForm {
    /// The first value of a text field.
    pub fn text(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
    /// The first value of a text field, or "".
    pub fn get(&self, name: &str) -> String {
        self.text(name).unwrap_or_default().to_string()
    }
    /// Every text field, in the order sent.
    pub fn fields(&self) -> &[(String, String)] {
        &self.fields
    }
    /// The files sent, leaving none behind. A file input left empty sends a part with no
    /// name and no bytes, which is not a file.
    pub fn take_files(&mut self) -> Vec<Upload> {
        std::mem::take(&mut self.files)
    }
}

/// Why a form with files could not be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UploadError {
    /// The request does not say where its parts begin.
    #[error("the form's boundary is missing")]
    NoBoundary,
    /// The body is not well-formed multipart.
    #[error("the form is malformed")]
    Malformed,
    /// Too many parts, or a text field too long.
    #[error("the form has too many or too large fields")]
    TooMuch,
}

/// The boundary a `multipart/form-data` content type names, if it is one.
pub fn boundary(content_type: &str) -> Option<Result<String, UploadError>> {
    let mut parts = content_type.split(';');
    let media = parts.next()?.trim();
    if !media.eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    let found = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
    });
    Some(match found {
        Some(b) if !b.is_empty() && b.len() <= 70 => Ok(b),
        _ => Err(UploadError::NoBoundary),
    })
}

/// Parses a whole `multipart/form-data` body.
pub fn parse(body: &[u8], boundary: &str) -> Result<MultipartForm, UploadError> {
    let dash = format!("--{boundary}");
    let delimiter = format!("\r\n--{boundary}");
    let finder = memchr::memmem::Finder::new(delimiter.as_bytes());
    // The first boundary may open the body or follow a preamble.
    let mut at = if body.starts_with(dash.as_bytes()) {
        dash.len()
    } else {
        finder.find(body).ok_or(UploadError::Malformed)? + delimiter.len()
    };
    let mut form = MultipartForm::default();
    for _ in 0..=MAX_PARTS {
        let rest = &body[at..];
        if rest.starts_with(b"--") {
            return Ok(form);
        }
        let rest = rest.strip_prefix(b"\r\n").ok_or(UploadError::Malformed)?;
        let head_end = memchr::memmem::find(&rest[..rest.len().min(MAX_PART_HEADERS)], b"\r\n\r\n")
            .ok_or(UploadError::Malformed)?;
        let head = std::str::from_utf8(&rest[..head_end]).map_err(|_| UploadError::Malformed)?;
        let content = &rest[head_end + 4..];
        let end = finder.find(content).ok_or(UploadError::Malformed)?;
        let (name, filename) = disposition(head).ok_or(UploadError::Malformed)?;
        let value = &content[..end];
        match filename {
            Some(file) => {
                if !(file.is_empty() && value.is_empty()) {
                    form.files.push(Upload {
                        name: file,
                        bytes: value.to_vec(),
                    });
                }
            }
            None => {
                if value.len() > MAX_TEXT_FIELD {
                    return Err(UploadError::TooMuch);
                }
                let text = String::from_utf8(value.to_vec()).map_err(|_| UploadError::Malformed)?;
                form.fields.push((name, text));
            }
        }
        // Past the content and its delimiter.
        at = body.len() - content.len() + end + delimiter.len();
    }
    Err(UploadError::TooMuch)
}

/// A part's field name and, for a file, its file name, from its `Content-Disposition`.
fn disposition(head: &str) -> Option<(String, Option<String>)> {
    let line = head.split("\r\n").find(|l| {
        l.get(..20)
            .is_some_and(|p| p.eq_ignore_ascii_case("content-disposition:"))
    })?;
    let mut name = None;
    let mut filename = None;
    for param in split_params(&line[20..]).into_iter().skip(1) {
        let Some((k, v)) = param.split_once('=') else {
            continue;
        };
        let v = unquote(v.trim());
        match k.trim().to_ascii_lowercase().as_str() {
            "name" => name = Some(v),
            "filename" => filename = Some(v),
            _ => {}
        }
    }
    Some((name?, filename))
}

/// Splits at `;` outside double quotes.
fn split_params(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            ';' if !quoted => {
                out.push(s[start..i].trim());
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(s[start..].trim());
    out
}

fn unquote(v: &str) -> String {
    match v.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
        Some(inner) => inner.replace("\\\"", "\"").replace("\\\\", "\\"),
        None => v.to_string(),
    }
}

/// A form that may carry files, for the handler: the parts the CSRF check parsed from a
/// `multipart/form-data` body, or the fields of an ordinary form (which has no files).
pub struct Uploaded(pub MultipartForm);

impl<S: Send + Sync> axum::extract::FromRequest<S> for Uploaded {
    type Rejection = Response;

    async fn from_request(
        mut request: axum::extract::Request,
        state: &S,
    ) -> Result<Self, Self::Rejection> {
        if let Some(form) = request.extensions_mut().remove::<MultipartForm>() {
            return Ok(Uploaded(form));
        }
        let unreadable = || {
            crate::error::error_page(
                axum::http::StatusCode::BAD_REQUEST,
                "This form could not be read",
                vec!["Send the form from the portal's page.".into()],
            )
            .into_response()
        };
        let bytes = axum::body::Bytes::from_request(request, state)
            .await
            .map_err(|_| unreadable())?;
        let fields = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
            .map_err(|_| unreadable())?;
        Ok(Uploaded(MultipartForm {
            fields,
            files: Vec::new(),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(parts: &[(&str, Option<&str>, &[u8])]) -> Vec<u8> {
        let mut b = Vec::new();
        for (name, file, value) in parts {
            b.extend_from_slice(b"--XyZ\r\n");
            match file {
                Some(f) => b.extend_from_slice(
                    format!(
                        "Content-Disposition: form-data; name=\"{name}\"; filename=\"{f}\"\r\n\
                         Content-Type: application/octet-stream\r\n\r\n"
                    )
                    .as_bytes(),
                ),
                None => b.extend_from_slice(
                    format!("Content-Disposition: form-data; name=\"{name}\"\r\n\r\n").as_bytes(),
                ),
            }
            b.extend_from_slice(value);
            b.extend_from_slice(b"\r\n");
        }
        b.extend_from_slice(b"--XyZ--\r\n");
        b
    }

    #[test]
    fn fields_and_files_come_out_as_sent() {
        let png = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0, b'-', b'-'];
        let raw = body(&[
            ("csrf", None, b"token"),
            ("body", None, "Line one\r\nLine two é".as_bytes()),
            ("files", Some("a;b \"c\".png"), &png),
            ("files", Some(""), b""),
        ]);
        let mut form = parse(&raw, "XyZ").expect("parsed");
        assert_eq!(form.text("csrf"), Some("token"));
        assert_eq!(form.get("body"), "Line one\r\nLine two é");
        let files = form.take_files();
        assert_eq!(files.len(), 1, "an empty file input is no file");
        assert_eq!(files[0].bytes, png);
        assert_eq!(files[0].name, "a;b \"c\".png");
    }

    #[test]
    fn boundaries_come_from_the_content_type() {
        assert_eq!(
            boundary("multipart/form-data; boundary=----WebKitFormBoundaryA1"),
            Some(Ok("----WebKitFormBoundaryA1".into()))
        );
        assert_eq!(
            boundary("Multipart/Form-Data; boundary=\"q\""),
            Some(Ok("q".into()))
        );
        assert_eq!(
            boundary("multipart/form-data"),
            Some(Err(UploadError::NoBoundary))
        );
        assert_eq!(boundary("application/x-www-form-urlencoded"), None);
    }

    #[test]
    fn broken_and_oversized_forms_are_refused() {
        assert!(parse(b"garbage", "XyZ").is_err());
        assert!(parse(b"--XyZ\r\nno headers end", "XyZ").is_err());
        let unterminated = b"--XyZ\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nvalue";
        assert!(parse(unterminated, "XyZ").is_err());
        let no_name = b"--XyZ\r\nContent-Type: text/plain\r\n\r\nv\r\n--XyZ--";
        assert!(parse(no_name, "XyZ").is_err());
        let long = vec![b'a'; MAX_TEXT_FIELD + 1];
        assert_eq!(
            parse(&body(&[("body", None, &long)]), "XyZ").err(),
            Some(UploadError::TooMuch)
        );
        let many: Vec<(&str, Option<&str>, &[u8])> = vec![("x", None, b"1"); MAX_PARTS + 2];
        assert_eq!(parse(&body(&many), "XyZ").err(), Some(UploadError::TooMuch));
    }
}
