//! Writing one patient's Bundle: the Patient and the sites they use, then every planned
//! encounter in time order with what happened in it — measurements, diagnoses, prescriptions,
//! vaccines, procedures, lab reports — and the clinician's note.

use super::calendar::{Day, Moment, TODAY};
use super::codes::{self, Code, encounter as encounter_type, loinc, procedure};
use super::conditions::{Acute, Chronic, OBESITY, Setting};
use super::directory::{Directory, Practitioner, Site};
use super::labs::{self, Flag, Panel};
use super::medicines::{self, Medicine};
use super::notes::{Header, Note};
use super::person::Person;
use super::plan::{self, Kind, Onset, Plan, Visit};
use super::prevention::{CheckUp, Prevention};
use super::resources::{self as fhir, Class, ConditionFacts, Context, Prescription};
use super::rng::Rng;
use super::vitals::{self, Vitals};
use super::{BundleWriter, Method, Resource};
use std::io::{self, Write};
use uuid::Uuid;

/// Ids come from their own stream, so they do not shift when the clinical draws change.
const ID_SALT: u64 = 0x1D5C_0DE5_EEDF_00D1;

/// Writes patient `number` of `seed` into `out`; with `identity`, the record is that person's.
pub fn write<W: Write>(
    out: &mut BundleWriter<W>,
    seed: u64,
    number: u32,
    directory: &Directory,
    identity: Option<&crate::Identity>,
) -> io::Result<()> {
    let stream = u64::from(number);
    let mut rng = Rng::stream(seed, stream);
    let mut ids = Rng::stream(seed ^ ID_SALT, stream);
    let mut person = Person::draw(&mut rng, &mut ids, seed, number);
    if let Some(who) = identity {
        person.given = vec![who.given];
        person.family = who.family;
        person.sex = if who.female {
            crate::person::Sex::Female
        } else {
            crate::person::Sex::Male
        };
        let (year, month, day) = who.birth;
        person.birth = crate::calendar::Day::from_ymd(year, month, day);
        person.mrn = who.mrn.to_string();
        person.id = who.id;
    }
    let sites = directory.sites_for(&mut rng);
    let primary = rng.pick(&sites.clinic.staff);
    let plan = plan::plan(&mut rng, &person);
    let clinic = &sites.clinic.organization;
    out.write(&fhir::patient(&person, primary, clinic), Method::Post)?;
    write_site(out, sites.clinic)?;
    if plan.uses_hospital() {
        write_site(out, sites.hospital)?;
    }
    let mut chart = Chart {
        out,
        rng,
        ids,
        person: &person,
        clinic: sites.clinic,
        hospital: sites.hospital,
        primary,
        plan: &plan,
        problems: Vec::new(),
        prevention: Prevention::from_age(person.months_on(plan.start)),
        obese: false,
        allergies_recorded: false,
    };
    for visit in &plan.visits {
        chart.encounter(visit)?;
    }
    Ok(())
}

fn write_site<W: Write>(out: &mut BundleWriter<W>, site: &Site) -> io::Result<()> {
    out.write(&fhir::organization(&site.organization), Method::Put)?;
    for practitioner in &site.staff {
        out.write(&fhir::practitioner(practitioner), Method::Put)?;
    }
    Ok(())
}

/// A diagnosed long-term condition and its current treatment.
#[derive(Debug)]
struct Problem {
    chronic: &'static Chronic,
    condition: Uuid,
    medicines: Vec<&'static Medicine>,
    /// The first medicine is to be replaced by the alternative at the next encounter.
    pending_switch: bool,
    /// The day its medicines were last prescribed.
    prescribed_on: Day,
}

/// The patient's record as it is being written.
struct Chart<'a, W: Write> {
    out: &'a mut BundleWriter<W>,
    rng: Rng,
    ids: Rng,
    person: &'a Person,
    clinic: &'a Site,
    hospital: &'a Site,
    primary: &'a Practitioner,
    plan: &'a Plan,
    problems: Vec<Problem>,
    prevention: Prevention,
    obese: bool,
    allergies_recorded: bool,
}

impl<'a, W: Write> Chart<'a, W> {
    fn emit(&mut self, resource: Resource) -> io::Result<()> {
        self.out.write(&resource, Method::Post)
    }

    fn id(&mut self) -> Uuid {
        self.ids.uuid()
    }

    fn encounter(&mut self, visit: &Visit) -> io::Result<()> {
        let day = visit.start.day();
        let age = self.person.age_on(day);
        let (site, clinician, class, kind, reason) = match visit.kind {
            Kind::Wellness => {
                let kind = if age < 18 {
                    &encounter_type::WELL_CHILD
                } else {
                    &encounter_type::CHECK_UP
                };
                (self.clinic, self.primary, Class::Ambulatory, kind, None)
            }
            Kind::FollowUp(chronic) => (
                self.clinic,
                self.primary,
                Class::Ambulatory,
                &encounter_type::PROBLEM,
                Some(&chronic.code),
            ),
            Kind::Acute(acute) => {
                let (site, class, kind) = match acute.setting {
                    Setting::Clinic => (self.clinic, Class::Ambulatory, &encounter_type::SYMPTOM),
                    Setting::Emergency => {
                        (self.hospital, Class::Emergency, &encounter_type::EMERGENCY)
                    }
                    Setting::Hospital => {
                        (self.hospital, Class::Inpatient, &encounter_type::ADMISSION)
                    }
                };
                (
                    site,
                    self.rng.pick(&site.staff),
                    class,
                    kind,
                    Some(&acute.code),
                )
            }
        };
        let cx = Context {
            patient: self.person.id,
            encounter: self.id(),
            clinician,
            organization: &site.organization,
            start: visit.start,
            end: visit.end,
        };
        self.emit(fhir::encounter(
            &cx,
            &self.person.full_name(),
            class,
            kind,
            reason,
        ))?;
        let mut note = Note::default();
        if !self.allergies_recorded && age >= 2 {
            self.allergies_recorded = true;
            self.record_allergies(&cx, &mut note)?;
        }
        self.switch_medicines(&cx, &mut note)?;
        match visit.kind {
            Kind::Wellness => self.check_up(&cx, &mut note)?,
            Kind::FollowUp(chronic) => self.follow_up(&cx, chronic, &mut note)?,
            Kind::Acute(acute) => self.acute(&cx, acute, &mut note)?,
        }
        let full_note = matches!(visit.kind, Kind::Wellness) || class == Class::Inpatient;
        self.write_note(&cx, kind, &note, full_note)
    }

    fn check_up(&mut self, cx: &Context, note: &mut Note) -> io::Result<()> {
        let day = cx.start.day();
        let age = self.person.age_on(day);
        note.complaint = if age < 18 {
            "Routine well-child visit.".into()
        } else {
            "Annual physical examination.".into()
        };
        let bmi = self.vitals(cx, Vitals::CheckUp, note)?;
        let plan = self.plan;
        for onset in plan.onsets.iter().filter(|o| o.diagnosed == Some(day)) {
            self.diagnose(cx, onset, note)?;
        }
        if age >= 18 && !self.obese && bmi.is_some_and(|bmi| bmi >= 30.0) {
            self.obese = true;
            let id = self.id();
            let onset = day.to_string();
            self.emit(fhir::condition(
                id,
                cx,
                ConditionFacts {
                    code: &OBESITY,
                    problem_list: true,
                    onset: &onset,
                    abatement: None,
                },
            ))?;
            note.diagnoses.push(OBESITY.display);
        }
        self.renew(cx, note)?;
        let at = CheckUp {
            day,
            months: self.person.months_on(day),
            sex: self.person.sex,
            bmi,
            chronic: !self.problems.is_empty(),
            on_medicines: self.on_medicines(),
        };
        for vaccine in self.prevention.vaccines(&mut self.rng, &at) {
            let id = self.id();
            let lot = format!(
                "{}{}{:05}",
                char::from(b'A' + self.rng.below(26) as u8),
                char::from(b'A' + self.rng.below(26) as u8),
                self.rng.below(100_000)
            );
            self.emit(fhir::immunization(id, cx, &vaccine, &lot))?;
            note.immunizations.push(vaccine.display);
        }
        for code in self.prevention.screenings(&mut self.rng, &at) {
            self.procedure(cx, code, None, note)?;
        }
        let monitoring: Vec<&'static Panel> = self
            .problems
            .iter()
            .flat_map(|p| p.chronic.monitoring.iter().copied())
            .collect();
        for panel in self.prevention.panels(&mut self.rng, &at, &monitoring) {
            self.lab_panel(cx, panel, note)?;
        }
        Ok(())
    }

    fn follow_up(&mut self, cx: &Context, chronic: &Chronic, note: &mut Note) -> io::Result<()> {
        note.complaint = format!("Follow-up of {}.", short(chronic.code.display));
        self.vitals(cx, Vitals::FollowUp, note)?;
        for panel in chronic.monitoring {
            self.lab_panel(cx, panel, note)?;
        }
        if self.on_medicines() {
            self.procedure(cx, &procedure::MEDICATION_RECONCILIATION, None, note)?;
        }
        Ok(())
    }

    fn acute(&mut self, cx: &Context, acute: &'static Acute, note: &mut Note) -> io::Result<()> {
        let day = cx.start.day();
        note.complaint = acute.complaint.into();
        let in_hospital = acute.setting == Setting::Hospital;
        let vitals = Vitals::Acute {
            fever: acute.fever,
            short_of_breath: in_hospital && acute.fever,
        };
        self.vitals(cx, vitals, note)?;
        let onset = if acute.fever {
            cx.start.plus_minutes(-1440 * self.rng.between(1, 4))
        } else {
            cx.start.plus_minutes(-self.rng.between(30, 240))
        };
        let resolved = onset
            .day()
            .plus_days(self.rng.between(acute.days.0, acute.days.1));
        let condition = self.id();
        let onset = onset.to_string();
        self.emit(fhir::condition(
            condition,
            cx,
            ConditionFacts {
                code: &acute.code,
                problem_list: false,
                onset: &onset,
                abatement: (resolved < TODAY).then(|| Moment::at(resolved, 12, 0)),
            },
        ))?;
        note.diagnoses.push(acute.code.display);
        for code in acute.procedures {
            self.procedure(cx, code, Some(condition), note)?;
        }
        if in_hospital || (acute.setting == Setting::Emergency && self.rng.chance(0.35)) {
            self.lab_panel(cx, &labs::CBC, note)?;
            self.lab_panel(cx, &labs::BASIC_METABOLIC, note)?;
        }
        let medicine = if self.person.age_on(day) < 12 {
            acute.medicines.1
        } else {
            acute.medicines.0
        };
        if let Some(medicine) = medicine {
            let course_end = cx.end.day().plus_days(i64::from(medicine.supply_days));
            let status = if course_end < TODAY {
                Prescription::Completed
            } else {
                Prescription::Active
            };
            self.prescribe(cx, medicine, status, Some(condition), note)?;
        }
        Ok(())
    }

    fn vitals(&mut self, cx: &Context, set: Vitals, note: &mut Note) -> io::Result<Option<f64>> {
        let raised = self.blood_pressure_raised(cx.start.day());
        let readings = vitals::measure(&mut self.rng, self.person, cx.start.day(), set, raised);
        for reading in &readings.readings {
            let id = self.id();
            self.emit(reading.resource(id, cx))?;
            note.vitals.push(reading.describe());
        }
        Ok(readings.bmi)
    }

    /// Whether blood pressure is up on `day`, and whether that is being treated.
    fn blood_pressure_raised(&self, day: Day) -> Option<bool> {
        self.plan
            .onsets
            .iter()
            .find(|o| o.chronic.raises_blood_pressure && o.onset <= day)
            .map(|o| {
                self.problems
                    .iter()
                    .any(|p| std::ptr::eq(p.chronic, o.chronic) && p.prescribed_on < day)
            })
    }

    fn diagnose(&mut self, cx: &Context, onset: &Onset, note: &mut Note) -> io::Result<()> {
        let day = cx.start.day();
        let chronic = onset.chronic;
        let condition = self.id();
        let onset_date = onset.onset.to_string();
        self.emit(fhir::condition(
            condition,
            cx,
            ConditionFacts {
                code: &chronic.code,
                problem_list: true,
                onset: &onset_date,
                abatement: onset.resolved.map(|d| Moment::at(d, 12, 0)),
            },
        ))?;
        note.diagnoses.push(chronic.code.display);
        if let Some(work_up) = &chronic.work_up {
            self.procedure(cx, work_up, Some(condition), note)?;
        }
        if onset.resolved.is_some() {
            return Ok(());
        }
        for (k, medicine) in chronic.medicines.iter().enumerate() {
            let status = if k == 0 && onset.switch {
                Prescription::Stopped
            } else {
                self.renewal_status(day)
            };
            self.prescribe(cx, medicine, status, Some(condition), note)?;
        }
        self.problems.push(Problem {
            chronic,
            condition,
            medicines: chronic.medicines.to_vec(),
            pending_switch: onset.switch,
            prescribed_on: day,
        });
        Ok(())
    }

    /// A long-term prescription is completed when a later check-up renews it, else active.
    fn renewal_status(&self, day: Day) -> Prescription {
        if self.plan.last_wellness.is_some_and(|last| day < last) {
            Prescription::Completed
        } else {
            Prescription::Active
        }
    }

    fn renew(&mut self, cx: &Context, note: &mut Note) -> io::Result<()> {
        let day = cx.start.day();
        let mut due = Vec::new();
        for problem in &mut self.problems {
            if problem.prescribed_on < day {
                problem.prescribed_on = day;
                due.extend(problem.medicines.iter().map(|m| (*m, problem.condition)));
            }
        }
        let status = self.renewal_status(day);
        for (medicine, condition) in due {
            self.prescribe(cx, medicine, status, Some(condition), note)?;
        }
        Ok(())
    }

    fn switch_medicines(&mut self, cx: &Context, note: &mut Note) -> io::Result<()> {
        let day = cx.start.day();
        let mut switched = Vec::new();
        for problem in &mut self.problems {
            let Some(alternative) = problem.chronic.alternative else {
                continue;
            };
            if problem.pending_switch && problem.prescribed_on < day {
                problem.pending_switch = false;
                problem.prescribed_on = day;
                note.stopped.push(problem.medicines[0].code.display);
                problem.medicines[0] = alternative;
                switched.push((alternative, problem.condition));
            }
        }
        let status = self.renewal_status(day);
        for (medicine, condition) in switched {
            self.prescribe(cx, medicine, status, Some(condition), note)?;
        }
        Ok(())
    }

    fn prescribe(
        &mut self,
        cx: &Context,
        medicine: &'static Medicine,
        status: Prescription,
        reason: Option<Uuid>,
        note: &mut Note,
    ) -> io::Result<()> {
        let id = self.id();
        self.emit(fhir::medication_request(
            id, cx, medicine, status, false, reason,
        ))?;
        note.prescribed.push(medicine.code.display);
        Ok(())
    }

    fn on_medicines(&self) -> bool {
        self.problems.iter().any(|p| !p.medicines.is_empty())
    }

    fn procedure(
        &mut self,
        cx: &Context,
        code: &'static Code,
        reason: Option<Uuid>,
        note: &mut Note,
    ) -> io::Result<()> {
        let id = self.id();
        self.emit(fhir::procedure(id, cx, code, reason))?;
        note.procedures.push(code.display);
        Ok(())
    }

    fn record_allergies(&mut self, cx: &Context, note: &mut Note) -> io::Result<()> {
        let mut severe = false;
        for allergen in &self.plan.allergies {
            let reaction = *self.rng.pick(allergen.reactions);
            let severity = if reaction == codes::ANAPHYLAXIS {
                severe = true;
                "severe"
            } else if self.rng.chance(0.35) {
                "moderate"
            } else {
                "mild"
            };
            let id = self.id();
            self.emit(fhir::allergy(
                id,
                cx,
                &allergen.code,
                allergen.category.as_str(),
                &reaction,
                severity,
            ))?;
            note.allergies.push(allergen.code.display);
        }
        if severe {
            self.prescribe(
                cx,
                &medicines::EPINEPHRINE,
                Prescription::Active,
                None,
                note,
            )?;
        }
        Ok(())
    }

    fn lab_panel(
        &mut self,
        cx: &Context,
        panel: &'static Panel,
        note: &mut Note,
    ) -> io::Result<()> {
        let day = cx.start.day();
        let shifts: Vec<(&str, f64, f64)> = self
            .plan
            .onsets
            .iter()
            .filter(|o| o.onset <= day && o.resolved.is_none_or(|r| day < r))
            .flat_map(|o| o.chronic.lab_shifts.iter().copied())
            .collect();
        let results = labs::draw(&mut self.rng, panel, self.person.sex, &shifts);
        let issued = cx.start.plus_minutes(self.rng.between(60, 300));
        let mut references = Vec::with_capacity(results.len());
        let mut abnormal = Vec::new();
        for result in &results {
            let id = self.id();
            self.emit(fhir::lab_result(id, cx, result, issued))?;
            references.push((id, &result.analyte.code));
            if result.flag != Flag::Normal {
                abnormal.push(format!(
                    "{} {} {} ({})",
                    short(result.analyte.code.display),
                    result.value,
                    result.analyte.unit,
                    result.flag.display().to_lowercase()
                ));
            }
        }
        let conclusion = if abnormal.is_empty() {
            "All results within the reference range.".to_string()
        } else {
            format!("Outside the reference range: {}.", abnormal.join("; "))
        };
        let id = self.id();
        self.emit(fhir::lab_report(
            id,
            cx,
            &panel.code,
            issued,
            &references,
            Some(&conclusion),
        ))?;
        note.panels.push(panel.name);
        note.abnormal.extend(abnormal);
        Ok(())
    }

    fn write_note(
        &mut self,
        cx: &Context,
        encounter_kind: &Code,
        note: &Note,
        history_and_physical: bool,
    ) -> io::Result<()> {
        let kind = if history_and_physical {
            loinc("34117-2", "History and physical note")
        } else {
            loinc("11506-3", "Progress note")
        };
        let day = cx.start.day();
        let months = self.person.months_on(day);
        let age = if months < 1 {
            format!("{}-day-old", day.days_since(self.person.birth))
        } else if months < 24 {
            format!("{months}-month-old")
        } else {
            format!("{}-year-old", months / 12)
        };
        let title = short(encounter_kind.display);
        let header = Header {
            date: day.to_string(),
            title,
            patient: format!(
                "{}, {age} {}",
                self.person.full_name(),
                self.person.sex.as_str()
            ),
            author: format!("{}, {}", cx.clinician.display(), cx.organization.name),
        };
        let text = note.render(&header);
        let id = self.id();
        self.emit(fhir::note(id, cx, &kind, title, &text))
    }
}

/// A display without its bracketed or parenthesised qualifier: "Glucose", "Essential hypertension".
fn short(display: &str) -> &str {
    let end = [" [", " ("]
        .iter()
        .filter_map(|marker| display.find(marker))
        .min()
        .unwrap_or(display.len());
    &display[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_names_drop_qualifiers() {
        assert_eq!(short("Glucose [Mass/volume] in Serum or Plasma"), "Glucose");
        assert_eq!(
            short("Essential hypertension (disorder)"),
            "Essential hypertension"
        );
        assert_eq!(short("Progress note"), "Progress note");
    }
}
