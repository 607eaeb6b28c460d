//! FHIR search, as the read API offers it: which resource types are served, which search
//! parameters each has (those US Core 6.1 asks for), what an import indexes of a resource for
//! them, and a search request checked into a [`Search`]. An unknown parameter, modifier or
//! value is refused with words that say which, never ignored.
//!
//! Every parameter is one of three kinds. A token (`code=http://loinc.org|4548-4`, `status=final`)
//! matches a coding, identifier or code; a date (`date=ge2020-01-01&date=lt2021`) compares the
//! span the resource's date stands for with the span the search value stands for, as FHIR's
//! prefixes say; a string (`name=smi`) matches the start of any part of a name or address,
//! whatever the case. `patient` (and `subject`) name the record the resources are in.

use crate::json::{JsonContainerTrait, JsonValueTrait, Value};
use crate::primitives::date_span_micros;

/// The resource types the read API serves, with the search parameters of each.
pub const SERVED: &[(&str, &[Param])] = &[
    ("Patient", PATIENT),
    ("AllergyIntolerance", ALLERGY),
    ("Appointment", APPOINTMENT),
    ("CarePlan", CARE_PLAN),
    ("CareTeam", CARE_TEAM),
    ("Communication", COMMUNICATION),
    ("Condition", CONDITION),
    ("DiagnosticReport", REPORT),
    ("DocumentReference", DOCUMENT),
    ("Encounter", ENCOUNTER),
    ("Goal", GOAL),
    ("Immunization", IMMUNIZATION),
    ("Location", LOCATION),
    ("Medication", &[]),
    ("MedicationRequest", MEDICATION_REQUEST),
    ("Observation", OBSERVATION),
    ("Organization", ORGANIZATION),
    ("Practitioner", PRACTITIONER),
    ("Procedure", PROCEDURE),
    ("Provenance", &[]),
];

/// How a parameter matches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A code, coding or identifier: `[system|]code`.
    Token,
    /// A date, dateTime, instant or Period, searched with a prefix.
    Date,
    /// Text: the start of any word-part, whatever the case.
    Text,
}

impl Kind {
    /// The FHIR name of the parameter type (for the CapabilityStatement).
    pub fn fhir_type(self) -> &'static str {
        match self {
            Kind::Token => "token",
            Kind::Date => "date",
            Kind::Text => "string",
        }
    }
}

/// One search parameter of a resource type.
#[derive(Clone, Copy, Debug)]
pub struct Param {
    /// Its name in a search.
    pub name: &'static str,
    /// How it matches.
    pub kind: Kind,
    /// The elements it reads, as dotted paths (arrays on the way are read whole).
    pub paths: &'static [&'static str],
}

const fn token(name: &'static str, paths: &'static [&'static str]) -> Param {
    Param {
        name,
        kind: Kind::Token,
        paths,
    }
}

const fn date(name: &'static str, paths: &'static [&'static str]) -> Param {
    Param {
        name,
        kind: Kind::Date,
        paths,
    }
}

const fn text(name: &'static str, paths: &'static [&'static str]) -> Param {
    Param {
        name,
        kind: Kind::Text,
        paths,
    }
}

const PATIENT: &[Param] = &[
    token("identifier", &["identifier"]),
    text("name", &["name"]),
    text("family", &["name.family"]),
    text("given", &["name.given"]),
    date("birthdate", &["birthDate"]),
    token("gender", &["gender"]),
];
const ALLERGY: &[Param] = &[token("clinical-status", &["clinicalStatus"])];
const APPOINTMENT: &[Param] = &[
    token("status", &["status"]),
    date("date", &["start"]),
    token("service-type", &["serviceType"]),
];
const COMMUNICATION: &[Param] = &[
    token("category", &["category"]),
    date("sent", &["sent"]),
    token("status", &["status"]),
];
const CARE_PLAN: &[Param] = &[
    token("category", &["category"]),
    token("status", &["status"]),
    date("date", &["period"]),
];
const CARE_TEAM: &[Param] = &[
    token("status", &["status"]),
    token("role", &["participant.role"]),
];
const CONDITION: &[Param] = &[
    token("category", &["category"]),
    token("clinical-status", &["clinicalStatus"]),
    token("code", &["code"]),
    date("onset-date", &["onsetDateTime", "onsetPeriod"]),
    date("recorded-date", &["recordedDate"]),
    date("abatement-date", &["abatementDateTime", "abatementPeriod"]),
];
const REPORT: &[Param] = &[
    token("category", &["category"]),
    token("code", &["code"]),
    date("date", &["effectiveDateTime", "effectivePeriod"]),
    token("status", &["status"]),
];
const DOCUMENT: &[Param] = &[
    token("identifier", &["identifier"]),
    token("category", &["category"]),
    token("type", &["type"]),
    date("date", &["date"]),
    date("period", &["context.period"]),
    token("status", &["status"]),
];
const ENCOUNTER: &[Param] = &[
    token("identifier", &["identifier"]),
    date("date", &["period"]),
    token("status", &["status"]),
    token("class", &["class"]),
    token("type", &["type"]),
];
const GOAL: &[Param] = &[
    token("lifecycle-status", &["lifecycleStatus"]),
    date("target-date", &["target.dueDate"]),
    token("description", &["description"]),
];
const IMMUNIZATION: &[Param] = &[
    date("date", &["occurrenceDateTime"]),
    token("status", &["status"]),
    token("vaccine-code", &["vaccineCode"]),
];
const LOCATION: &[Param] = &[
    token("identifier", &["identifier"]),
    text("name", &["name", "alias"]),
    text("address", &["address"]),
    text("address-city", &["address.city"]),
    text("address-state", &["address.state"]),
    text("address-postalcode", &["address.postalCode"]),
];
const MEDICATION_REQUEST: &[Param] = &[
    token("status", &["status"]),
    token("intent", &["intent"]),
    date("authoredon", &["authoredOn"]),
];
const OBSERVATION: &[Param] = &[
    token("category", &["category"]),
    token("code", &["code"]),
    date(
        "date",
        &["effectiveDateTime", "effectivePeriod", "effectiveInstant"],
    ),
    token("status", &["status"]),
];
const ORGANIZATION: &[Param] = &[
    token("identifier", &["identifier"]),
    text("name", &["name", "alias"]),
    text("address", &["address"]),
];
const PRACTITIONER: &[Param] = &[
    token("identifier", &["identifier"]),
    text("name", &["name"]),
    text("family", &["name.family"]),
    text("given", &["name.given"]),
];
const PROCEDURE: &[Param] = &[
    token("code", &["code"]),
    date("date", &["performedDateTime", "performedPeriod"]),
    token("status", &["status"]),
];

/// The parameters of a served resource type; `None` for a type the API does not serve.
pub fn params_of(resource_type: &str) -> Option<&'static [Param]> {
    SERVED
        .iter()
        .find(|(t, _)| *t == resource_type)
        .map(|(_, p)| *p)
}

/// The served type named `name`, as the table spells it.
pub fn served_type(name: &str) -> Option<&'static str> {
    SERVED.iter().find(|(t, _)| *t == name).map(|(t, _)| *t)
}

/// Whether resources of this type are in a patient's record (searched with `patient=`).
pub fn in_patient_compartment(resource_type: &str) -> bool {
    !matches!(
        resource_type,
        "Patient" | "Practitioner" | "Organization" | "Location" | "Medication"
    )
}

/// What an import indexes of one resource for search. Kept compact (a part of a large import
/// holds a thousand of these at once): the tokens are lines of one text.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Terms {
    /// Tokens and words, one per line: parameter, tab, system, tab, value; words are lower
    /// case with no system.
    tokens: String,
    /// Dates: (parameter, first microsecond, last microsecond), inclusive, UTC.
    pub dates: Vec<(&'static str, i64, i64)>,
}

impl Terms {
    /// The tokens and words, as (parameter, system, value).
    pub fn tokens(&self) -> impl Iterator<Item = (&str, &str, &str)> {
        self.tokens.lines().filter_map(|line| {
            let mut parts = line.splitn(3, '\t');
            Some((parts.next()?, parts.next()?, parts.next()?))
        })
    }
}

impl Condition {
    /// Whether a resource with these terms, last stored at `last_updated` (Unix microseconds),
    /// meets this condition: the same test the store's search makes of its index, for the
    /// resources the portal writes itself and searches in memory.
    pub fn holds(&self, terms: &Terms, last_updated: i64) -> bool {
        match self {
            Condition::Token { param, any } => terms.tokens().any(|(p, system, value)| {
                p == *param
                    && any.iter().any(|want| {
                        want.code.as_deref().is_none_or(|code| code == value)
                            && want.system.as_deref().is_none_or(|s| s == system)
                    })
            }),
            Condition::Text { param, any, exact } => terms.tokens().any(|(p, _, value)| {
                p == *param
                    && any.iter().any(|word| {
                        if *exact {
                            value == word
                        } else {
                            value.starts_with(word.as_str())
                        }
                    })
            }),
            Condition::Date {
                param,
                prefix,
                low,
                high,
            } => {
                let compare = |(from, to): (i64, i64)| match prefix {
                    Prefix::Eq => from >= *low && to <= *high,
                    Prefix::Ne => !(from >= *low && to <= *high),
                    Prefix::Gt => to > *high,
                    Prefix::Lt => from < *low,
                    Prefix::Ge => to >= *low,
                    Prefix::Le => from <= *high,
                };
                if *param == "_lastUpdated" {
                    return compare((last_updated, last_updated));
                }
                terms
                    .dates
                    .iter()
                    .filter(|(p, _, _)| p == param)
                    .any(|(_, from, to)| compare((*from, *to)))
            }
        }
    }
}

/// Gathers tokens before they are sorted into [`Terms`].
type TokenList = Vec<(&'static str, String, String)>;

/// The most terms one resource is indexed under: a resource listing more codes than this is
/// found by the first of them.
const MAX_TERMS: usize = 64;

/// The terms `resource` (of a served type) is found by.
pub fn terms_of(resource: &Value) -> Terms {
    let mut terms = Terms::default();
    let mut tokens = TokenList::new();
    let Some(params) = resource
        .get("resourceType")
        .and_then(|t| t.as_str())
        .and_then(params_of)
    else {
        return terms;
    };
    for param in params {
        for path in param.paths {
            let mut found = Vec::new();
            values_at(resource, path, &mut found);
            for value in found {
                match param.kind {
                    Kind::Token => tokens_of(value, param.name, &mut tokens),
                    Kind::Text => words_of(value, param.name, &mut tokens),
                    Kind::Date => {
                        if let Some((low, high)) = span_of(value) {
                            terms.dates.push((param.name, low, high));
                        }
                    }
                }
            }
        }
    }
    tokens.sort();
    tokens.dedup();
    tokens.truncate(MAX_TERMS);
    let clean = |t: &str| t.replace(['\t', '\n', '\r'], " ");
    for (param, system, value) in tokens {
        terms.tokens.push_str(param);
        terms.tokens.push('\t');
        terms.tokens.push_str(&clean(&system));
        terms.tokens.push('\t');
        terms.tokens.push_str(&clean(&value));
        terms.tokens.push('\n');
    }
    terms.tokens.shrink_to_fit();
    terms.dates.shrink_to_fit();
    terms.dates.truncate(MAX_TERMS);
    terms
}

/// Every value at a dotted path, arrays on the way read whole.
fn values_at<'v>(value: &'v Value, path: &str, out: &mut Vec<&'v Value>) {
    if let Some(items) = value.as_array() {
        for item in items.iter() {
            values_at(item, path, out);
        }
        return;
    }
    let (head, rest) = match path.split_once('.') {
        Some((head, rest)) => (head, Some(rest)),
        None => (path, None),
    };
    let Some(child) = value.get(head) else {
        return;
    };
    match rest {
        Some(rest) => values_at(child, rest, out),
        None => match child.as_array() {
            Some(items) => out.extend(items.iter()),
            None => out.push(child),
        },
    }
}

fn tokens_of(value: &Value, param: &'static str, out: &mut TokenList) {
    let text = |v: Option<&Value>| v.and_then(|v| v.as_str()).map(str::to_string);
    if let Some(code) = value.as_str() {
        out.push((param, String::new(), code.to_string()));
    } else if let Some(flag) = value.as_bool() {
        out.push((param, String::new(), flag.to_string()));
    } else if let Some(codings) = value.get("coding").and_then(|c| c.as_array()) {
        for coding in codings.iter() {
            if let Some(code) = text(coding.get("code")) {
                out.push((param, text(coding.get("system")).unwrap_or_default(), code));
            }
        }
    } else if let Some(code) = text(value.get("code")) {
        // A Coding.
        out.push((param, text(value.get("system")).unwrap_or_default(), code));
    } else if let Some(id) = text(value.get("value")) {
        // An Identifier.
        out.push((param, text(value.get("system")).unwrap_or_default(), id));
    }
}

/// The words of a string, HumanName or Address, lower case.
fn words_of(value: &Value, param: &'static str, out: &mut TokenList) {
    let mut push = |s: &str| {
        let word = normalise(s);
        if !word.is_empty() {
            out.push((param, String::new(), word));
        }
    };
    if let Some(s) = value.as_str() {
        push(s);
        return;
    }
    for key in [
        "text",
        "family",
        "given",
        "prefix",
        "suffix",
        "line",
        "city",
        "district",
        "state",
        "postalCode",
        "country",
    ] {
        match value.get(key) {
            Some(v) if v.is_str() => push(v.as_str().unwrap_or_default()),
            Some(v) => {
                if let Some(items) = v.as_array() {
                    for item in items.iter().filter_map(|i| i.as_str()) {
                        push(item);
                    }
                }
            }
            None => {}
        }
    }
}

/// Text as words are compared: trimmed, lower case.
pub fn normalise(text: &str) -> String {
    text.trim().to_lowercase()
}

/// The span of a date, dateTime, instant or Period.
fn span_of(value: &Value) -> Option<(i64, i64)> {
    if let Some(text) = value.as_str() {
        return date_span_micros(text);
    }
    if value.get("start").is_some() || value.get("end").is_some() {
        let start = value
            .get("start")
            .and_then(|s| s.as_str())
            .and_then(date_span_micros);
        let end = value
            .get("end")
            .and_then(|s| s.as_str())
            .and_then(date_span_micros);
        return match (start, end) {
            (None, None) => None,
            (start, end) => Some((
                start.map_or(i64::MIN, |s| s.0),
                end.map_or(i64::MAX, |e| e.1),
            )),
        };
    }
    None
}

/// How a date search compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prefix {
    /// `eq` (or none): the resource's span lies within the value's.
    Eq,
    /// `ne`: it does not.
    Ne,
    /// `gt`: it reaches past the value's end.
    Gt,
    /// `lt`: it starts before the value's start.
    Lt,
    /// `ge`: it reaches the value's start or later.
    Ge,
    /// `le`: it starts at the value's end or earlier.
    Le,
}

/// One `[system|]code` a token parameter may match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenValue {
    /// `None`: any system; `Some("")`: no system (`|code`).
    pub system: Option<String>,
    /// `None`: any code of the system (`system|`).
    pub code: Option<String>,
}

/// One condition of a search; the resources found meet them all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Condition {
    /// A token parameter matching any of the values.
    Token {
        /// The parameter.
        param: &'static str,
        /// The values, any of which matches.
        any: Vec<TokenValue>,
    },
    /// A text parameter: some word starts with (or, exactly, is) any of the values.
    Text {
        /// The parameter.
        param: &'static str,
        /// The values, lower case.
        any: Vec<String>,
        /// `:exact`: the whole word.
        exact: bool,
    },
    /// A date parameter compared with a span.
    Date {
        /// The parameter (`_lastUpdated`: when the portal last stored the resource).
        param: &'static str,
        /// How it compares.
        prefix: Prefix,
        /// The span the value stands for, inclusive.
        low: i64,
        /// Its last microsecond.
        high: i64,
    },
}

/// A checked search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Search {
    /// The resource type searched.
    pub resource_type: &'static str,
    /// The record searched (`patient` or `subject`), as a portal id.
    pub patient: Option<String>,
    /// `_id`: any of these.
    pub ids: Vec<String>,
    /// The other conditions.
    pub conditions: Vec<Condition>,
    /// `_count`: the most resources a page holds.
    pub count: usize,
    /// `_summary=count`: the total only.
    pub count_only: bool,
    /// `_include=MedicationRequest:medication`.
    pub include_medication: bool,
    /// `_revinclude=Provenance:target`.
    pub revinclude_provenance: bool,
    /// `_page`: where the page starts (a sealed position the portal gave in a `next` link).
    pub page: Option<String>,
}

/// A page's size when the search does not say.
pub const DEFAULT_COUNT: usize = 50;
/// The largest page.
pub const MAX_COUNT: usize = 500;
/// The most values one search may list in all (`code=a,b,c` counts three).
const MAX_VALUES: usize = 100;

/// Why a search is refused (a 400 with these words).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SearchError(pub String);

fn refuse<T>(message: impl Into<String>) -> Result<T, SearchError> {
    Err(SearchError(message.into()))
}

/// Checks the parameters of a search of `resource_type` (a served type), as (name, value)
/// pairs in the order given, from the query string or a form body.
pub fn parse_search(
    resource_type: &'static str,
    pairs: &[(String, String)],
) -> Result<Search, SearchError> {
    let params = params_of(resource_type).unwrap_or(&[]);
    let mut search = Search {
        resource_type,
        patient: None,
        ids: Vec::new(),
        conditions: Vec::new(),
        count: DEFAULT_COUNT,
        count_only: false,
        include_medication: false,
        revinclude_provenance: false,
        page: None,
    };
    let mut values = 0usize;
    for (raw_name, value) in pairs {
        let (name, modifier) = match raw_name.split_once(':') {
            Some((n, m)) => (n, Some(m)),
            None => (raw_name.as_str(), None),
        };
        let plain = |search: &Search| -> Result<(), SearchError> {
            match modifier {
                Some(m) => refuse(format!(
                    "The modifier :{m} is not supported on {name} for {}.",
                    search.resource_type
                )),
                None => Ok(()),
            }
        };
        if value.is_empty() {
            return refuse(format!("The parameter {raw_name} has no value."));
        }
        let alternatives: Vec<&str> = split_values(value);
        values += alternatives.len();
        if values > MAX_VALUES {
            return refuse(format!(
                "A search may list at most {MAX_VALUES} values in all."
            ));
        }
        match name {
            "_count" => {
                plain(&search)?;
                search.count = match value.parse::<usize>() {
                    Ok(n) if n >= 1 => n.min(MAX_COUNT),
                    _ => return refuse("_count must be a whole number of at least 1."),
                };
            }
            "_summary" => {
                plain(&search)?;
                match value.as_str() {
                    "count" => search.count_only = true,
                    "false" => {}
                    other => {
                        return refuse(format!(
                            "_summary={other} is not supported; use _summary=count."
                        ));
                    }
                }
            }
            "_format" => {
                plain(&search)?;
                if !matches!(
                    value.as_str(),
                    "json" | "application/json" | "application/fhir+json"
                ) {
                    return refuse("Only JSON is served (_format=json).");
                }
            }
            "_page" => {
                plain(&search)?;
                search.page = Some(value.clone());
            }
            "_id" => {
                plain(&search)?;
                search
                    .ids
                    .extend(alternatives.iter().map(|v| v.to_string()));
            }
            "_include" => {
                if resource_type == "MedicationRequest" && value == "MedicationRequest:medication" {
                    search.include_medication = true;
                } else {
                    return refuse(format!(
                        "_include={value} is not supported; only \
                         _include=MedicationRequest:medication is."
                    ));
                }
            }
            "_revinclude" => {
                if value == "Provenance:target" {
                    search.revinclude_provenance = true;
                } else {
                    return refuse(format!(
                        "_revinclude={value} is not supported; only \
                         _revinclude=Provenance:target is."
                    ));
                }
            }
            "_lastUpdated" => {
                plain(&search)?;
                search
                    .conditions
                    .push(date_condition("_lastUpdated", value)?);
            }
            "patient" | "subject" if in_patient_compartment(resource_type) => {
                if modifier.is_some_and(|m| m != "Patient") {
                    plain(&search)?;
                }
                let id = value.strip_prefix("Patient/").unwrap_or(value);
                if alternatives.len() != 1 || id.is_empty() || id.contains('/') {
                    return refuse(format!("{name} must name one patient (Patient/id or id)."));
                }
                if search.patient.as_deref().is_some_and(|p| p != id) {
                    return refuse(format!("{name} may name only one patient."));
                }
                search.patient = Some(id.to_string());
            }
            _ => {
                let Some(param) = params.iter().find(|p| p.name == name) else {
                    return refuse(format!(
                        "The search parameter {name} is not supported for {resource_type}. \
                         See /fhir/metadata for those that are."
                    ));
                };
                search.conditions.push(match param.kind {
                    Kind::Token => {
                        plain(&search)?;
                        Condition::Token {
                            param: param.name,
                            any: alternatives.iter().map(|v| token_value(v)).collect(),
                        }
                    }
                    Kind::Text => {
                        let exact = match modifier {
                            None => false,
                            Some("exact") => true,
                            Some(_) => {
                                plain(&search)?;
                                false
                            }
                        };
                        Condition::Text {
                            param: param.name,
                            any: alternatives.iter().map(|v| normalise(v)).collect(),
                            exact,
                        }
                    }
                    Kind::Date => {
                        plain(&search)?;
                        if alternatives.len() != 1 {
                            return refuse(format!(
                                "{name} takes one date per parameter; repeat the parameter \
                                 for a range (date=ge2020&date=lt2021)."
                            ));
                        }
                        date_condition(param.name, value)?
                    }
                });
            }
        }
    }
    Ok(search)
}

/// A search value's alternatives: split at commas not escaped with `\`.
fn split_values(value: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b',' => {
                out.push(&value[start..i]);
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    out.push(&value[start..]);
    out
}

fn unescape(value: &str) -> String {
    value
        .replace("\\,", ",")
        .replace("\\|", "|")
        .replace("\\$", "$")
        .replace("\\\\", "\\")
}

fn token_value(value: &str) -> TokenValue {
    // The first `|` not escaped divides system from code.
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 1,
            b'|' => {
                let code = unescape(&value[i + 1..]);
                return TokenValue {
                    system: Some(unescape(&value[..i])),
                    code: (!code.is_empty()).then_some(code),
                };
            }
            _ => {}
        }
        i += 1;
    }
    TokenValue {
        system: None,
        code: Some(unescape(value)),
    }
}

fn date_condition(param: &'static str, value: &str) -> Result<Condition, SearchError> {
    let prefixes = [
        ("eq", Prefix::Eq),
        ("ne", Prefix::Ne),
        ("gt", Prefix::Gt),
        ("lt", Prefix::Lt),
        ("ge", Prefix::Ge),
        ("le", Prefix::Le),
    ];
    let (prefix, rest) = prefixes
        .iter()
        .find_map(|(p, prefix)| value.strip_prefix(p).map(|rest| (*prefix, rest)))
        .unwrap_or((Prefix::Eq, value));
    // A `+` in a zone arrives as a space when the query string was not encoded.
    let rest = rest.replace(' ', "+");
    let Some((low, high)) = date_span_micros(&rest) else {
        return refuse(format!(
            "{param}={value} is not a date: use [prefix]YYYY, YYYY-MM, YYYY-MM-DD or a full \
             dateTime with a zone, prefixes eq, ne, gt, lt, ge, le."
        ));
    };
    Ok(Condition::Date {
        param,
        prefix,
        low,
        high,
    })
}

/// The CapabilityStatement of the read API, as JSON text: only what it serves (each type's
/// read and search, its search parameters, the includes, `$everything`).
pub fn capability_statement(public_url: &str, software_version: &str) -> String {
    use crate::json::{JsonValueMutTrait, json};
    let common = [
        ("_id", "token"),
        ("_lastUpdated", "date"),
        ("_count", "number"),
    ];
    let mut resources = Vec::new();
    for (resource_type, params) in SERVED {
        let mut search_params: Vec<Value> = common
            .iter()
            .map(|(name, kind)| json!({ "name": name, "type": kind }))
            .collect();
        if in_patient_compartment(resource_type) {
            search_params.push(json!({ "name": "patient", "type": "reference" }));
        }
        for p in *params {
            search_params.push(json!({ "name": p.name, "type": p.kind.fhir_type() }));
        }
        let mut resource = json!({
            "type": resource_type,
            "interaction": [{ "code": "read" }, { "code": "search-type" }],
            "searchParam": search_params,
        });
        if let Some(obj) = resource.as_object_mut() {
            if *resource_type == "MedicationRequest" {
                obj.insert("searchInclude", json!(["MedicationRequest:medication"]));
            }
            obj.insert("searchRevInclude", json!(["Provenance:target"]));
            if *resource_type == "Patient" {
                obj.insert(
                    "operation",
                    json!([{
                        "name": "everything",
                        "definition": "http://hl7.org/fhir/OperationDefinition/Patient-everything"
                    }]),
                );
            }
        }
        resources.push(resource);
    }
    let base = public_url.trim_end_matches('/');
    let statement = json!({
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": "2026-12-05",
        "kind": "instance",
        "software": { "name": "Patient Portal", "version": software_version },
        "implementation": {
            "description": "Patient Portal FHIR R4 read API",
            "url": format!("{base}/fhir")
        },
        "fhirVersion": "4.0.1",
        "format": ["json"],
        "rest": [{
            "mode": "server",
            "security": {
                "service": [{
                    "coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR"
                    }]
                }],
                "extension": [{
                    "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                    "extension": [
                        { "url": "authorize", "valueUri": format!("{base}/oauth/authorize") },
                        { "url": "token", "valueUri": format!("{base}/oauth/token") },
                        { "url": "introspect", "valueUri": format!("{base}/oauth/introspect") },
                        { "url": "revoke", "valueUri": format!("{base}/oauth/revoke") }
                    ]
                }],
                "description": "Apps a patient connects (SMART on FHIR, standalone launch, PKCE) read that patient's record within the scopes granted; systems read with a bearer token from the portal's administrators: system/*.read to read, system/*.write to send Bundles."
            },
            "resource": resources,
            "interaction": [{ "code": "transaction" }],
        }],
    });
    crate::json::to_string(&statement)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::json::parse;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn an_observation_is_found_by_every_coding_its_category_and_date() {
        let o = parse(
            br#"{"resourceType":"Observation","status":"final",
            "category":[{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/observation-category","code":"laboratory"}]}],
            "code":{"coding":[{"system":"http://loinc.org","code":"4548-4"},{"system":"urn:local","code":"A1C"}]},
            "effectiveDateTime":"2020-05-03T10:00:00Z"}"#,
        )
        .expect("JSON");
        let terms = terms_of(&o);
        let has = |p: &str, s: &str, v: &str| terms.tokens().any(|t| t == (p, s, v));
        assert!(has("code", "http://loinc.org", "4548-4"));
        assert!(has("code", "urn:local", "A1C"));
        assert!(has(
            "category",
            "http://terminology.hl7.org/CodeSystem/observation-category",
            "laboratory"
        ));
        assert!(has("status", "", "final"));
        assert_eq!(terms.dates.len(), 1);
        assert_eq!(terms.dates[0].0, "date");
    }

    #[test]
    fn names_and_addresses_are_words_in_lower_case_and_periods_spans() {
        let p = parse(
            br#"{"resourceType":"Patient","gender":"female","birthDate":"1990-04",
            "name":[{"family":"MARTINEZ","given":["Sofia","Ana"]}],
            "identifier":[{"system":"urn:mrn","value":"M1"}]}"#,
        )
        .expect("JSON");
        let terms = terms_of(&p);
        assert!(terms.tokens().any(|t| t == ("family", "", "martinez")));
        assert!(terms.tokens().any(|t| t == ("given", "", "ana")));
        assert!(terms.tokens().any(|t| t == ("name", "", "sofia")));
        assert!(terms.tokens().any(|t| t == ("identifier", "urn:mrn", "M1")));
        let e = parse(br#"{"resourceType":"Encounter","period":{"start":"2020-01-01T10:00:00Z"}}"#)
            .expect("JSON");
        let span = terms_of(&e).dates[0];
        assert_eq!(span.2, i64::MAX, "an open period runs on");
    }

    #[test]
    fn a_search_is_checked_whole() {
        let s = parse_search(
            "Observation",
            &pairs(&[
                ("patient", "Patient/p1"),
                ("category", "laboratory"),
                ("code", "http://loinc.org|4548-4,urn:x|"),
                ("date", "ge2020-01-01"),
                ("date", "lt2021"),
                ("_count", "10"),
            ]),
        )
        .expect("search");
        assert_eq!(s.patient.as_deref(), Some("p1"));
        assert_eq!(s.count, 10);
        assert_eq!(s.conditions.len(), 4);
        let Condition::Token { any, .. } = &s.conditions[1] else {
            panic!("token");
        };
        assert_eq!(any[0].system.as_deref(), Some("http://loinc.org"));
        assert_eq!(any[1].code, None);
        let Condition::Date { prefix, .. } = &s.conditions[3] else {
            panic!("date");
        };
        assert_eq!(*prefix, Prefix::Lt);
        // `patient=id` is `patient=Patient/id`.
        let bare = parse_search("Observation", &pairs(&[("patient", "p1")])).expect("bare");
        assert_eq!(bare.patient.as_deref(), Some("p1"));
    }

    #[test]
    fn what_is_not_supported_is_refused_by_name() {
        for (name, value, says) in [
            ("foo", "1", "foo is not supported"),
            ("code:text", "x", ":text"),
            ("date", "yesterday", "not a date"),
            ("_count", "0", "_count"),
            ("_summary", "true", "_summary=true"),
            ("_include", "Observation:subject", "_include"),
            ("patient", "Patient/a,Patient/b", "one patient"),
            ("code", "", "no value"),
        ] {
            let error = parse_search("Observation", &pairs(&[(name, value)]))
                .expect_err(name)
                .0;
            assert!(error.contains(says), "{name}={value}: {error}");
        }
        // `patient` is not a parameter of the directory.
        assert!(parse_search("Practitioner", &pairs(&[("patient", "p1")])).is_err());
    }

    #[test]
    fn every_search_parameter_reads_an_element() {
        for (t, params) in SERVED {
            for p in *params {
                assert!(!p.paths.is_empty(), "{t}.{}", p.name);
            }
        }
    }

    #[test]
    fn the_capability_statement_claims_each_served_type_and_parameter() {
        let text = capability_statement("https://portal.example/", "1.0");
        let statement = crate::json::parse(text.as_bytes()).expect("JSON");
        let resources = statement["rest"][0]["resource"]
            .as_array()
            .expect("resources");
        assert_eq!(resources.len(), SERVED.len());
        let observation = resources
            .iter()
            .find(|r| r["type"] == "Observation")
            .expect("Observation");
        let names: Vec<&str> = observation["searchParam"]
            .as_array()
            .expect("params")
            .iter()
            .filter_map(|p| p["name"].as_str())
            .collect();
        for name in ["patient", "category", "code", "date", "_id"] {
            assert!(names.contains(&name), "{name}");
        }
        assert_eq!(
            statement["implementation"]["url"],
            "https://portal.example/fhir"
        );
    }
}
