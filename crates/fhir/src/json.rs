//! The JSON tree the importer reads. sonic-rs parses with SIMD into one arena per document, keeps
//! each object's keys in file order, and frees a document in one go: several times faster to build,
//! write out and drop than serde_json's tree of maps, which is most of an import's work.
//! [`kind`] gives a view of a node to `match` on.

pub use sonic_rs::{
    JsonContainerTrait, JsonType, JsonValueMutTrait, JsonValueTrait, Object, Value, json,
};

/// What a JSON node is, with its contents borrowed.
#[derive(Debug, Clone, Copy)]
pub enum Kind<'a> {
    /// `null`.
    Null,
    /// `true` or `false`.
    Bool(bool),
    /// A number (read it with `as_f64`, `as_i64`, …).
    Number(&'a Value),
    /// A string, unescaped.
    String(&'a str),
    /// An array.
    Array(&'a [Value]),
    /// An object, keys in file order.
    Object(&'a Object),
}

/// What `value` is.
pub fn kind(value: &Value) -> Kind<'_> {
    match value.get_type() {
        JsonType::Null => Kind::Null,
        JsonType::Boolean => Kind::Bool(value.is_true()),
        JsonType::Number => Kind::Number(value),
        JsonType::String => Kind::String(value.as_str().unwrap_or_default()),
        JsonType::Array => Kind::Array(value.as_array().map_or(&[], |items| items.as_slice())),
        JsonType::Object => value.as_object().map_or(Kind::Null, Kind::Object),
    }
}

/// The member `key` of an object.
pub fn field<'a>(object: &'a Object, key: &str) -> Option<&'a Value> {
    object.get(&key)
}

/// The deepest nesting of arrays and objects a document may have. FHIR resources nest far less
/// (a Bundle, its entry, a resource, a contained resource, extensions on extensions); the limit
/// stops a hostile document from exhausting the stack of the parser or of any walk over the tree.
pub const MAX_DEPTH: usize = 100;

/// How large one import document may grow: the parsed tree of a Bundle takes several times its
/// bytes, so the number of entries and the length of each string are capped before it is built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The most elements `Bundle.entry` may hold.
    pub max_entries: usize,
    /// The most bytes one string may take, as written in the file (escapes included).
    pub max_string_bytes: usize,
}

impl Limits {
    /// The default cap on entries: a large Synthea patient holds tens of thousands.
    pub const DEFAULT_MAX_ENTRIES: usize = 100_000;
    /// The default cap on one string: room for a base64 document attachment of 12 MB.
    pub const DEFAULT_MAX_STRING_BYTES: usize = 16 * 1024 * 1024;
    /// No cap beyond the size of the input itself.
    pub const NONE: Limits = Limits {
        max_entries: usize::MAX,
        max_string_bytes: usize::MAX,
    };
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_entries: Self::DEFAULT_MAX_ENTRIES,
            max_string_bytes: Self::DEFAULT_MAX_STRING_BYTES,
        }
    }
}

/// Why the text was refused before it was parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanError {
    /// Arrays and objects nest deeper than [`MAX_DEPTH`]; the message says where.
    TooDeep(String),
    /// The top-level `entry` array holds more elements than [`Limits::max_entries`].
    TooManyEntries {
        /// The limit.
        limit: usize,
    },
    /// A string is longer than [`Limits::max_string_bytes`].
    StringTooLong {
        /// The limit.
        limit: usize,
        /// Its length in bytes, as written.
        bytes: usize,
        /// The index in the top-level `entry` array of the element that holds it, if any.
        entry: Option<usize>,
        /// The key the string is the value of (cut to 64 characters), or the key itself when the
        /// key is the over-long string.
        key: Option<String>,
        /// Line (1-based) where the string starts.
        line: usize,
        /// Column (1-based) where the string starts.
        column: usize,
    },
}

impl std::fmt::Display for ScanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooDeep(message) => f.write_str(message),
            Self::TooManyEntries { limit } => write!(
                f,
                "the Bundle holds more than {limit} entries, the most one Bundle may hold \
                 (--max-bundle-entries or PORTAL_MAX_BUNDLE_ENTRIES raises it); split the export \
                 into several Bundles"
            ),
            Self::StringTooLong {
                limit,
                bytes,
                key,
                line,
                column,
                ..
            } => {
                let what = match key {
                    Some(key) => format!("the string at \"{key}\""),
                    None => "a string".to_owned(),
                };
                write!(
                    f,
                    "{what} (line {line} column {column}) is {bytes} bytes long, more than the \
                     {limit} bytes one string may take (--max-string-bytes or \
                     PORTAL_MAX_STRING_BYTES raises it)"
                )
            }
        }
    }
}

/// Parses one JSON document. The error says what is wrong and where (line and column), without
/// the excerpt of the text that sonic-rs adds: that could hold health data. Documents nested
/// deeper than [`MAX_DEPTH`] are refused before the parser starts, and objects that repeat a key
/// after it (readers disagree on which of the two values counts).
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    scan(bytes, &Limits::NONE).map_err(|error| error.to_string())?;
    parse_scanned(bytes)
}

/// [`parse`] with `limits` on the `entry` array of a top-level object and on every string,
/// checked in the pass over the bytes that measures the nesting, before any tree is built.
pub fn parse_limited(bytes: &[u8], limits: &Limits) -> Result<Value, ParseError> {
    scan(bytes, limits).map_err(ParseError::Limit)?;
    parse_scanned(bytes).map_err(ParseError::Syntax)
}

/// Why [`parse_limited`] refused a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// Too deep, or over one of the [`Limits`].
    Limit(ScanError),
    /// Not JSON, or a key repeated; the message says where.
    Syntax(String),
}

fn parse_scanned(bytes: &[u8]) -> Result<Value, String> {
    let value: Value = sonic_rs::from_slice(bytes).map_err(|error| {
        if error.is_eof() || error.offset() >= bytes.trim_ascii_end().len() {
            return format!(
                "the text ends before the JSON does (line {} column {})",
                error.line(),
                error.column()
            );
        }
        let text = error.to_string();
        text.lines()
            .next()
            .unwrap_or("invalid JSON")
            .trim_end()
            .to_owned()
    })?;
    if let Some(duplicate) = repeated_key(&value) {
        return Err(duplicate.to_string());
    }
    Ok(value)
}

/// Refuses text whose arrays and objects nest deeper than [`MAX_DEPTH`], whose top-level
/// `entry` array is longer than `limits` allow, or that holds a string longer than they allow;
/// in one pass over the bytes that keeps no stack: only brackets, commas and quotes outside
/// strings count. Text that is not JSON passes, for the parser to say what is wrong.
fn scan(bytes: &[u8], limits: &Limits) -> Result<Shape, ScanError> {
    let mut shape = Shape::default();
    let mut depth = 0usize;
    let mut at = 0usize;
    // The last string that was a key, as (start, end) of its text, and the depth it was at.
    let mut last_key: Option<(usize, usize, usize)> = None;
    // Inside the top-level object's `entry` array (at depth 2): the index of the current element.
    let mut entry: Option<usize> = None;
    let mut entry_array_next = false;
    while at < bytes.len() {
        match bytes[at] {
            b'"' => {
                let start = at;
                // Skip the string: jump from quote or backslash to the next one.
                at += 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', &bytes[at..]) {
                        None => return Ok(Shape::default()), // cut short: the parser says so
                        Some(offset) if bytes[at + offset] == b'\\' => at += offset + 2,
                        Some(offset) => {
                            at += offset;
                            break;
                        }
                    }
                    if at >= bytes.len() {
                        return Ok(Shape::default());
                    }
                }
                let length = at - start - 1;
                let after = bytes[at + 1..]
                    .iter()
                    .position(|byte| !byte.is_ascii_whitespace())
                    .map(|offset| bytes[at + 1 + offset]);
                let is_key = after == Some(b':');
                if length > limits.max_string_bytes {
                    let (line, column) = line_and_column(bytes, start);
                    let key = if is_key {
                        Some((start + 1, at))
                    } else {
                        last_key
                            .filter(|(_, _, key_depth)| *key_depth == depth)
                            .map(|(from, to, _)| (from, to))
                    };
                    return Err(ScanError::StringTooLong {
                        limit: limits.max_string_bytes,
                        bytes: length,
                        entry,
                        key: key.map(|(from, to)| {
                            String::from_utf8_lossy(&bytes[from..to.min(from + 64)]).into_owned()
                        }),
                        line,
                        column,
                    });
                }
                if is_key {
                    last_key = Some((start + 1, at, depth));
                    entry_array_next = depth == 1 && &bytes[start + 1..at] == b"entry";
                }
            }
            b'{' | b'[' => {
                if bytes[at] == b'[' && depth == 1 && entry_array_next {
                    entry = Some(0);
                    shape.entry_arrays += 1;
                    shape.entry_open = at;
                    shape.entry_commas.clear();
                }
                entry_array_next = false;
                depth += 1;
                if depth > MAX_DEPTH {
                    let (line, column) = line_and_column(bytes, at);
                    return Err(ScanError::TooDeep(format!(
                        "arrays and objects nest deeper than {MAX_DEPTH} levels \
                         (line {line} column {column})"
                    )));
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                if depth < 2 && entry.take().is_some() {
                    shape.entry_close = at;
                }
            }
            b',' if depth == 2 => {
                if let Some(index) = entry.as_mut() {
                    shape.entry_commas.push(at);
                    *index += 1;
                    if *index >= limits.max_entries {
                        return Err(ScanError::TooManyEntries {
                            limit: limits.max_entries,
                        });
                    }
                }
            }
            b' ' | b'\t' | b'\n' | b'\r' | b':' | b',' => {}
            _ => entry_array_next = false,
        }
        at += 1;
    }
    Ok(shape)
}

/// Where the top-level `entry` array is, as [`scan`] found it.
#[derive(Debug, Default)]
struct Shape {
    /// How many top-level `entry` arrays the text has (more than one is an error the parser finds).
    entry_arrays: usize,
    /// The offset of its `[`.
    entry_open: usize,
    /// The offset of its `]`.
    entry_close: usize,
    /// The offsets of the commas between its elements.
    entry_commas: Vec<usize>,
}

/// A document with a top-level `entry` array, parsed as its envelope (the array left empty) with
/// its elements kept as text, each parsed when it is read: a reader can hold one entry's tree at
/// a time, and read the entries more than once, where one tree of the whole document would hold
/// them all until its last part is dropped.
#[derive(Debug)]
pub struct Split<'a> {
    /// The document with `entry` as an empty array.
    pub envelope: Value,
    bytes: &'a [u8],
    /// Each element's text as (start, end) offsets into `bytes`.
    spans: Vec<(usize, usize)>,
    /// The elements, when the document had to be parsed whole (then `spans` is empty).
    parsed: Vec<Value>,
}

impl Split<'_> {
    /// How many elements `entry` has.
    pub fn len(&self) -> usize {
        self.spans.len().max(self.parsed.len())
    }

    /// Whether `entry` is empty (or missing).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many bytes of text element `index` takes (0 for one parsed with the whole document).
    pub fn text_len(&self, index: usize) -> usize {
        self.spans.get(index).map_or(0, |(from, to)| to - from)
    }

    /// Parses element `index` (`Value::default()` past the end). An element that does not parse
    /// makes the whole document parse again, so the error says what [`parse_limited`] would.
    pub fn entry(&self, index: usize) -> Result<Value, ParseError> {
        let Some((from, to)) = self.spans.get(index) else {
            return Ok(self.parsed.get(index).cloned().unwrap_or_default());
        };
        match parse_scanned(&self.bytes[*from..*to]) {
            Ok(entry) => Ok(entry),
            Err(_) => {
                let mut whole = parse_scanned(self.bytes).map_err(ParseError::Syntax)?;
                Ok(whole
                    .get_mut("entry")
                    .and_then(Value::as_array_mut)
                    .and_then(|entries| entries.get_mut(index))
                    .map(std::mem::take)
                    .unwrap_or_default())
            }
        }
    }
}

/// [`parse_limited`], with the elements of the top-level `entry` array left to be parsed one at a
/// time ([`Split::entry`]). The envelope is parsed here; an element's own errors appear when it
/// is read.
pub fn parse_split<'a>(bytes: &'a [u8], limits: &Limits) -> Result<Split<'a>, ParseError> {
    let shape = scan(bytes, limits).map_err(ParseError::Limit)?;
    let whole = || -> Result<Split<'a>, ParseError> {
        let mut envelope = parse_scanned(bytes).map_err(ParseError::Syntax)?;
        let parsed = match envelope.get_mut("entry").and_then(Value::as_array_mut) {
            Some(entries) => entries.iter_mut().map(std::mem::take).collect(),
            None => Vec::new(),
        };
        Ok(Split {
            envelope,
            bytes,
            spans: Vec::new(),
            parsed,
        })
    };
    if shape.entry_arrays != 1 || shape.entry_close <= shape.entry_open {
        return whole();
    }
    let mut outer = Vec::with_capacity(bytes.len() - (shape.entry_close - shape.entry_open));
    outer.extend_from_slice(&bytes[..=shape.entry_open]);
    outer.extend_from_slice(&bytes[shape.entry_close..]);
    let Ok(envelope) = parse_scanned(&outer) else {
        return whole();
    };
    drop(outer);
    let inner = &bytes[shape.entry_open + 1..shape.entry_close];
    let mut spans = Vec::new();
    if !inner.trim_ascii().is_empty() {
        spans.reserve_exact(shape.entry_commas.len() + 1);
        let mut from = shape.entry_open + 1;
        for end in shape
            .entry_commas
            .iter()
            .copied()
            .chain([shape.entry_close])
        {
            spans.push((from, end));
            from = end + 1;
        }
    }
    Ok(Split {
        envelope,
        bytes,
        spans,
        parsed: Vec::new(),
    })
}

fn line_and_column(bytes: &[u8], at: usize) -> (usize, usize) {
    let before = &bytes[..at];
    let line = memchr::memchr_iter(b'\n', before).count() + 1;
    let line_start = memchr::memrchr(b'\n', before).map_or(0, |newline| newline + 1);
    (line, at - line_start + 1)
}

/// A key that one object holds twice, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RepeatedKey {
    /// Where the object is, as `entry[3].resource.content[0].attachment`.
    pub path: String,
    /// The repeated key (cut to 64 characters).
    pub key: String,
}

impl std::fmt::Display for RepeatedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let place = if self.path.is_empty() {
            "the top-level object".to_owned()
        } else {
            self.path.clone()
        };
        write!(
            f,
            "the key \"{}\" appears twice in {place}; a key may appear once per object",
            self.key
        )
    }
}

/// The first key some object of `value` repeats. The tree is at most [`MAX_DEPTH`] deep (it came
/// from [`parse`]), so the walk's recursion is bounded.
pub fn repeated_key(value: &Value) -> Option<RepeatedKey> {
    // The steps come back innermost first; nothing is allocated unless a key repeats.
    fn walk(value: &Value) -> Option<(Vec<String>, String)> {
        match kind(value) {
            Kind::Array(items) => items.iter().enumerate().find_map(|(index, item)| {
                let (mut steps, key) = walk(item)?;
                steps.push(format!("[{index}]"));
                Some((steps, key))
            }),
            Kind::Object(object) => {
                if let Some(key) = first_repeat(object) {
                    return Some((Vec::new(), key.chars().take(64).collect()));
                }
                object.iter().find_map(|(name, member)| {
                    let (mut steps, key) = walk(member)?;
                    steps.push(name.to_owned());
                    Some((steps, key))
                })
            }
            _ => None,
        }
    }
    let (steps, key) = walk(value)?;
    let mut path = String::new();
    for step in steps.iter().rev() {
        if !step.starts_with('[') && !path.is_empty() {
            path.push('.');
        }
        path.push_str(step);
    }
    Some(RepeatedKey { path, key })
}

fn first_repeat(object: &Object) -> Option<&str> {
    let keys: Vec<&str> = object.iter().map(|(key, _)| key).collect();
    if keys.len() <= 24 {
        keys.iter()
            .enumerate()
            .find(|(at, key)| keys[..*at].contains(key))
            .map(|(_, key)| *key)
    } else {
        let mut seen = std::collections::HashSet::with_capacity(keys.len());
        keys.into_iter().find(|key| !seen.insert(*key))
    }
}

/// Writes a value as compact JSON, keys in the order they were read.
pub fn to_string(value: &Value) -> String {
    // Writing a Value into a String cannot fail: it holds only valid JSON and UTF-8.
    sonic_rs::to_string(value).unwrap_or_default()
}

/// Writes any serialisable value as compact JSON (what serde_json writes, faster).
pub fn write<T: serde::Serialize>(value: &T) -> Result<String, String> {
    sonic_rs::to_string(value).map_err(|error| error.to_string())
}

/// A JSON string value holding `text`.
pub fn string(text: &str) -> Value {
    Value::from(text)
}

/// Copies the members of object `extra` into object `into`, replacing those of the same name.
#[cfg(test)]
pub(crate) fn merge(into: &mut Value, extra: Value) {
    if let (Some(fields), Some(more)) = (into.as_object_mut(), extra.as_object()) {
        for (key, value) in more.iter() {
            fields.insert(key, value.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_borrow_what_the_document_holds() {
        let value = parse(br#"{"a": [1, "x\u00e9", true, null, {"b": 2.5}]}"#).expect("json");
        let Kind::Object(object) = kind(&value) else {
            panic!("an object")
        };
        let Some(Kind::Array(items)) = field(object, "a").map(kind) else {
            panic!("an array")
        };
        assert!(matches!(kind(&items[0]), Kind::Number(n) if n.as_i64() == Some(1)));
        assert!(matches!(kind(&items[1]), Kind::String("x\u{e9}")));
        assert!(matches!(kind(&items[2]), Kind::Bool(true)));
        assert!(matches!(kind(&items[3]), Kind::Null));
        assert!(matches!(kind(&items[4]), Kind::Object(_)));
        assert!(field(object, "missing").is_none());
    }

    #[test]
    fn writing_keeps_the_key_order_and_drops_the_spaces() {
        let value = parse(b"{ \"z\": 1,\n  \"a\": [ \"b\" ] }").expect("json");
        assert_eq!(to_string(&value), r#"{"z":1,"a":["b"]}"#);
    }

    #[test]
    fn bad_json_says_where() {
        let error = parse(b"{\"a\": \"secret\" x}").expect_err("bad");
        assert!(error.contains("line 1 column"), "{error}");
        assert!(!error.contains("secret"), "no excerpt of the text: {error}");
        let cut = parse(b"{\"a\": [1, 2").expect_err("cut short");
        assert!(
            cut.starts_with("the text ends before the JSON does (line 1"),
            "{cut}"
        );
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let deep = format!("{}{}", "[".repeat(200_000), "]".repeat(200_000));
        let error = parse(deep.as_bytes()).expect_err("too deep");
        assert!(error.contains("deeper than 100 levels"), "{error}");
        assert!(error.contains("line 1 column 101"), "{error}");
        let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
        assert!(parse(ok.as_bytes()).is_ok());
        // Brackets inside strings, escaped quotes included, do not count.
        let text = format!(r#"{{"a": "{}\"{}"}}"#, "[".repeat(500), "{".repeat(500));
        assert!(
            parse(text.as_bytes()).is_ok(),
            "brackets in a string are text"
        );
    }

    #[test]
    fn a_repeated_key_is_refused_with_its_place() {
        let error = parse(br#"{"entry": [{"resource": {"content": [{"attachment": {"data": "QQ==", "data": "Qg=="}}]}}]}"#)
            .expect_err("repeated key");
        assert_eq!(
            error,
            "the key \"data\" appears twice in entry[0].resource.content[0].attachment; \
             a key may appear once per object"
        );
        let top = parse(br#"{"a": 1, "b": 2, "a": 3}"#).expect_err("repeated at the top");
        assert!(top.contains("in the top-level object"), "{top}");
        let many: String = (0..40).map(|i| format!(r#""k{i}": {i}, "#)).collect();
        let wide = format!("{{{many}\"k7\": 0}}");
        assert!(parse(wide.as_bytes()).expect_err("wide").contains("\"k7\""));
        assert!(
            parse(br#"{"a": {"x": 1}, "b": {"x": 2}}"#).is_ok(),
            "same key, two objects"
        );
    }

    fn limits(max_entries: usize, max_string_bytes: usize) -> Limits {
        Limits {
            max_entries,
            max_string_bytes,
        }
    }

    #[test]
    fn a_bundle_with_more_entries_than_the_limit_is_refused_before_parsing() {
        let entries = |n: usize| {
            let items: Vec<String> = (0..n).map(|i| format!(r#"{{"i":[{i},{i}]}}"#)).collect();
            format!(
                r#"{{"resourceType":"Bundle","meta":{{"tag":[1,2,3,4]}},"entry":[{}],"x":[1,2,3,4,5]}}"#,
                items.join(",")
            )
        };
        assert!(parse_limited(entries(3).as_bytes(), &limits(3, 100)).is_ok());
        assert_eq!(
            parse_limited(entries(4).as_bytes(), &limits(3, 100)),
            Err(ParseError::Limit(ScanError::TooManyEntries { limit: 3 }))
        );
        // Commas in other arrays, in nested ones and in strings do not count.
        let other = r#"{"entry":[{"a":[1,2,3,4,5,6]},{"b":"x,y,z,w"}],"list":[1,2,3,4,5,6]}"#;
        assert!(parse_limited(other.as_bytes(), &limits(2, 100)).is_ok());
        let nested = r#"{"a":{"entry":[1,2,3,4,5]}}"#;
        assert!(parse_limited(nested.as_bytes(), &limits(2, 100)).is_ok());
        let message = ScanError::TooManyEntries { limit: 3 }.to_string();
        assert!(message.contains("more than 3 entries"), "{message}");
        assert!(message.contains("--max-bundle-entries"), "{message}");
    }

    #[test]
    fn a_string_longer_than_the_limit_is_refused_with_its_entry_and_key() {
        let text = format!(
            "{{\"entry\":[{{\"a\":\"ok\"}},\n{{\"resource\":{{\"data\": \"{}\"}}}}]}}",
            "Q".repeat(40)
        );
        let Err(ParseError::Limit(error)) = parse_limited(text.as_bytes(), &limits(10, 39)) else {
            panic!("a string over the limit");
        };
        assert_eq!(
            error,
            ScanError::StringTooLong {
                limit: 39,
                bytes: 40,
                entry: Some(1),
                key: Some("data".into()),
                line: 2,
                column: 22,
            }
        );
        let message = error.to_string();
        assert!(message.contains("\"data\"") && message.contains("--max-string-bytes"));
        assert!(
            !message.contains("QQQ"),
            "no excerpt of the text: {message}"
        );
        assert!(parse_limited(text.as_bytes(), &limits(10, 40)).is_ok());
        // Escapes count as written; a key is a string too.
        let escaped = r#"{"k":"\"\"\""}"#;
        assert!(parse_limited(escaped.as_bytes(), &limits(10, 5)).is_err());
        assert!(parse_limited(escaped.as_bytes(), &limits(10, 6)).is_ok());
        let long_key = r#"{"abcdefgh":1}"#;
        assert!(matches!(
            parse_limited(long_key.as_bytes(), &limits(10, 7)),
            Err(ParseError::Limit(ScanError::StringTooLong { key: Some(key), entry: None, .. })) if key == "abcdefgh"
        ));
    }

    #[test]
    fn entries_are_parsed_apart_and_errors_read_as_for_the_whole_document() {
        let text = br#"{"resourceType":"Bundle", "entry": [ {"a":1} ,{"b":[1,2]}
            ], "type":"batch"}"#;
        let split = parse_split(text, &Limits::default()).expect("valid");
        assert_eq!(
            to_string(&split.envelope),
            r#"{"resourceType":"Bundle","entry":[],"type":"batch"}"#
        );
        let entries: Vec<String> = (0..split.len())
            .map(|index| to_string(&split.entry(index).expect("parses")))
            .collect();
        assert_eq!(entries, [r#"{"a":1}"#, r#"{"b":[1,2]}"#]);
        // Read again, the same.
        assert_eq!(to_string(&split.entry(1).expect("again")), r#"{"b":[1,2]}"#);
        let empty = parse_split(br#"{"entry": [ ]}"#, &Limits::default()).expect("valid");
        assert!(empty.is_empty());
        // Refused with the whole document's error, whether the envelope or an element is bad.
        for bad in [
            &br#"{"entry":[{"a":1},{"b":x}]}"#[..],
            br#"{"entry":[{"a":1},,{"b":2}]}"#,
            br#"{"entry":[{"a":1,"a":2}]}"#,
            br#"{"entry":[1],"entry":[2]}"#,
            br#"{"entry":[1] x}"#,
        ] {
            let read = parse_split(bad, &Limits::default()).and_then(|split| {
                (0..split.len()).try_for_each(|index| split.entry(index).map(|_| ()))
            });
            let Err(ParseError::Syntax(split)) = read else {
                panic!("{} is refused", String::from_utf8_lossy(bad));
            };
            assert_eq!(Err(split), parse(bad).map(|_| ()));
        }
    }
}
