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

/// Parses one JSON document. The error says what is wrong and where (line and column), without
/// the excerpt of the text that sonic-rs adds: that could hold health data.
pub fn parse(bytes: &[u8]) -> Result<Value, String> {
    sonic_rs::from_slice(bytes).map_err(|error| {
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
    })
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
}
