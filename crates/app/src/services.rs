//! The app's interface, one service per feature: `app.records()`, `app.import()`,
//! `app.accounts()`, `app.clinic()` (and room for messages, appointments, refills and the API).
//! Each is a cheap handle on the shared [`App`] (an `Arc` inside), so a feature's use cases sit
//! together and call the shared plumbing (policy, transactions, audit) through it.

use crate::App;
use std::ops::Deref;

macro_rules! service {
    ($(#[$doc:meta])* $name:ident, $accessor:ident) => {
        $(#[$doc])*
        #[derive(Clone)]
        pub struct $name(App);

        impl Deref for $name {
            type Target = App;
            fn deref(&self) -> &App {
                &self.0
            }
        }

        impl App {
            $(#[$doc])*
            pub fn $accessor(&self) -> $name {
                $name(self.clone())
            }
        }
    };
}

service!(
    /// The patient's chart and health record: summary, results, visits, documents, the access
    /// log, and the records an account may open.
    Records,
    records
);
service!(
    /// Records coming in: FHIR Bundles and NDJSON.
    Import,
    import
);
service!(
    /// Accounts: sign-in, sessions, the second factor, enrolment and activation, password
    /// changes and resets, staff accounts and API tokens.
    Accounts,
    accounts
);
service!(
    /// The clinic's own work: its patient lists, break-glass, the audit trail and the
    /// result-release rules.
    Clinic,
    clinic
);
service!(
    /// Secure messaging: conversations between the patient's side and the clinic, the
    /// in-basket, pools and the clinic's messaging settings.
    Messages,
    messages
);
service!(
    /// Appointments: open times, booking, moving and cancelling visits, the clinic's schedule
    /// and its set-up.
    Appointments,
    appointments
);
service!(
    /// Prescription refills: requests from the patient's side, the clinic's queue and
    /// decisions, the pharmacy directory and the refill rules.
    Refills,
    refills
);
service!(
    /// The FHIR R4 read API: read, search and `$everything` for system clients.
    FhirApi,
    fhir_api
);
service!(
    /// SMART on FHIR: registered apps, patients' grants, the authorization server's codes and
    /// tokens.
    Smart,
    smart
);
service!(
    /// Proxy and caregiver access: who holds access to a record, invitations, the clinic's
    /// grants to parents, and the age rules.
    Proxies,
    proxies
);
