//! Notifications: the e-mail outbox and the notifier actor that delivers it over SMTP.

pub mod emails;
mod notifier;

pub use notifier::{Deliver, Notifier};
