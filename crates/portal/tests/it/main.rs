//! Black-box tests: the real portal on a random port, spoken to over HTTP, on SQLite and on
//! PostgreSQL (when `PORTAL_TEST_POSTGRES` is set; `.ci/run` sets it, so CI always runs both).

mod access;
mod appointment_offers;
mod appointments;
mod audit;
mod auth;
mod checkin;
mod clinic;
mod download;
mod fhir_api;
mod fhir_own;
mod fhir_read;
mod forms;
mod held_reports;
mod helpers;
mod holes_accounts;
mod holes_memory;
mod holes_ops;
mod holes_ownership;
mod holes_parsers;
mod holes_throttles;
mod import;
mod messages;
mod page_cache;
mod proxies;
mod record;
mod refills;
mod routes;
mod secrets;
mod sensitivity;
mod sessions;
mod smart;
mod smoke;
