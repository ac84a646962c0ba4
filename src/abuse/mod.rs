//! Abuse controls: the destination blocklist (refused at create/update, and blocking existing
//! codes when an entry is added) and the "report this code" queue.

pub mod blocklist;
pub mod reports;
