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

/// Parses one JSON document. The error says what is wrong and where (line and column), without
/// the excerpt of the text that sonic-rs adds: that could hold health data. Documents nested
/// deeper than [`MAX_DEPTH`] are refused before the parser starts, and objects that repeat a key
/// after it (readers disagree on which of the two values counts).
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    check_depth(bytes)?;
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

/// Refuses text whose arrays and objects nest deeper than [`MAX_DEPTH`], in one pass over the
/// bytes that keeps no stack: only brackets outside strings count.
fn check_depth(bytes: &[u8]) -> Result<(), String> {
    let mut depth = 0usize;
    let mut at = 0usize;
    while at < bytes.len() {
        match bytes[at] {
            b'"' => {
                // Skip the string: jump from quote or backslash to the next one.
                at += 1;
                loop {
                    match memchr::memchr2(b'"', b'\\', &bytes[at..]) {
                        None => return Ok(()), // cut short: the parser says so
                        Some(offset) if bytes[at + offset] == b'\\' => at += offset + 2,
                        Some(offset) => {
                            at += offset;
                            break;
                        }
                    }
                    if at >= bytes.len() {
                        return Ok(());
                    }
                }
            }
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    let (line, column) = line_and_column(bytes, at);
                    return Err(format!(
                        "arrays and objects nest deeper than {MAX_DEPTH} levels \
                         (line {line} column {column})"
                    ));
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
        at += 1;
    }
    Ok(())
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
}
