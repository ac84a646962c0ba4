//! qrsaas: a self-hostable QR-code platform. `docs/architecture.md` draws the processes, actors,
//! queues and stores and names the folder that owns each; `startup` is where a process is
//! assembled.

pub mod abuse;
pub mod accounts;
pub mod actors;
pub mod analytics;
pub mod archive;
pub mod batch;
pub mod billing;
pub mod cache;
pub mod client;
pub mod codes;
pub mod config;
pub mod db;
pub mod domain;
pub mod domains;
pub mod error;
pub mod html;
pub mod http;
pub mod i18n;
pub mod notify;
pub mod outbound;
pub mod queue;
pub mod ratelimit;
pub mod redirect;
pub mod render;
pub mod rollups;
pub mod scheduler;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod worker;
