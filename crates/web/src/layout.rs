//! The page shell: title, navigation for each role, the CSRF token for forms.

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use portal_app::auth::{CurrentUser, Stage};
use portal_domain::{PatientId, Role};

/// One navigation link.
#[derive(Clone, Debug)]
pub struct NavItem {
    /// The link text.
    pub label: &'static str,
    /// Where it goes.
    pub href: String,
    /// Whether it is the page being shown.
    pub current: bool,
    /// On a narrow screen, shown under "More" rather than in the bar.
    pub extra: bool,
    /// How many new things wait behind it (new messages), when the page knows.
    pub new: i64,
}

/// Which navigation entry a page belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Nav {
    /// Patient home.
    Home,
    /// The health record.
    Record,
    /// Messages.
    Messages,
    /// Appointments.
    Appointments,
    /// Medications.
    Medications,
    /// Test results.
    Results,
    /// Visits.
    Visits,
    /// Documents.
    Documents,
    /// The account page.
    Account,
    /// The in-basket.
    InBasket,
    /// The patient list.
    Patients,
    /// The schedule.
    Schedule,
    /// Users (admin).
    Users,
    /// The audit trail (admin).
    Audit,
    /// Result-release rules (admin).
    ResultRelease,
    /// Messaging settings and pools (admin).
    Messaging,
    /// Schedules: locations, visit types, hours, closures (admin).
    Schedules,
    /// None highlighted.
    None,
    /// The refill set-up (admins).
    Refills,
    /// Apps patients may connect (admins).
    Apps,
    /// Proxy age rules and confidential categories (admin).
    ProxyRules,
    /// Every clinic setting and where its value comes from (admin).
    Settings,
}

/// What the shell of every page needs.
#[derive(Clone, Debug)]
pub struct Page {
    /// The page's title (also the `<h1>`).
    pub title: String,
    /// The signed-in person's name.
    pub user_name: Option<String>,
    /// Their role, in words.
    pub role_label: &'static str,
    /// The navigation.
    pub nav: Vec<NavItem>,
    /// The CSRF token for this page's forms.
    pub csrf: String,
    /// The footer's words, for whoever reads the page.
    pub footer: &'static str,
}

/// The items a narrow screen shows in the bar; the rest go under "More".
const BAR_ITEMS: usize = 4;

/// The footer of pages patients (and proxies, and people not signed in) read.
const PATIENT_FOOTER: &str = "Your health information is private. Every view of your record is \
                              logged; see who accessed it from your Account page.";

/// The footer of the clinic's pages.
const CLINIC_FOOTER: &str = "Every view of a patient's record is logged under your name and shown \
                             to the patient. Open only the records your work needs.";

/// The footer of administrators' pages.
const ADMIN_FOOTER: &str = "Every change you make is recorded in the audit trail under your name.";

impl Page {
    /// A page for someone not signed in (forms carry the anonymous CSRF token).
    pub fn anonymous(title: &str) -> Self {
        Self {
            title: title.to_string(),
            user_name: None,
            role_label: "",
            nav: Vec::new(),
            csrf: String::new(),
            footer: PATIENT_FOOTER,
        }
    }

    /// An anonymous page whose forms carry `csrf`.
    pub fn anonymous_form(title: &str, csrf: &str) -> Self {
        let mut page = Self::anonymous(title);
        page.csrf = csrf.to_string();
        page
    }

    /// A page for a signed-in user; `patient` is the record a patient-side account is viewing.
    pub fn signed_in(
        title: &str,
        user: &CurrentUser,
        active: Nav,
        patient: Option<PatientId>,
    ) -> Self {
        let mut nav = if user.stage == Stage::Full {
            nav_for(user, active, patient)
        } else {
            Vec::new()
        };
        if nav.len() > BAR_ITEMS + 1 {
            nav.iter_mut()
                .skip(BAR_ITEMS)
                .for_each(|item| item.extra = true);
        }
        Self {
            title: title.to_string(),
            user_name: Some(user.name.clone()),
            role_label: user.role.label(),
            nav,
            csrf: user.csrf_token().to_string(),
            footer: match user.role {
                Role::Patient => PATIENT_FOOTER,
                Role::Clinician | Role::Staff => CLINIC_FOOTER,
                Role::Admin => ADMIN_FOOTER,
            },
        }
    }
}

fn item(label: &'static str, href: String, this: Nav, active: Nav) -> NavItem {
    NavItem {
        label,
        href,
        current: this == active,
        extra: false,
        new: 0,
    }
}

impl Page {
    /// A page about one patient's record: under `patient_side` in a patient's (or proxy's)
    /// menu, under `clinic` in the clinic's.
    pub fn for_record(
        title: &str,
        user: &CurrentUser,
        patient: PatientId,
        patient_side: Nav,
        clinic: Nav,
    ) -> Self {
        let nav = if user.role == Role::Patient {
            patient_side
        } else {
            clinic
        };
        Page::signed_in(title, user, nav, Some(patient))
    }

    /// Marks the navigation entry `nav` with how many new things wait behind it.
    pub fn with_new(mut self, nav: &str, new: i64) -> Self {
        for item in self.nav.iter_mut().filter(|i| i.label == nav) {
            item.new = new;
        }
        self
    }

    /// Whether some navigation items go under "More" on a narrow screen.
    pub fn has_more(&self) -> bool {
        self.nav.iter().any(|item| item.extra)
    }

    /// How many new things wait behind the entries under "More" (shown on "More" itself).
    pub fn more_new(&self) -> i64 {
        self.nav.iter().filter(|i| i.extra).map(|i| i.new).sum()
    }

    /// Whether the page being shown is one of those under "More".
    pub fn more_is_current(&self) -> bool {
        self.nav.iter().any(|item| item.extra && item.current)
    }
}

fn nav_for(user: &CurrentUser, active: Nav, patient: Option<PatientId>) -> Vec<NavItem> {
    let account = item("Account", "/account".into(), Nav::Account, active);
    match user.role {
        Role::Patient => {
            let mut items = Vec::new();
            if let Some(p) = patient.or(user.patient_id) {
                items.push(item("Home", format!("/patients/{p}"), Nav::Home, active));
                for (label, path, nav) in [
                    ("Summary", "record", Nav::Record),
                    ("Results", "results", Nav::Results),
                    ("Visits", "visits", Nav::Visits),
                    ("Documents", "documents", Nav::Documents),
                    ("Messages", "messages", Nav::Messages),
                    ("Appointments", "appointments", Nav::Appointments),
                ] {
                    items.push(item(label, format!("/patients/{p}/{path}"), nav, active));
                }
            } else {
                items.push(item("Home", "/".into(), Nav::Home, active));
            }
            items.push(account);
            items
        }
        Role::Clinician | Role::Staff => {
            let mut items = vec![
                item("In-basket", "/inbasket".into(), Nav::InBasket, active),
                item("Patients", "/patients".into(), Nav::Patients, active),
                item("Schedule", "/schedule".into(), Nav::Schedule, active),
            ];
            // A clinician the clinic made a privacy officer reads the audit reports.
            if user.privacy_officer {
                items.push(item("Audit", "/admin/audit".into(), Nav::Audit, active));
            }
            items.push(account);
            items
        }
        Role::Admin => {
            let mut items = vec![item("Users", "/admin/users".into(), Nav::Users, active)];
            items.extend(admin_items(user, active));
            items.push(account);
            items
        }
    }
}

/// An admin's menu after Users: the audit reports only for a privacy officer.
fn admin_items(user: &CurrentUser, active: Nav) -> Vec<NavItem> {
    let mut items = vec![
        item(
            "Result release",
            "/admin/results-release".into(),
            Nav::ResultRelease,
            active,
        ),
        item("Patients", "/patients".into(), Nav::Patients, active),
        item(
            "Messaging",
            "/admin/messaging".into(),
            Nav::Messaging,
            active,
        ),
        item(
            "Schedules",
            "/admin/schedules".into(),
            Nav::Schedules,
            active,
        ),
        item("Refills", "/admin/refills".into(), Nav::Refills, active),
        item("Apps", "/admin/apps".into(), Nav::Apps, active),
        item(
            "Proxy rules",
            "/admin/proxy-rules".into(),
            Nav::ProxyRules,
            active,
        ),
        item("Settings", "/admin/settings".into(), Nav::Settings, active),
    ];
    if user.privacy_officer {
        items.insert(1, item("Audit", "/admin/audit".into(), Nav::Audit, active));
    }
    items
}

/// Renders a template into an HTML response; a template failure is a 500 with a plain message.
pub fn render<T: Template>(template: &T) -> Response {
    match template.render() {
        Ok(html) => Html(html).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "template failed to render");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be shown. Please try again.",
            )
                .into_response()
        }
    }
}

/// Renders with a status other than 200 (e.g. 422 for a form with errors).
pub fn render_status<T: Template>(status: StatusCode, template: &T) -> Response {
    let mut response = render(template);
    if response.status() == StatusCode::OK {
        *response.status_mut() = status;
    }
    response
}

/// 422 for a form shown again with errors, 200 otherwise.
pub fn form_status(errors: &portal_domain::fields::FieldErrors) -> StatusCode {
    if errors.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    }
}
