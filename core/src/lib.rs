//! Riskline's domain and storage, free of any web framework.
//!
//! Both the REST handlers and the console's server functions call into
//! [`Services`]; they only translate requests and errors.

pub mod admins;
pub mod db;
pub mod error;
pub mod fetch;
pub mod ids;
pub mod providers;
pub mod services;
pub mod session_store;
pub mod syslog;
pub mod timefmt;
pub mod tokens;

pub use error::{Cause, CoreError};
pub use services::{Principal, Role, Services, Settings};
