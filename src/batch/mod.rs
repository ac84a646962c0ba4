//! Batch work a user starts and watches: code exports (`exports`), bulk creates (`bulk`), and
//! the status, cancel and retry of these jobs (`tasks`). Each runs on its own queue; the job row
//! in Postgres is the truth the user sees.

pub mod bulk;
pub mod exports;
pub mod imports;
pub mod tasks;
