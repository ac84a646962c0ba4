//! qrsaas: a self-hostable QR-code platform. See DESIGN.md for the shape; `startup` is where the
//! processes are assembled.
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod abuse;
pub mod accounts;
pub mod actors;
pub mod admin;
pub mod analytics;
pub mod archive;
pub mod audit;
pub mod billing;
pub mod bulk;
pub mod cache;
pub mod catalog;
pub mod codes;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod exports;
pub mod html;
pub mod http;
pub mod i18n;
pub mod notify;
pub mod outbound;
pub mod preferences;
pub mod projects;
pub mod queue;
pub mod ratelimit;
pub mod redirect;
pub mod render;
pub mod scheduler;
pub mod startup;
pub mod state;
pub mod statements;
pub mod storage;
pub mod tasks;
pub mod telemetry;
pub mod templates;
pub mod uploads;
pub mod worker;
