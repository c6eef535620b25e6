//! Small shared building blocks: ID sets with selector syntax, durations, placeholders.

pub mod duration;
pub mod encode;
pub mod hwsummary;
pub mod idset;
pub mod notify;
pub mod placeholders;
pub mod serverdir;
pub mod template;
