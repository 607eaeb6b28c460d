//! Who a generated patient is: name, sex, birth date, address, language, and the body they grow
//! into (height and weight percentiles), all drawn from the patient's own random stream.

use super::calendar::{Day, TODAY};
use super::rng::Rng;
use uuid::Uuid;

/// Administrative sex, as FHIR `gender`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sex {
    /// `female`.
    Female,
    /// `male`.
    Male,
}

impl Sex {
    /// The FHIR code.
    pub fn as_str(self) -> &'static str {
        match self {
            Sex::Female => "female",
            Sex::Male => "male",
        }
    }
}

/// A patient's identity and constitution.
#[derive(Debug)]
pub struct Person {
    /// The Patient resource's id.
    pub id: Uuid,
    /// Medical record number, `GEN-<seed>-<n>`.
    pub mrn: String,
    /// Sex.
    pub sex: Sex,
    /// Given names.
    pub given: Vec<&'static str>,
    /// Family name.
    pub family: &'static str,
    /// Date of birth.
    pub birth: Day,
    /// Street line.
    pub street: String,
    /// Town, and its ZIP code.
    pub town: (&'static str, &'static str),
    /// Home phone.
    pub phone: String,
    /// BCP-47 language code and display.
    pub language: (&'static str, &'static str),
    /// Marital status code and display (v3-MaritalStatus).
    pub marital: (&'static str, &'static str),
    /// Height percentile as a z-score.
    pub height_z: f64,
    /// Body mass index at 18.
    pub young_adult_bmi: f64,
    /// BMI gained per year of adulthood.
    pub bmi_gain: f64,
}

const FEMALE_NAMES: &[&str] = &[
    "Olivia",
    "Emma",
    "Charlotte",
    "Amelia",
    "Sophia",
    "Mia",
    "Isabella",
    "Ava",
    "Evelyn",
    "Harper",
    "Luna",
    "Camila",
    "Sofia",
    "Scarlett",
    "Elizabeth",
    "Eleanor",
    "Emily",
    "Chloe",
    "Mila",
    "Violet",
    "Penelope",
    "Grace",
    "Maria",
    "Ana",
    "Linh",
    "Mei",
    "Priya",
    "Aisha",
    "Fatima",
    "Rosa",
    "Patricia",
    "Jennifer",
    "Linda",
    "Barbara",
    "Susan",
    "Margaret",
    "Dorothy",
    "Nancy",
    "Karen",
    "Helen",
];

const MALE_NAMES: &[&str] = &[
    "Liam",
    "Noah",
    "Oliver",
    "James",
    "Elijah",
    "William",
    "Henry",
    "Lucas",
    "Benjamin",
    "Theodore",
    "Mateo",
    "Levi",
    "Sebastian",
    "Daniel",
    "Jack",
    "Michael",
    "Alexander",
    "Owen",
    "Samuel",
    "Ethan",
    "Joseph",
    "David",
    "Carlos",
    "Jose",
    "Minh",
    "Wei",
    "Arjun",
    "Omar",
    "Ahmed",
    "Luis",
    "Robert",
    "John",
    "Richard",
    "Thomas",
    "Charles",
    "George",
    "Kenneth",
    "Paul",
    "Edward",
    "Frank",
];

const FAMILY_NAMES: &[&str] = &[
    "Smith",
    "Johnson",
    "Williams",
    "Brown",
    "Jones",
    "Garcia",
    "Miller",
    "Davis",
    "Rodriguez",
    "Martinez",
    "Hernandez",
    "Lopez",
    "Gonzalez",
    "Wilson",
    "Anderson",
    "Thomas",
    "Taylor",
    "Moore",
    "Jackson",
    "Martin",
    "Lee",
    "Perez",
    "Thompson",
    "White",
    "Harris",
    "Sanchez",
    "Clark",
    "Ramirez",
    "Lewis",
    "Robinson",
    "Walker",
    "Young",
    "Allen",
    "King",
    "Wright",
    "Nguyen",
    "Tran",
    "Chen",
    "Wang",
    "Patel",
    "Shah",
    "Kim",
    "Park",
    "O'Brien",
    "Murphy",
    "Sullivan",
    "Kelly",
    "Rossi",
    "Silva",
    "Costa",
    "Khan",
    "Ali",
    "Cohen",
    "Schmidt",
    "Novak",
];

const STREETS: &[&str] = &[
    "Maple",
    "Oak",
    "Elm",
    "Pine",
    "Cedar",
    "Washington",
    "Lincoln",
    "Chestnut",
    "Highland",
    "Prospect",
    "Pleasant",
    "Summer",
    "Winter",
    "Spring",
    "Water",
    "Mill",
    "School",
    "Church",
    "Park",
    "River",
    "Union",
    "Center",
    "Franklin",
    "Adams",
    "Walnut",
    "Beacon",
    "Harbor",
];

const STREET_KINDS: &[&str] = &["Street", "Avenue", "Road", "Lane", "Drive", "Court", "Way"];

/// Massachusetts towns and a ZIP code of each.
pub const TOWNS: &[(&str, &str)] = &[
    ("Boston", "02118"),
    ("Cambridge", "02139"),
    ("Somerville", "02144"),
    ("Worcester", "01602"),
    ("Springfield", "01109"),
    ("Lowell", "01852"),
    ("Brockton", "02301"),
    ("Quincy", "02169"),
    ("Lynn", "01902"),
    ("New Bedford", "02740"),
    ("Newton", "02458"),
    ("Framingham", "01702"),
    ("Waltham", "02453"),
    ("Malden", "02148"),
    ("Medford", "02155"),
    ("Salem", "01970"),
    ("Plymouth", "02360"),
    ("Pittsfield", "01201"),
    ("Fall River", "02720"),
    ("Haverhill", "01830"),
    ("Taunton", "02780"),
    ("Chicopee", "01013"),
    ("Weymouth", "02188"),
    ("Revere", "02151"),
];

const LANGUAGES: &[((&str, &str), u32)] = &[
    (("en-US", "English (United States)"), 780),
    (("es", "Spanish"), 110),
    (("pt", "Portuguese"), 25),
    (("zh", "Chinese"), 20),
    (("vi", "Vietnamese"), 15),
    (("ht", "Haitian Creole"), 15),
    (("ar", "Arabic"), 10),
    (("ru", "Russian"), 10),
    (("fr", "French"), 8),
    (("ko", "Korean"), 7),
];

/// Age bands (years, inclusive) and how many patients fall in each, per thousand.
const AGE_BANDS: &[((i64, i64), u32)] = &[
    ((2, 17), 200),
    ((18, 39), 290),
    ((40, 64), 330),
    ((65, 92), 180),
];

impl Person {
    /// Draws patient `number` of `seed`.
    pub fn draw(rng: &mut Rng, ids: &mut Rng, seed: u64, number: u32) -> Person {
        let sex = if rng.chance(0.51) {
            Sex::Female
        } else {
            Sex::Male
        };
        let names = match sex {
            Sex::Female => FEMALE_NAMES,
            Sex::Male => MALE_NAMES,
        };
        let mut given = vec![*rng.pick(names)];
        if rng.chance(0.6) {
            let middle = *rng.pick(names);
            if middle != given[0] {
                given.push(middle);
            }
        }
        let family = *rng.pick(FAMILY_NAMES);
        let &(low, high) = rng.weighted(AGE_BANDS);
        let age = rng.between(low, high);
        let birth = TODAY.plus_months(-12 * age).plus_days(-rng.between(1, 364));
        let street = format!(
            "{} {} {}",
            rng.between(1, 1999),
            rng.pick(STREETS),
            rng.pick(STREET_KINDS)
        );
        let phone = format!(
            "555-{:03}-{:04}",
            rng.between(200, 999),
            rng.between(0, 9999)
        );
        let marital = if age < 20 {
            ("S", "Never Married")
        } else {
            *rng.weighted(&[
                (("M", "Married"), 50),
                (("S", "Never Married"), 30),
                (("D", "Divorced"), 12),
                (("W", "Widowed"), if age > 65 { 20 } else { 2 }),
            ])
        };
        Person {
            id: ids.uuid(),
            mrn: format!("GEN-{seed}-{number}"),
            sex,
            given,
            family,
            birth,
            street,
            town: *rng.pick(TOWNS),
            phone,
            language: *rng.weighted(LANGUAGES),
            marital,
            height_z: rng.normal(0.0, 1.0),
            young_adult_bmi: rng.normal(23.0, 3.2).clamp(17.5, 38.0),
            bmi_gain: rng.normal(0.12, 0.08).clamp(-0.05, 0.35),
        }
    }

    /// "Maria Lopez".
    pub fn full_name(&self) -> String {
        format!("{} {}", self.given[0], self.family)
    }

    /// Age in whole years on `day`.
    pub fn age_on(&self, day: Day) -> i64 {
        day.months_since(self.birth).div_euclid(12)
    }

    /// Age in whole months on `day`.
    pub fn months_on(&self, day: Day) -> i64 {
        day.months_since(self.birth)
    }

    /// Height in cm on `day`: a growth curve for the patient's percentile.
    pub fn height_on(&self, day: Day) -> f64 {
        let years = self.months_on(day) as f64 / 12.0;
        let median = match self.sex {
            Sex::Female => interpolate(GIRLS_HEIGHT, years),
            Sex::Male => interpolate(BOYS_HEIGHT, years),
        };
        median * (1.0 + 0.04 * self.height_z)
    }

    /// The BMI the patient's weight follows on `day` (before visit-to-visit noise).
    pub fn bmi_on(&self, day: Day) -> f64 {
        let years = self.months_on(day) as f64 / 12.0;
        if years < 18.0 {
            // Children track their adult build, scaled to the childhood BMI curve.
            interpolate(CHILD_BMI, years) * (self.young_adult_bmi / 22.0).sqrt()
        } else {
            let adult_years = (years - 18.0).min(42.0);
            self.young_adult_bmi + self.bmi_gain * adult_years
        }
    }
}

/// Median height (cm) by age (years).
const BOYS_HEIGHT: &[(f64, f64)] = &[
    (0.0, 50.0),
    (0.5, 67.5),
    (1.0, 76.0),
    (2.0, 87.5),
    (3.0, 96.0),
    (4.0, 103.0),
    (6.0, 116.0),
    (8.0, 128.0),
    (10.0, 138.5),
    (12.0, 149.5),
    (14.0, 163.5),
    (16.0, 173.0),
    (18.0, 176.5),
];

/// Median height (cm) by age (years).
const GIRLS_HEIGHT: &[(f64, f64)] = &[
    (0.0, 49.2),
    (0.5, 65.7),
    (1.0, 74.0),
    (2.0, 86.0),
    (3.0, 95.0),
    (4.0, 102.5),
    (6.0, 115.5),
    (8.0, 127.5),
    (10.0, 138.5),
    (12.0, 151.5),
    (14.0, 160.0),
    (16.0, 162.5),
    (18.0, 163.5),
];

/// Median BMI by age (years).
const CHILD_BMI: &[(f64, f64)] = &[
    (0.0, 13.4),
    (0.5, 17.2),
    (1.0, 17.0),
    (2.0, 16.3),
    (4.0, 15.5),
    (6.0, 15.4),
    (8.0, 15.9),
    (10.0, 16.8),
    (12.0, 18.0),
    (14.0, 19.4),
    (16.0, 20.7),
    (18.0, 22.0),
];

/// Linear interpolation in a table sorted by x, flat beyond its ends.
pub fn interpolate(table: &[(f64, f64)], x: f64) -> f64 {
    let Some(&(first_x, first_y)) = table.first() else {
        return 0.0;
    };
    if x <= first_x {
        return first_y;
    }
    for pair in table.windows(2) {
        let ((x0, y0), (x1, y1)) = (pair[0], pair[1]);
        if x <= x1 {
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0);
        }
    }
    table[table.len() - 1].1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn people(n: u32) -> Vec<Person> {
        (1..=n)
            .map(|i| {
                let mut rng = Rng::stream(1, u64::from(i));
                let mut ids = Rng::stream(2, u64::from(i));
                Person::draw(&mut rng, &mut ids, 1, i)
            })
            .collect()
    }

    #[test]
    fn patients_are_born_before_today_and_carry_their_mrn() {
        for (i, p) in people(200).iter().enumerate() {
            assert!(p.birth < TODAY);
            assert!((2..=92).contains(&p.age_on(TODAY)), "{}", p.age_on(TODAY));
            assert_eq!(p.mrn, format!("GEN-1-{}", i + 1));
        }
    }

    #[test]
    fn children_grow_and_adults_have_adult_heights() {
        for p in people(50) {
            let at_two = p.height_on(p.birth.plus_months(24));
            let at_ten = p.height_on(p.birth.plus_months(120));
            let adult = p.height_on(p.birth.plus_months(12 * 30));
            assert!(at_two < at_ten && at_ten < adult);
            assert!((135.0..205.0).contains(&adult), "{adult}");
        }
    }

    #[test]
    fn interpolation_is_linear_between_points_and_flat_outside() {
        let table = [(0.0, 10.0), (2.0, 20.0)];
        assert_eq!(interpolate(&table, 1.0), 15.0);
        assert_eq!(interpolate(&table, -1.0), 10.0);
        assert_eq!(interpolate(&table, 9.0), 20.0);
    }
}
