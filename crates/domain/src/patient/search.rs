//! Finding a patient by what the clinic has at hand: a name as it was said or typed (accents,
//! case and punctuation do not matter: "Ramon" finds "Ramón", "obrien" finds "O'Brien"), a date
//! of birth, or a medical record number.

use unicode_normalization::UnicodeNormalization;

/// The form of a name that searches compare: lower case, accents and apostrophes dropped,
/// letters without a decomposition spelled out ("ß" as "ss", "ø" as "o"), every other
/// non-alphanumeric a word break; one space before each word, so that `LIKE '% word%'` finds a
/// word by its start.
pub fn search_key(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 1);
    let mut at_break = true;
    for c in text.nfkd() {
        if unicode_normalization::char::is_combining_mark(c) || matches!(c, '\'' | '’' | 'ʼ') {
            continue;
        }
        let spelled: Option<&str> = match c {
            'ß' => Some("ss"),
            'ø' | 'Ø' => Some("o"),
            'ł' | 'Ł' => Some("l"),
            'đ' | 'Đ' => Some("d"),
            'æ' | 'Æ' => Some("ae"),
            'œ' | 'Œ' => Some("oe"),
            'þ' | 'Þ' => Some("th"),
            'ı' => Some("i"),
            _ => None,
        };
        if spelled.is_none() && !c.is_alphanumeric() {
            at_break = true;
            continue;
        }
        if at_break {
            out.push(' ');
            at_break = false;
        }
        match spelled {
            Some(s) => out.push_str(s),
            None => out.extend(c.to_lowercase()),
        }
    }
    out
}

/// What a search for a patient asks, read from one box.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct PatientQuery {
    /// A date of birth given in the box (YYYY-MM-DD).
    pub born: Option<String>,
    /// The words of a name in [`search_key`] form: each must start a word of the patient's name.
    pub words: Vec<String>,
    /// The box's text as a medical record number might be written, when the box holds one word
    /// besides any date.
    pub mrn: Option<String>,
}

impl PatientQuery {
    /// Reads the box: a date of birth (2019-07-02, 07/02/2019 or 7/2/2019), name words, or a
    /// medical record number. `None` when it holds nothing to search by.
    pub fn parse(text: &str) -> Option<PatientQuery> {
        let text: String = text.chars().take(100).collect();
        let mut query = PatientQuery::default();
        let mut rest = Vec::new();
        for part in text.split_whitespace() {
            match (query.born.is_none(), birth_date(part)) {
                (true, Some(date)) => query.born = Some(date),
                _ => rest.push(part),
            }
        }
        if let [one] = rest.as_slice() {
            query.mrn = Some((*one).to_string());
        }
        query.words = rest
            .iter()
            .flat_map(|part| {
                search_key(part)
                    .split(' ')
                    .filter(|w| !w.is_empty())
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .take(6)
            .collect();
        let something = query.born.is_some() || !query.words.is_empty() || query.mrn.is_some();
        something.then_some(query)
    }
}

/// A date of birth as staff type one: ISO, or the US month/day/year.
fn birth_date(text: &str) -> Option<String> {
    let date = if let Ok(date) = text.parse::<jiff::civil::Date>() {
        date
    } else {
        let mut parts = text.split('/');
        let (m, d, y) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() || y.len() != 4 {
            return None;
        }
        jiff::civil::Date::new(y.parse().ok()?, m.parse().ok()?, d.parse().ok()?).ok()?
    };
    Some(date.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accents_case_and_punctuation_do_not_matter() {
        assert_eq!(
            search_key("Ramón841 García-López"),
            " ramon841 garcia lopez"
        );
        assert_eq!(search_key("O'Brien"), search_key("obrien"));
        assert_eq!(search_key("  ZOË  Straße "), " zoe strasse");
        assert_eq!(search_key("Søren Łukasz Æsa"), " soren lukasz aesa");
        assert_eq!(search_key("ＮＧＵＹＥＮ"), " nguyen");
        assert_eq!(search_key("%_"), "");
    }

    #[test]
    fn a_box_is_read_as_a_date_name_words_or_a_number() {
        let q = PatientQuery::parse("Ramon 07/02/2019").expect("query");
        assert_eq!(q.born.as_deref(), Some("2019-07-02"));
        assert_eq!(q.words, vec!["ramon".to_string()]);
        assert_eq!(q.mrn.as_deref(), Some("Ramon"));
        let q = PatientQuery::parse("1972-11-05").expect("query");
        assert_eq!(q.born.as_deref(), Some("1972-11-05"));
        assert!(q.words.is_empty());
        assert_eq!(q.mrn, None);
        let q = PatientQuery::parse("García López").expect("query");
        assert_eq!(q.words, vec!["garcia".to_string(), "lopez".to_string()]);
        assert_eq!(q.mrn, None);
        assert_eq!(
            PatientQuery::parse("MRN-0042").and_then(|q| q.mrn),
            Some("MRN-0042".into())
        );
        // Not dates: read as words.
        assert_eq!(
            PatientQuery::parse("13/45/2019").map(|q| q.born),
            Some(None)
        );
        assert_eq!(PatientQuery::parse("2/30/2019").map(|q| q.born), Some(None));
        assert_eq!(PatientQuery::parse("   "), None);
    }
}
