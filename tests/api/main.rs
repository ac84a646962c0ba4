//! Black-box tests: HTTP in, real Postgres/Redis/ClickHouse touched, responses and effects checked.

mod common;

mod accounts;
mod admin_audit;
mod analytics;
mod billing;
mod browser;
mod codes;
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
mod scopes;
mod statements;
mod strict_input;
