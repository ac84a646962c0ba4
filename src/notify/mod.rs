//! Notifications: one outbox pattern and one supervised notifier for every channel — e-mail
//! (templates, branding, one-click unsubscribe), signed outgoing webhooks, SMS — plus the alerts
//! the settings switch on and the live scan stream.

pub mod alerts;
pub mod emails;
pub mod events;
pub mod jobs;
pub mod live;
mod notifier;
pub mod scans;
pub mod seal;
pub mod sms;
pub mod webhooks;

pub use events::Pending;
pub use notifier::{Deliver, FlushScans, Hook, Notifier, Text, requeue};
