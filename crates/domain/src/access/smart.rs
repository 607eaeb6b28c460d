//! What a patient granted an app, written as SMART on FHIR (App Launch 2.0) scopes: v1
//! (`patient/*.read`, `patient/Observation.read`) and v2 (`patient/*.rs`,
//! `patient/Observation.rs?category=laboratory`), with `launch/patient`, `openid`, `fhirUser`
//! and `offline_access`.
//!
//! Apps only read: a scope that asks to create, update or delete grants nothing of that (its
//! read and search, if any, still count). Scopes this portal does not know (`user/…`,
//! `system/…`, an EHR launch) are left out of what is granted, never refused whole: SMART lets a
//! server grant less than asked, and the token response says what was granted.

/// The resource types an app may be granted in full or by one search parameter.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SmartScopes {
    /// Per resource type (`*` for every type), what may be read.
    grants: Vec<TypeGrant>,
    /// `launch/patient`: the app is told which patient.
    pub launch_patient: bool,
    /// `openid`: an ID token.
    pub openid: bool,
    /// `fhirUser`: the ID token names the user.
    pub fhir_user: bool,
    /// `offline_access`: a refresh token.
    pub offline: bool,
}

/// What of one resource type (or `*`) is granted.
#[derive(Clone, Debug, PartialEq, Eq)]
struct TypeGrant {
    resource_type: String,
    /// Read by id.
    read: bool,
    /// Search.
    search: bool,
    /// Only resources matching this search parameter (`category`, `laboratory`), for v2 scopes
    /// with a query.
    filter: Option<(String, String)>,
    /// Written as v1 (`.read`) rather than v2.
    v1: bool,
}

/// How much of one resource type a grant reaches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TypeAccess {
    /// None of it.
    None,
    /// All of it.
    All,
    /// Only what matches any of these values of one search parameter.
    Where {
        /// The parameter.
        param: String,
        /// The values, any of which matches.
        values: Vec<String>,
    },
}

/// Reading one resource by id, or searching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interaction {
    /// Read by id.
    Read,
    /// Search (and `$everything`).
    Search,
}

/// The longest scope text kept (a request asking for more is cut to its first scopes).
const MAX_SCOPES: usize = 200;

impl SmartScopes {
    /// What a space-separated scope request grants at most.
    pub fn parse(raw: &str) -> Self {
        let mut out = SmartScopes::default();
        for scope in raw.split_whitespace().take(MAX_SCOPES) {
            match scope {
                "launch/patient" => out.launch_patient = true,
                "openid" => out.openid = true,
                "fhirUser" => out.fhir_user = true,
                "offline_access" => out.offline = true,
                _ => {
                    if let Some(grant) = type_grant(scope)
                        && !out.grants.contains(&grant)
                    {
                        out.grants.push(grant);
                    }
                }
            }
        }
        out
    }

    /// The granted scopes, as the token response and the stored grant write them.
    pub fn as_text(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        if self.launch_patient {
            parts.push("launch/patient".into());
        }
        if self.openid {
            parts.push("openid".into());
        }
        if self.fhir_user {
            parts.push("fhirUser".into());
        }
        if self.offline {
            parts.push("offline_access".into());
        }
        for g in &self.grants {
            let mut text = format!("patient/{}.", g.resource_type);
            if g.v1 {
                text.push_str("read");
            } else {
                if g.read {
                    text.push('r');
                }
                if g.search {
                    text.push('s');
                }
                if let Some((param, value)) = &g.filter {
                    text.push_str(&format!("?{param}={value}"));
                }
            }
            parts.push(text);
        }
        parts.join(" ")
    }

    /// The resource types the grant names (`*` for all), in the order asked, each once.
    pub fn resource_types(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for g in &self.grants {
            if !out.contains(&g.resource_type.as_str()) {
                out.push(&g.resource_type);
            }
        }
        out
    }

    /// Whether any resource type is granted.
    pub fn reads_anything(&self) -> bool {
        !self.grants.is_empty()
    }

    /// The same grant with only the resource types in `kept` (the patient unticked the
    /// others); `*` stays only when kept whole, else it becomes the kept types of `among`.
    pub fn narrowed_to(&self, kept: &[&str], among: &[&str]) -> SmartScopes {
        let mut out = SmartScopes {
            grants: Vec::new(),
            ..self.clone()
        };
        for g in &self.grants {
            if g.resource_type == "*" {
                if kept.contains(&"*") {
                    out.grants.push(g.clone());
                } else {
                    for t in among.iter().filter(|t| kept.contains(t)) {
                        let each = TypeGrant {
                            resource_type: (*t).to_string(),
                            ..g.clone()
                        };
                        if !out.grants.contains(&each) {
                            out.grants.push(each);
                        }
                    }
                }
            } else if kept.contains(&g.resource_type.as_str()) && !out.grants.contains(g) {
                out.grants.push(g.clone());
            }
        }
        out
    }

    /// How much of `resource_type` the grant reaches for `interaction`. Grants for the same
    /// type add up; filters on different parameters of one type cannot be searched as one, so
    /// only those on the first parameter asked count.
    pub fn access_to(&self, resource_type: &str, interaction: Interaction) -> TypeAccess {
        let mut filtered: Option<(String, Vec<String>)> = None;
        for g in &self.grants {
            if g.resource_type != "*" && g.resource_type != resource_type {
                continue;
            }
            let allowed = match interaction {
                Interaction::Read => g.read,
                Interaction::Search => g.search,
            };
            if !allowed {
                continue;
            }
            match &g.filter {
                None => return TypeAccess::All,
                Some((param, value)) => match &mut filtered {
                    None => filtered = Some((param.clone(), vec![value.clone()])),
                    Some((first, values)) if first == param => {
                        if !values.contains(value) {
                            values.push(value.clone());
                        }
                    }
                    Some(_) => {}
                },
            }
        }
        match filtered {
            Some((param, values)) => TypeAccess::Where { param, values },
            None => TypeAccess::None,
        }
    }
}

/// The grant one `patient/…` scope asks for, if it asks to read anything.
fn type_grant(scope: &str) -> Option<TypeGrant> {
    let rest = scope.strip_prefix("patient/")?;
    let (resource, query) = match rest.split_once('?') {
        Some((r, q)) => (r, Some(q)),
        None => (rest, None),
    };
    let (resource_type, permission) = resource.rsplit_once('.')?;
    let type_ok = resource_type == "*"
        || (resource_type.len() <= 64
            && resource_type.starts_with(|c: char| c.is_ascii_uppercase())
            && resource_type.chars().all(|c| c.is_ascii_alphanumeric()));
    if !type_ok {
        return None;
    }
    let (read, search, v1) = match permission {
        "read" | "*" => (true, true, true),
        "write" => return None,
        letters => {
            // v2: a subset of c, r, u, d, s, in that order.
            let order = "cruds";
            let mut last = None;
            for c in letters.chars() {
                let at = order.find(c)?;
                if last.is_some_and(|l| at <= l) {
                    return None;
                }
                last = Some(at);
            }
            if letters.is_empty() {
                return None;
            }
            (letters.contains('r'), letters.contains('s'), false)
        }
    };
    if !read && !search {
        return None;
    }
    let filter = match query {
        None => None,
        // v1 scopes have no query; a query of more than one parameter is not supported.
        Some(_) if v1 => return None,
        Some(q) => {
            let (param, value) = q.split_once('=')?;
            let simple = |t: &str| {
                !t.is_empty()
                    && t.len() <= 256
                    && !t.contains(['&', '=', ' ', '\t', '\n', '\r', ','])
            };
            if !simple(param) || !simple(value) {
                return None;
            }
            Some((param.to_string(), value.to_string()))
        }
    };
    Some(TypeGrant {
        resource_type: resource_type.to_string(),
        read,
        search,
        filter,
        v1,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2_scopes_grant_reading_and_nothing_else() {
        let s = SmartScopes::parse(
            "launch/patient openid fhirUser offline_access patient/*.read user/*.read system/*.* \
             patient/Patient.write launch",
        );
        assert!(s.launch_patient && s.openid && s.fhir_user && s.offline);
        assert_eq!(
            s.access_to("Condition", Interaction::Search),
            TypeAccess::All
        );
        assert_eq!(s.access_to("Patient", Interaction::Read), TypeAccess::All);
        assert_eq!(
            s.as_text(),
            "launch/patient openid fhirUser offline_access patient/*.read"
        );
        let v2 = SmartScopes::parse("patient/Observation.rs patient/Condition.r patient/Goal.cud");
        assert_eq!(
            v2.access_to("Observation", Interaction::Search),
            TypeAccess::All
        );
        assert_eq!(
            v2.access_to("Condition", Interaction::Read),
            TypeAccess::All
        );
        assert_eq!(
            v2.access_to("Condition", Interaction::Search),
            TypeAccess::None
        );
        assert_eq!(v2.access_to("Goal", Interaction::Read), TypeAccess::None);
        assert_eq!(v2.access_to("Patient", Interaction::Read), TypeAccess::None);
        assert_eq!(v2.as_text(), "patient/Observation.rs patient/Condition.r");
    }

    #[test]
    fn malformed_scopes_grant_nothing() {
        for scope in [
            "patient/Observation.sr",
            "patient/Observation.x",
            "patient/Observation.",
            "patient/observation.read",
            "patient/Obs-ervation.read",
            "patient/Observation.read?category=laboratory",
            "patient/Observation.rs?category",
            "patient/Observation.rs?category=a&code=b",
            "patient/Observation.rs?category=a,b",
            "Observation.read",
            "",
        ] {
            let s = SmartScopes::parse(scope);
            assert!(!s.reads_anything(), "{scope}");
        }
    }

    #[test]
    fn granular_scopes_add_up_by_one_parameter() {
        let s = SmartScopes::parse(
            "patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|laboratory \
             patient/Observation.rs?category=http://terminology.hl7.org/CodeSystem/observation-category|vital-signs \
             patient/Observation.rs?code=1234-5",
        );
        assert_eq!(
            s.access_to("Observation", Interaction::Search),
            TypeAccess::Where {
                param: "category".into(),
                values: vec![
                    "http://terminology.hl7.org/CodeSystem/observation-category|laboratory".into(),
                    "http://terminology.hl7.org/CodeSystem/observation-category|vital-signs".into(),
                ],
            }
        );
        // A grant in full of the same type wins.
        let s = SmartScopes::parse("patient/Observation.rs?category=laboratory patient/*.rs");
        assert_eq!(
            s.access_to("Observation", Interaction::Read),
            TypeAccess::All
        );
        assert_eq!(SmartScopes::parse(&s.as_text()), s);
    }

    #[test]
    fn the_patient_can_grant_fewer_types() {
        let s = SmartScopes::parse("launch/patient patient/*.read");
        let kept = s.narrowed_to(
            &["Condition", "Observation"],
            &["Condition", "Goal", "Observation"],
        );
        assert_eq!(
            kept.access_to("Condition", Interaction::Search),
            TypeAccess::All
        );
        assert_eq!(
            kept.access_to("Goal", Interaction::Search),
            TypeAccess::None
        );
        assert!(kept.launch_patient);
        assert_eq!(
            kept.as_text(),
            "launch/patient patient/Condition.read patient/Observation.read"
        );
        let s = SmartScopes::parse("patient/Observation.rs patient/Condition.rs");
        assert_eq!(
            s.narrowed_to(&["Condition"], &[]).as_text(),
            "patient/Condition.rs"
        );
        assert_eq!(s.resource_types(), ["Observation", "Condition"]);
    }
}
