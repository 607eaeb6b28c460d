//! The FHIR data types every resource shares (Coding, CodeableConcept, Quantity, Period,
//! Reference, Identifier, HumanName, Address, ContactPoint, Annotation, Timing, and the
//! time-valued choice elements), read from a [`Node`] with their paths.

use super::elements::{Node, Read};
use crate::error::shown_str;
use crate::model::{
    Address, Coding, Concept, ContactPoint, HumanName, Identifier, Occurrence, Period, Quantity,
    Range, Ratio,
};
use crate::primitives::{is_date_time, to_instant_micros};
use crate::refs::{Reference, parse_reference_element};

/// The code system of identifier types (`MR`, `SS`, `DL`, `NPI`, ...).
const IDENTIFIER_TYPE_SYSTEM: &str = "http://terminology.hl7.org/CodeSystem/v2-0203";

impl<'a> Node<'a> {
    /// A `Coding` at `key`.
    pub(crate) fn coding(&self, key: &str) -> Read<Option<Coding>> {
        self.one(key, read_coding)
    }

    /// A `CodeableConcept` at `key`.
    pub(crate) fn concept(&self, key: &str) -> Read<Option<Concept>> {
        self.one(key, read_concept)
    }

    /// A repeating `CodeableConcept` at `key`.
    pub(crate) fn concepts(&self, key: &str) -> Read<Vec<Concept>> {
        self.each(key, read_concept)
    }

    /// A `Quantity` (or Age, Duration, SimpleQuantity) at `key`.
    pub(crate) fn quantity(&self, key: &str) -> Read<Option<Quantity>> {
        self.one(key, read_quantity)
    }

    /// A `Range` at `key`.
    pub(crate) fn range(&self, key: &str) -> Read<Option<Range>> {
        self.one(key, |node| {
            Ok(Range {
                low: node.quantity("low")?,
                high: node.quantity("high")?,
            })
        })
    }

    /// A `Ratio` at `key`.
    pub(crate) fn ratio(&self, key: &str) -> Read<Option<Ratio>> {
        self.one(key, |node| {
            Ok(Ratio {
                numerator: node.quantity("numerator")?,
                denominator: node.quantity("denominator")?,
            })
        })
    }

    /// A `Period` at `key`; its start may not be after its end (invariant per-1).
    pub(crate) fn period(&self, key: &str) -> Read<Option<Period>> {
        self.one(key, |node| {
            let period = Period {
                start: node.date_time("start")?,
                end: node.date_time("end")?,
            };
            if let (Some(start), Some(end)) = (&period.start, &period.end)
                && same_precision(start, end)
                && to_instant_micros(start) > to_instant_micros(end)
            {
                return Err(node.error_here("the period starts after it ends"));
            }
            Ok(period)
        })
    }

    /// A `Reference` at `key`: `None` when absent or a display only; unsupported forms fail.
    pub(crate) fn reference(&self, key: &str) -> Read<Option<Reference>> {
        Ok(self.one(key, read_reference)?.flatten())
    }

    /// A required `Reference` at `key`, which must point at a resource.
    pub(crate) fn required_reference(&self, key: &str) -> Read<Reference> {
        if self.get(key)?.is_none() {
            return Err(self.error(key, "required element missing"));
        }
        self.reference(key)?.ok_or_else(|| {
            self.error(
                key,
                "must point at a resource (a reference or identifier), not only name it",
            )
        })
    }

    /// A repeating `Reference` at `key`; display-only references are left out.
    pub(crate) fn references(&self, key: &str) -> Read<Vec<Reference>> {
        Ok(self
            .each(key, read_reference)?
            .into_iter()
            .flatten()
            .collect())
    }

    /// The `Identifier`s at `key`.
    pub(crate) fn identifiers(&self, key: &str) -> Read<Vec<Identifier>> {
        self.each(key, read_identifier)
    }

    /// The `HumanName`s at `key`.
    pub(crate) fn human_names(&self, key: &str) -> Read<Vec<HumanName>> {
        self.each(key, |node| {
            Ok(HumanName {
                use_: node.coded("use")?,
                family: node.string("family")?,
                given: node.strings("given")?,
                prefix: node.strings("prefix")?,
                suffix: node.strings("suffix")?,
                text: node.string("text")?,
            })
        })
    }

    /// The `ContactPoint`s at `key`.
    pub(crate) fn contact_points(&self, key: &str) -> Read<Vec<ContactPoint>> {
        self.each(key, |node| {
            Ok(ContactPoint {
                system: node.coded("system")?,
                value: node.string("value")?,
                use_: node.coded("use")?,
            })
        })
    }

    /// The `Address`es at `key`.
    pub(crate) fn addresses(&self, key: &str) -> Read<Vec<Address>> {
        self.each(key, read_address)
    }

    /// A single `Address` at `key`.
    pub(crate) fn address(&self, key: &str) -> Read<Option<Address>> {
        self.one(key, read_address)
    }

    /// The texts of the `Annotation`s at `key` (`text` is required in each).
    pub(crate) fn notes(&self, key: &str) -> Read<Vec<String>> {
        self.each(key, |node| {
            let text = node.string("text")?;
            node.required("text", text)
        })
    }

    /// The choice element `prefix[x]` as an [`Occurrence`], out of the `allowed` types.
    pub(crate) fn occurrence(&self, prefix: &str, allowed: &[&str]) -> Read<Option<Occurrence>> {
        let Some((kind, key)) = self.choice(prefix, allowed)? else {
            return Ok(None);
        };
        let occurrence = match kind {
            "DateTime" => self.date_time(key)?.map(Occurrence::DateTime),
            "Instant" => self.instant(key)?.map(Occurrence::DateTime),
            "Period" => self.period(key)?.map(Occurrence::Period),
            "Age" => self.quantity(key)?.map(Occurrence::Age),
            "Range" => self.range(key)?.map(Occurrence::Range),
            "String" => self.string(key)?.map(Occurrence::Text),
            "Timing" => self
                .one(key, read_timing)?
                .map(|text| Occurrence::Timing(text.unwrap_or_default())),
            "Boolean" => self
                .boolean(key)?
                .and_then(|ended| ended.then_some(Occurrence::Ended)),
            _ => return Err(self.error(key, format!("{prefix}[x] as {kind} is not read"))),
        };
        Ok(occurrence)
    }
}

/// Whether two valid dates or date-times are given to the same precision; only those compare
/// (as in FHIRPath, where `2020-01-15` against `2020-01` is neither before nor after).
fn same_precision(a: &str, b: &str) -> bool {
    match (a.contains('T'), b.contains('T')) {
        (true, true) => true,
        (false, false) => a.len() == b.len(),
        _ => false,
    }
}

fn read_coding(node: &Node<'_>) -> Read<Coding> {
    Ok(Coding {
        system: node.uri("system")?,
        code: node.code("code")?,
        display: node.string("display")?,
    })
}

/// Reads a `CodeableConcept`.
pub(crate) fn read_concept(node: &Node<'_>) -> Read<Concept> {
    Ok(Concept {
        codings: node.each("coding", read_coding)?,
        text: node.string("text")?,
    })
}

fn read_quantity(node: &Node<'_>) -> Read<Quantity> {
    Ok(Quantity {
        value: node.decimal("value")?,
        unit: node.string("unit")?,
        system: node.uri("system")?,
        code: node.code("code")?,
        comparator: node.coded("comparator")?,
    })
}

fn read_identifier(node: &Node<'_>) -> Read<Identifier> {
    let kind = node.concept("type")?;
    Ok(Identifier {
        use_: node.coded("use")?,
        system: node.uri("system")?,
        value: node.string("value")?,
        // The HL7 identifier-type code (MR, SS, NPI, ...) when given, else the first code.
        type_code: kind.as_ref().and_then(|kind| {
            kind.code_in(IDENTIFIER_TYPE_SYSTEM)
                .map(str::to_owned)
                .or_else(|| kind.codings.iter().find_map(|coding| coding.code.clone()))
        }),
        type_text: kind
            .map(|kind| kind.label())
            .filter(|label| !label.is_empty()),
    })
}

fn read_address(node: &Node<'_>) -> Read<Address> {
    Ok(Address {
        use_: node.coded("use")?,
        type_: node.coded("type")?,
        text: node.string("text")?,
        lines: node.strings("line")?,
        city: node.string("city")?,
        district: node.string("district")?,
        state: node.string("state")?,
        postal_code: node.string("postalCode")?,
        country: node.string("country")?,
        period: node.period("period")?,
    })
}

fn read_reference(node: &Node<'_>) -> Read<Option<Reference>> {
    node.string("reference")?;
    node.uri("type")?;
    node.string("display")?;
    if let Some(identifier) = node.object("identifier")? {
        read_identifier(&identifier)?;
    }
    match parse_reference_element(node.fields()) {
        Some(Reference::Unsupported { reference, reason }) => {
            Err(node.error_here(format!("{}: {reason}", shown_str(&reference))))
        }
        other => Ok(other),
    }
}

/// Reads a `Timing` as words: its code's label, else a summary of `repeat`
/// ("twice a day", "once every 8 hours"), else its first event.
pub(crate) fn read_timing(node: &Node<'_>) -> Read<Option<String>> {
    let events = node.strings("event")?;
    for (index, event) in events.iter().enumerate() {
        if !is_date_time(event) {
            return Err(node.error(
                &format!("event[{index}]"),
                format!("{} is not a FHIR dateTime", shown_str(event)),
            ));
        }
    }
    let code = node.concept("code")?;
    let repeat = node.object("repeat")?;
    let summary = match &repeat {
        Some(repeat) => {
            let frequency = repeat.positive("frequency")?;
            let period = repeat.decimal("period")?;
            let unit = repeat.code("periodUnit")?;
            repeat_words(frequency, period, unit.as_deref())
        }
        None => None,
    };
    Ok(code
        .map(|code| code.label())
        .filter(|label| !label.is_empty())
        .or(summary)
        .or_else(|| events.first().cloned()))
}

fn repeat_words(frequency: Option<u32>, period: Option<f64>, unit: Option<&str>) -> Option<String> {
    let unit = match unit? {
        "s" => "second",
        "min" => "minute",
        "h" => "hour",
        "d" => "day",
        "wk" => "week",
        "mo" => "month",
        "a" => "year",
        _ => return None,
    };
    let times = match frequency.unwrap_or(1) {
        1 => "once".to_owned(),
        2 => "twice".to_owned(),
        many => format!("{many} times"),
    };
    let period = period?;
    let every = if (period - 1.0).abs() < f64::EPSILON {
        format!("a {unit}")
    } else {
        format!("every {period} {unit}s")
    };
    Some(format!("{times} {every}"))
}

#[cfg(test)]
#[path = "datatypes_tests.rs"]
mod tests;
