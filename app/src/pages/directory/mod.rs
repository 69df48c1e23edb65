//! Directory: people and groups.

pub mod groups;
pub mod import;
pub mod people;
pub mod person;
