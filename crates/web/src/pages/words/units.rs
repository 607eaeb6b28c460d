//! Units and numbers as people read them: UCUM written out, values rounded to the precision
//! of their reference range, blood pressure as one reading.

/// A unit as a person reads it: UCUM codes written out ("10*3/uL" → "thousand per µL",
/// "mm[Hg]" → "mmHg", "kg/m2" → "kg/m²"), annotations such as `{score}` dropped, micro as µ.
/// Words a sender chose ("mg/dL", "cells per microlitre") stay as they are.
pub fn unit_for_people(unit: &str) -> String {
    let known = match unit.trim() {
        "10*3/uL" | "10*3/mm3" | "K/uL" => Some("thousand per µL"),
        "10*6/uL" | "10*6/mm3" | "M/uL" => Some("million per µL"),
        "10*9/L" => Some("billion per L"),
        "10*12/L" => Some("trillion per L"),
        "mm[Hg]" => Some("mmHg"),
        "Cel" => Some("°C"),
        "[degF]" => Some("°F"),
        "[lb_av]" => Some("lb"),
        "[in_i]" => Some("in"),
        "[ft_i]" => Some("ft"),
        "/min" | "{beats}/min" | "{Beats}/min" => Some("per minute"),
        "{breaths}/min" | "{Breaths}/min" => Some("breaths per minute"),
        "1" | "{score}" | "{ratio}" | "{index}" => Some(""),
        _ => None,
    };
    if let Some(words) = known {
        return words.to_string();
    }
    // Annotations in braces say what is counted; the value's name says it already.
    let mut out = String::with_capacity(unit.len());
    let mut depth = 0_u32;
    for c in unit.trim().chars() {
        match c {
            '{' => depth += 1,
            '}' => depth = depth.saturating_sub(1),
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    let out = out
        .replace("m2", "m²")
        .replace("m3", "m³")
        .replace("[IU]", "IU");
    // UCUM writes micro as "u": ug, uL, umol, uU, uIU.
    let micro: Vec<String> = out
        .split('/')
        .map(|part| match part.strip_prefix('u') {
            Some(rest) if ["g", "L", "mol", "U", "IU", "m"].contains(&rest) => format!("µ{rest}"),
            _ => part.to_string(),
        })
        .collect();
    micro.join("/").trim().trim_end_matches('/').to_string()
}

/// The decimals a sender wrote a number with (3.5 → 1, 200 → 0), as far as a binary float
/// remembers it.
pub fn decimals_of(value: f64) -> usize {
    let text = format!("{value}");
    text.split_once('.')
        .map_or(0, |(_, decimals)| decimals.len())
        .min(4)
}

/// A measured value as people read it. With a reference range, the value has the range's
/// precision (a range of 12.0–17.5 shows 16.9, not 16.907); without one, three significant
/// figures and never fewer whole digits ("1234", "98.6", "4.57", "0.123").
pub fn rounded(value: f64, range_decimals: Option<usize>) -> String {
    let text = match range_decimals {
        Some(decimals) => format!("{value:.decimals$}"),
        None => {
            let magnitude = value.abs();
            let decimals = if magnitude >= 100.0 {
                0
            } else if magnitude >= 10.0 {
                1
            } else if magnitude >= 1.0 {
                2
            } else {
                3
            };
            let text = format!("{value:.decimals$}");
            if text.contains('.') {
                text.trim_end_matches('0').trim_end_matches('.').to_string()
            } else {
                text
            }
        }
    };
    // "-0" and "-0.0" read as a minus sign on nothing.
    if text
        .trim_start_matches('-')
        .chars()
        .all(|c| c == '0' || c == '.')
    {
        text.trim_start_matches('-').to_string()
    } else {
        text
    }
}

/// LOINC's codes for the two numbers of a blood pressure reading.
pub const SYSTOLIC: &str = "8480-6";
/// See [`SYSTOLIC`].
pub const DIASTOLIC: &str = "8462-4";

/// A blood pressure as one reading: "92/78 mmHg".
pub fn blood_pressure(systolic: f64, diastolic: f64, unit: &str) -> String {
    let unit = unit_for_people(unit);
    let unit = if unit.is_empty() {
        "mmHg".to_string()
    } else {
        unit
    };
    format!(
        "{}/{} {unit}",
        rounded(systolic, Some(0)),
        rounded(diastolic, Some(0))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ucum_codes_are_written_for_people() {
        assert_eq!(unit_for_people("10*3/uL"), "thousand per µL");
        assert_eq!(unit_for_people("mm[Hg]"), "mmHg");
        assert_eq!(unit_for_people("kg/m2"), "kg/m²");
        assert_eq!(unit_for_people("{score}"), "");
        assert_eq!(unit_for_people("mL/min/{1.73_m2}"), "mL/min");
        assert_eq!(unit_for_people("ug/dL"), "µg/dL");
        assert_eq!(unit_for_people("umol/L"), "µmol/L");
        assert_eq!(unit_for_people("Cel"), "°C");
    }

    #[test]
    fn units_people_already_read_stay() {
        for unit in [
            "mg/dL",
            "g/dL",
            "mmol/L",
            "%",
            "fL",
            "pg",
            "kg",
            "cm",
            "cells per microlitre",
        ] {
            assert_eq!(unit_for_people(unit), unit);
        }
    }

    #[test]
    fn values_take_the_precision_of_their_range() {
        assert_eq!(rounded(16.907, Some(decimals_of(17.5))), "16.9");
        assert_eq!(rounded(87.34, Some(decimals_of(99.0))), "87");
        assert_eq!(rounded(4.0, Some(decimals_of(5.1))), "4.0");
        assert_eq!(rounded(0.0049, Some(2)), "0.00");
        assert_eq!(rounded(-0.001, Some(1)), "0.0");
    }

    #[test]
    fn values_without_a_range_keep_three_figures() {
        assert_eq!(rounded(16.907, None), "16.9");
        assert_eq!(rounded(1234.56, None), "1235");
        assert_eq!(rounded(4.567, None), "4.57");
        assert_eq!(rounded(0.12345, None), "0.123");
        assert_eq!(rounded(5.0, None), "5");
        assert_eq!(rounded(-0.0001, None), "0");
    }

    #[test]
    fn decimals_are_read_from_the_number() {
        assert_eq!(decimals_of(3.5), 1);
        assert_eq!(decimals_of(200.0), 0);
        assert_eq!(decimals_of(0.45), 2);
    }

    #[test]
    fn blood_pressure_is_one_reading() {
        assert_eq!(blood_pressure(92.0, 78.4, "mm[Hg]"), "92/78 mmHg");
        assert_eq!(blood_pressure(120.0, 80.0, ""), "120/80 mmHg");
    }
}
