//! A patient's timeline before anything is written: which encounters happen when, which
//! long-term conditions begin when and at which check-up they are diagnosed, and their allergies.
//! Planning first lets a prescription know, when it is written, whether it will be renewed.

use super::calendar::{Day, Moment, TODAY};
use super::codes::{ALLERGENS, Allergen};
use super::conditions::{ACUTE, Acute, CHRONIC, Chronic, Setting};
use super::labs::Panel;
use super::person::Person;
use super::rng::Rng;

/// Why an encounter happens.
#[derive(Clone, Copy, Debug)]
pub enum Kind {
    /// Check-up (well-child visit or adult physical).
    Wellness,
    /// Follow-up of a long-term condition.
    FollowUp(&'static Chronic),
    /// A short-lived problem, seen where its setting says.
    Acute(&'static Acute),
}

/// One planned encounter.
#[derive(Clone, Copy, Debug)]
pub struct Visit {
    /// Why.
    pub kind: Kind,
    /// Start.
    pub start: Moment,
    /// End.
    pub end: Moment,
}

/// A long-term condition of this patient.
#[derive(Clone, Copy, Debug)]
pub struct Onset {
    /// Which.
    pub chronic: &'static Chronic,
    /// When it began.
    pub onset: Day,
    /// The check-up that diagnoses it, if one happens after it began.
    pub diagnosed: Option<Day>,
    /// Whether the first medicine is not tolerated and replaced at the next encounter.
    pub switch: bool,
    /// When another condition replaced it.
    pub resolved: Option<Day>,
}

/// The whole timeline.
#[derive(Debug)]
pub struct Plan {
    /// Encounters in time order.
    pub visits: Vec<Visit>,
    /// Long-term conditions.
    pub onsets: Vec<Onset>,
    /// Allergies, recorded at the first encounter.
    pub allergies: Vec<&'static Allergen>,
    /// The last check-up: prescriptions renewed there stay active.
    pub last_wellness: Option<Day>,
    /// The first day of the record.
    pub start: Day,
}

impl Plan {
    /// Whether a hospital is ever visited.
    pub fn uses_hospital(&self) -> bool {
        self.visits
            .iter()
            .any(|v| matches!(v.kind, Kind::Acute(a) if a.setting != Setting::Clinic))
    }
}

/// Well-child visits (months of age) before the yearly ones from three years on.
const EARLY_CHECK_UPS: &[i64] = &[0, 1, 2, 4, 6, 9, 12, 15, 18, 24, 30];

/// Plans a patient's record: a lifetime of encounters, of which the most recent are kept, as
/// many as fit the patient's budget of entries (so Bundles stay at a few hundred entries,
/// older and sicker patients' covering fewer years).
pub fn plan(rng: &mut Rng, person: &Person) -> Plan {
    let budget = entry_budget(rng, person.age_on(TODAY));
    let wellness = check_ups(rng, person);
    let mut onsets = onsets(rng, person);
    diagnose(&mut onsets, &wellness, person.birth);
    let mut visits = wellness;
    visits.extend(acute_visits(rng, person));
    let follow_ups = follow_ups(rng, &onsets, &visits);
    visits.extend(follow_ups);
    visits.retain(|v| v.end.day() < TODAY);
    visits.sort_by_key(|v| v.start);
    let start = first_day_within_budget(&visits, &onsets, person, budget);
    visits.retain(|v| v.start.day() >= start);
    // Conditions that began before the record are documented at its first check-up.
    diagnose(&mut onsets, &visits, start);
    resolve_replaced(&mut onsets);
    visits.retain(|v| match v.kind {
        Kind::FollowUp(chronic) => onsets.iter().any(|o| {
            std::ptr::eq(o.chronic, chronic)
                && o.resolved.is_none()
                && o.diagnosed.is_some_and(|d| d < v.start.day())
        }),
        _ => true,
    });
    let last_wellness = visits
        .iter()
        .filter(|v| matches!(v.kind, Kind::Wellness))
        .map(|v| v.start.day())
        .max();
    let allergies = if rng.chance(0.3) {
        let count = rng.between(1, 3);
        let mut chosen: Vec<&'static Allergen> = Vec::new();
        for _ in 0..count {
            let allergen = rng.pick(ALLERGENS);
            if !chosen.iter().any(|a| std::ptr::eq(*a, allergen)) {
                chosen.push(allergen);
            }
        }
        chosen
    } else {
        Vec::new()
    };
    Plan {
        visits,
        onsets,
        allergies,
        last_wellness,
        start,
    }
}

/// About how many entries a patient's Bundle should hold: more with age.
fn entry_budget(rng: &mut Rng, age: i64) -> i64 {
    let mean = match age {
        ..18 => 220.0,
        18..40 => 230.0,
        40..65 => 280.0,
        _ => 320.0,
    };
    rng.normal(mean, 45.0).clamp(180.0, 360.0) as i64
}

/// The first day of the record: the most recent encounters are kept until their estimated
/// entries reach the budget.
fn first_day_within_budget(
    visits: &[Visit],
    onsets: &[Onset],
    person: &Person,
    budget: i64,
) -> Day {
    // The Patient, its clinic and the clinic's clinicians.
    let mut total = 5;
    for visit in visits.iter().rev() {
        total += estimated_entries(visit, onsets, person);
        if total >= budget {
            return visit.start.day();
        }
    }
    person.birth
}

fn panel_entries(panels: &[&Panel]) -> i64 {
    panels.iter().map(|p| p.analytes.len() as i64 + 1).sum()
}

/// A rough count of the entries an encounter writes (see `record`), to size the record.
fn estimated_entries(visit: &Visit, onsets: &[Onset], person: &Person) -> i64 {
    let day = visit.start.day();
    match visit.kind {
        Kind::Wellness => {
            let age = person.age_on(day);
            let present: Vec<&Onset> = onsets.iter().filter(|o| o.onset <= day).collect();
            // Encounter, note, vital signs, screening procedures, vaccines.
            let mut entries = match age {
                ..2 => 11,
                2..18 => 11,
                _ => 13,
            };
            if age >= 18 {
                entries += if age >= 40 || !present.is_empty() {
                    18
                } else {
                    6
                };
                entries += 3;
            }
            for onset in present {
                entries += onset.chronic.medicines.len() as i64;
                entries += panel_entries(onset.chronic.monitoring);
            }
            entries
        }
        Kind::FollowUp(chronic) => 6 + panel_entries(chronic.monitoring),
        Kind::Acute(acute) => {
            let done = acute.procedures.len() as i64;
            match acute.setting {
                Setting::Clinic => 9 + done,
                Setting::Emergency => 17 + done,
                Setting::Hospital => 30 + done,
            }
        }
    }
}

/// Each condition is diagnosed at the first check-up on or after both its onset and `from`.
fn diagnose(onsets: &mut [Onset], visits: &[Visit], from: Day) {
    for onset in onsets {
        onset.diagnosed = visits
            .iter()
            .filter(|v| matches!(v.kind, Kind::Wellness))
            .map(|v| v.start.day())
            .find(|day| *day >= onset.onset && *day >= from);
    }
}

/// A condition that replaces another (diabetes after prediabetes) resolves it when diagnosed;
/// one that would begin after its replacement, or be diagnosed with it, never happens.
fn resolve_replaced(onsets: &mut Vec<Onset>) {
    let replacements: Vec<(&str, Day, Option<Day>)> = onsets
        .iter()
        .filter_map(|o| o.chronic.replaces.map(|code| (code, o.onset, o.diagnosed)))
        .collect();
    onsets.retain_mut(|o| {
        let Some(&(_, onset, diagnosed)) = replacements
            .iter()
            .find(|(code, _, _)| *code == o.chronic.code.code)
        else {
            return true;
        };
        if o.onset >= onset {
            return false;
        }
        if let (Some(mine), Some(theirs)) = (o.diagnosed, diagnosed)
            && mine >= theirs
        {
            return false;
        }
        o.resolved = diagnosed;
        true
    });
}

/// A clinic appointment on `day` (moved off the weekend), `minutes` long.
fn appointment(rng: &mut Rng, day: Day, minutes: (i64, i64)) -> (Moment, Moment) {
    let day = match day.weekday() {
        6 => day.plus_days(2),
        0 => day.plus_days(1),
        _ => day,
    };
    let slot = rng.between(0, 34);
    let start = Moment::at(day, 8, 0).plus_minutes(slot * 15);
    (start, start.plus_minutes(rng.between(minutes.0, minutes.1)))
}

fn check_ups(rng: &mut Rng, person: &Person) -> Vec<Visit> {
    let anniversary = rng.between(0, 45);
    let mut months: Vec<i64> = EARLY_CHECK_UPS.to_vec();
    months.extend(
        (36..)
            .step_by(12)
            .take_while(|m| person.birth.plus_months(*m) < TODAY),
    );
    let mut visits = Vec::new();
    for m in months {
        let age = m / 12;
        let attends = match m {
            ..36 => 0.97,
            36..216 => 0.9,
            _ if age < 65 => 0.85,
            _ => 0.93,
        };
        let jitter = if m < 36 {
            rng.between(3, 10)
        } else {
            anniversary + rng.between(0, 20)
        };
        let day = person.birth.plus_months(m).plus_days(jitter);
        if day >= TODAY || !rng.chance(attends) {
            continue;
        }
        let (start, end) = appointment(rng, day, (30, 45));
        visits.push(Visit {
            kind: Kind::Wellness,
            start,
            end,
        });
    }
    visits
}

fn onsets(rng: &mut Rng, person: &Person) -> Vec<Onset> {
    let age = person.age_on(TODAY);
    let mut onsets: Vec<Onset> = Vec::new();
    for chronic in CHRONIC {
        let min_age = i64::from(chronic.min_age);
        if age < min_age {
            continue;
        }
        // Childhood conditions are about as common at any age; the others grow with age.
        let share = if min_age < 18 {
            1.0
        } else {
            ((age - min_age) as f64 / (75 - min_age) as f64).min(1.0)
        };
        if !rng.chance(chronic.risk * share) {
            continue;
        }
        let onset_age = rng.between(min_age, age);
        let onset = person
            .birth
            .plus_months(12 * onset_age)
            .plus_days(rng.between(0, 364))
            .min(TODAY.plus_days(-1));
        onsets.push(Onset {
            chronic,
            onset,
            diagnosed: None,
            switch: chronic.alternative.is_some() && rng.chance(0.2),
            resolved: None,
        });
    }
    onsets
}

fn follow_ups(rng: &mut Rng, onsets: &[Onset], planned: &[Visit]) -> Vec<Visit> {
    let mut days: Vec<Day> = planned.iter().map(|v| v.start.day()).collect();
    let mut visits = Vec::new();
    for onset in onsets {
        let (Some(months), Some(diagnosed)) = (onset.chronic.follow_up_months, onset.diagnosed)
        else {
            continue;
        };
        if onset.resolved.is_some() {
            continue;
        }
        let months = i64::from(months);
        for k in 1.. {
            let day = diagnosed
                .plus_months(months * k)
                .plus_days(rng.between(-14, 14));
            if day >= TODAY {
                break;
            }
            // One visit sees to everything due within a month.
            if days.iter().any(|d| d.days_since(day).abs() < 30) || !rng.chance(0.85) {
                continue;
            }
            days.push(day);
            let (start, end) = appointment(rng, day, (20, 30));
            visits.push(Visit {
                kind: Kind::FollowUp(onset.chronic),
                start,
                end,
            });
        }
    }
    visits
}

/// Yearly rates of acute encounters by setting.
fn yearly_rate(setting: Setting, age: i64) -> f64 {
    match (setting, age) {
        (Setting::Clinic, ..5) => 2.4,
        (Setting::Clinic, 5..18) => 1.1,
        (Setting::Clinic, 18..65) => 0.6,
        (Setting::Clinic, _) => 0.8,
        (Setting::Emergency, _) => 0.08,
        (Setting::Hospital, 65..) => 0.04,
        (Setting::Hospital, _) => 0.01,
    }
}

fn acute_visits(rng: &mut Rng, person: &Person) -> Vec<Visit> {
    let mut visits = Vec::new();
    let mut month = person.birth;
    while month < TODAY {
        let age = person.age_on(month);
        for setting in [Setting::Clinic, Setting::Emergency, Setting::Hospital] {
            if !rng.chance(yearly_rate(setting, age) / 12.0) {
                continue;
            }
            let day = month.plus_days(rng.between(0, 27));
            let choices: Vec<(&'static Acute, u32)> = ACUTE
                .iter()
                .filter(|a| {
                    a.setting == setting
                        && (i64::from(a.ages.0)..=i64::from(a.ages.1)).contains(&age)
                        && day >= a.since
                })
                .map(|a| (a, a.weight))
                .collect();
            if choices.is_empty() {
                continue;
            }
            let acute = *rng.weighted(&choices);
            let (start, end) = match setting {
                Setting::Clinic => appointment(rng, day, (15, 30)),
                Setting::Emergency => {
                    let start = Moment::at(day, 0, 0).plus_minutes(rng.between(0, 1439));
                    (start, start.plus_minutes(rng.between(120, 360)))
                }
                Setting::Hospital => {
                    let start = Moment::at(day, 0, 0).plus_minutes(rng.between(0, 1439));
                    let discharge = day.plus_days(rng.between(2, 6));
                    let end = Moment::at(discharge, 10, 0).plus_minutes(rng.between(0, 240));
                    (start, end)
                }
            };
            visits.push(Visit {
                kind: Kind::Acute(acute),
                start,
                end,
            });
        }
        month = month.plus_months(1);
    }
    visits
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plans(n: u64) -> Vec<(Person, Plan)> {
        (1..=n)
            .map(|i| {
                let mut rng = Rng::stream(3, i);
                let mut ids = Rng::stream(4, i);
                let person = Person::draw(&mut rng, &mut ids, 3, i as u32);
                let plan = plan(&mut rng, &person);
                (person, plan)
            })
            .collect()
    }

    #[test]
    fn every_encounter_lies_between_birth_and_today_in_time_order() {
        for (person, plan) in plans(300) {
            assert!(plan.start >= person.birth);
            for pair in plan.visits.windows(2) {
                assert!(pair[0].start <= pair[1].start);
            }
            for v in &plan.visits {
                assert!(v.start.day() >= person.birth && v.end.day() < TODAY);
                assert!(v.start < v.end);
                assert!(v.start.day().weekday() != 0 || matches!(v.kind, Kind::Acute(_)));
            }
        }
    }

    #[test]
    fn conditions_are_diagnosed_at_a_check_up_on_or_after_their_onset() {
        let mut diagnosed = 0;
        for (_, plan) in plans(300) {
            for onset in &plan.onsets {
                if let Some(day) = onset.diagnosed {
                    diagnosed += 1;
                    assert!(day >= onset.onset);
                    assert!(
                        plan.visits
                            .iter()
                            .any(|v| { matches!(v.kind, Kind::Wellness) && v.start.day() == day })
                    );
                }
            }
        }
        assert!(diagnosed > 50, "{diagnosed}");
    }

    #[test]
    fn prediabetes_never_stays_active_beside_diabetes() {
        for (_, plan) in plans(2000) {
            let diabetes = plan.onsets.iter().find(|o| o.chronic.replaces.is_some());
            let prediabetes = plan
                .onsets
                .iter()
                .find(|o| Some(o.chronic.code.code) == diabetes.and_then(|d| d.chronic.replaces));
            if let (Some(d), Some(p)) = (diabetes, prediabetes) {
                assert!(p.onset < d.onset);
                assert_eq!(p.resolved, d.diagnosed);
            }
        }
    }

    #[test]
    fn covid_appears_only_from_2020() {
        for (_, plan) in plans(1000) {
            for v in &plan.visits {
                if let Kind::Acute(a) = v.kind {
                    assert!(v.start.day() >= a.since);
                }
            }
        }
    }
}
