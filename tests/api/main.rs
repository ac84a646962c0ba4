//! Black-box tests: HTTP in, real Postgres/Redis/ClickHouse touched, responses and effects checked.

// A test or bench fails by panicking; the workspace lints deny it in the service only.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

mod accounts;
mod admin_audit;
mod analytics;
mod billing;
mod browser;
mod codes;
mod domains;
mod edge;
mod exports;
mod google;
mod isolation;
mod jobs;
mod lifecycle;
mod notifications;
mod outages;
mod platform;
mod process;
mod projects_settings;
mod redirect;
mod rendering;
mod replicas;
mod schedules;
mod scopes;
mod statements;
mod strict_input;
mod versions;
