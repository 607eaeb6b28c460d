//! Preventive care at check-ups: which vaccines, screenings and routine lab panels are due,
//! remembering what was done before so that each comes at its interval.

use super::calendar::Day;
use super::codes::{CHILDHOOD_DOSES, Code, procedure, vaccine};
use super::labs::{self, Panel};
use super::person::Sex;
use super::rng::Rng;

/// What has been done so far.
#[derive(Debug, Default)]
pub struct Prevention {
    /// Childhood doses due up to this age (months) were given, or were due before the record.
    doses_through: i64,
    flu: Option<Day>,
    td: Option<Day>,
    zoster_doses: u8,
    pneumococcal: bool,
    covid_doses: u8,
    lipids: Option<Day>,
    a1c: Option<Day>,
    mammogram: Option<Day>,
    colonoscopy: bool,
}

/// The patient at a check-up.
#[derive(Clone, Copy, Debug)]
pub struct CheckUp {
    /// The day.
    pub day: Day,
    /// Age in months.
    pub months: i64,
    /// Sex.
    pub sex: Sex,
    /// BMI measured, if it was.
    pub bmi: Option<f64>,
    /// Has a diagnosed long-term condition.
    pub chronic: bool,
    /// Takes long-term medicines.
    pub on_medicines: bool,
}

impl CheckUp {
    fn age(&self) -> i64 {
        self.months / 12
    }
}

impl Prevention {
    /// A record that begins when the patient is `months` old: childhood doses due before then
    /// were given elsewhere.
    pub fn from_age(months: i64) -> Prevention {
        Prevention {
            doses_through: months - 1,
            ..Prevention::default()
        }
    }

    /// Vaccines to give.
    pub fn vaccines(&mut self, rng: &mut Rng, at: &CheckUp) -> Vec<Code> {
        let (day, months, age) = (at.day, at.months, at.age());
        let mut due: Vec<Code> = CHILDHOOD_DOSES
            .iter()
            .filter(|d| d.months > self.doses_through && d.months <= months)
            .map(|d| d.vaccine)
            .collect();
        self.doses_through = self.doses_through.max(months);
        if months >= 6 && self.flu.is_none_or(|last| day.days_since(last) >= 300) {
            self.flu = Some(day);
            due.push(vaccine::FLU);
        }
        let td_due = match self.td {
            Some(last) => day.days_since(last) > 3650,
            // Most adults' last tetanus shot predates the record.
            None => rng.chance(0.1),
        };
        if age >= 19 && td_due {
            self.td = Some(day);
            due.push(vaccine::TD);
        }
        if age >= 50 && self.zoster_doses < 2 && (self.zoster_doses == 1 || rng.chance(0.4)) {
            self.zoster_doses += 1;
            due.push(vaccine::ZOSTER);
        }
        if age >= 65 && !self.pneumococcal && rng.chance(0.7) {
            self.pneumococcal = true;
            due.push(vaccine::PNEUMOCOCCAL);
        }
        let covid_campaign = Day::from_ymd(2021, 1, 1)..Day::from_ymd(2023, 1, 1);
        if covid_campaign.contains(&day) && age >= 5 && self.covid_doses < 2 && rng.chance(0.75) {
            self.covid_doses += 1;
            due.push(vaccine::COVID);
        }
        due
    }

    /// Screening procedures to do.
    pub fn screenings(&mut self, rng: &mut Rng, at: &CheckUp) -> Vec<&'static Code> {
        let (day, age) = (at.day, at.age());
        let mut due: Vec<&'static Code> = Vec::new();
        if age >= 12 {
            due.push(&procedure::DEPRESSION_SCREENING);
        }
        if age >= 14 && rng.chance(0.6) {
            due.push(&procedure::SUBSTANCE_USE);
        }
        if age >= 18 && rng.chance(0.8) {
            due.push(&procedure::SOCIAL_NEEDS);
        }
        let mammogram_due = self.mammogram.is_none_or(|d| day.days_since(d) >= 700);
        if at.sex == Sex::Female && age >= 40 && mammogram_due && rng.chance(0.8) {
            self.mammogram = Some(day);
            due.push(&procedure::MAMMOGRAPHY);
        }
        if age >= 45 && !self.colonoscopy && rng.chance(0.2) {
            self.colonoscopy = true;
            due.push(&procedure::COLONOSCOPY);
        }
        if at.on_medicines {
            due.push(&procedure::MEDICATION_RECONCILIATION);
        }
        due
    }

    /// Lab panels to order: routine ones for the age, and those `monitoring` the patient's
    /// conditions.
    pub fn panels(
        &mut self,
        rng: &mut Rng,
        at: &CheckUp,
        monitoring: &[&'static Panel],
    ) -> Vec<&'static Panel> {
        let (day, months, age) = (at.day, at.months, at.age());
        let mut panels: Vec<&'static Panel> = Vec::new();
        if age < 18 {
            // Anaemia screening around the first birthday.
            if (9..=15).contains(&months) && rng.chance(0.5) {
                panels.push(&labs::CBC);
            }
        } else {
            if age >= 40 || at.chronic || rng.chance(0.35) {
                panels.extend([&labs::CBC, &labs::BASIC_METABOLIC]);
            }
            let lipids_due = self.lipids.is_none_or(|d| day.days_since(d) >= 1000);
            if age >= 20 && lipids_due && rng.chance(0.8) {
                panels.push(&labs::LIPIDS);
            }
            let a1c_due = self.a1c.is_none_or(|d| day.days_since(d) >= 1000);
            if age >= 35 && at.bmi.is_some_and(|b| b >= 25.0) && a1c_due && rng.chance(0.5) {
                panels.push(&labs::HBA1C);
            }
        }
        for panel in monitoring {
            if !panels.iter().any(|p| std::ptr::eq(*p, *panel)) {
                panels.push(panel);
            }
        }
        if panels.iter().any(|p| std::ptr::eq(*p, &labs::LIPIDS)) {
            self.lipids = Some(day);
        }
        if panels.iter().any(|p| std::ptr::eq(*p, &labs::HBA1C)) {
            self.a1c = Some(day);
        }
        panels
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_up(day: Day, birth: Day) -> CheckUp {
        CheckUp {
            day,
            months: day.months_since(birth),
            sex: Sex::Female,
            bmi: Some(27.0),
            chronic: false,
            on_medicines: false,
        }
    }

    #[test]
    fn a_child_followed_from_birth_gets_every_childhood_dose_once() {
        let birth = Day::from_ymd(2010, 1, 10);
        let mut prevention = Prevention::from_age(0);
        let mut rng = Rng::stream(1, 1);
        let mut given = 0;
        for months in [
            0, 1, 2, 4, 6, 9, 12, 15, 18, 24, 30, 36, 48, 60, 132, 144, 192,
        ] {
            let day = birth.plus_months(months).plus_days(5);
            given += prevention
                .vaccines(&mut rng, &check_up(day, birth))
                .iter()
                .filter(|v| CHILDHOOD_DOSES.iter().any(|d| d.vaccine == **v))
                .count();
        }
        assert_eq!(given, CHILDHOOD_DOSES.len());
    }

    #[test]
    fn a_record_that_starts_in_adulthood_gives_no_childhood_doses() {
        let birth = Day::from_ymd(1980, 5, 1);
        let day = Day::from_ymd(2024, 5, 3);
        let mut prevention = Prevention::from_age(day.months_since(birth));
        let due = prevention.vaccines(&mut Rng::stream(2, 2), &check_up(day, birth));
        assert!(
            due.iter()
                .all(|v| !CHILDHOOD_DOSES.iter().any(|d| d.vaccine == *v))
        );
        assert!(due.contains(&vaccine::FLU));
    }

    #[test]
    fn flu_shots_and_lipid_panels_keep_their_intervals() {
        let birth = Day::from_ymd(1970, 3, 1);
        let mut prevention = Prevention::from_age(600);
        let mut rng = Rng::stream(3, 3);
        let first = Day::from_ymd(2024, 3, 4);
        let soon = first.plus_days(90);
        assert!(
            prevention
                .vaccines(&mut rng, &check_up(first, birth))
                .contains(&vaccine::FLU)
        );
        assert!(
            !prevention
                .vaccines(&mut rng, &check_up(soon, birth))
                .contains(&vaccine::FLU)
        );
        let mut lipid_days = Vec::new();
        for year in 0..6 {
            let day = first.plus_months(12 * year);
            let panels = prevention.panels(&mut rng, &check_up(day, birth), &[]);
            if panels.iter().any(|p| std::ptr::eq(*p, &labs::LIPIDS)) {
                lipid_days.push(day);
            }
        }
        assert!(!lipid_days.is_empty());
        for pair in lipid_days.windows(2) {
            assert!(pair[1].days_since(pair[0]) >= 1000);
        }
    }

    #[test]
    fn monitoring_panels_are_ordered_once_even_when_also_routine() {
        let birth = Day::from_ymd(1960, 1, 1);
        let mut at = check_up(Day::from_ymd(2025, 1, 6), birth);
        at.chronic = true;
        let panels = Prevention::from_age(at.months).panels(
            &mut Rng::stream(4, 4),
            &at,
            &[&labs::BASIC_METABOLIC, &labs::HBA1C],
        );
        let bmp = panels
            .iter()
            .filter(|p| std::ptr::eq(**p, &labs::BASIC_METABOLIC))
            .count();
        assert_eq!(bmp, 1);
        assert!(panels.iter().any(|p| std::ptr::eq(*p, &labs::HBA1C)));
    }
}
