//! Page handlers, one module per area.

pub mod account;
pub mod activation;
pub mod admin;
pub mod admin_apps;
pub mod admin_messaging;
pub mod admin_proxies;
pub mod admin_refills;
pub mod admin_schedules;
pub mod admin_settings;
pub mod appointment_finder;
pub mod appointment_offers;
pub mod appointments;
pub mod auth;
pub mod banner;
pub mod care_team;
pub mod checkin;
pub mod clinic;
pub mod enrolment;
pub mod messages;
pub mod ops;
pub mod patient;
pub mod proxies;
pub mod record;
pub mod refills;
pub mod schedule;
pub mod words;
