//! Riskline's domain and storage, free of any web framework.
//!
//! Both the REST handlers and the console's server functions call into
//! [`Services`]; they only translate requests and errors.

pub mod actions;
pub mod admin_risk;
pub mod admins;
pub mod client_address;
pub mod db;
pub mod demo_seed;
pub mod detection_feedback;
pub mod detection_log;
pub mod directory;
pub mod error;
pub mod fetch;
pub mod ids;
pub mod import;
pub mod logout_apps;
pub mod logquery;
pub mod metrics;
pub mod policy;
pub mod policy_run;
pub mod providers;
pub mod receiver;
pub mod reports;
pub mod risk;
pub mod risk_timeline;
#[cfg(any(test, feature = "testing"))]
pub mod scratch_postgres;
pub mod services;
pub mod session_store;
pub mod set;
pub mod signing;
pub mod sqlite_text;
pub mod sqlite_vfs;
pub mod stream_health;
pub mod syslog;
pub mod timefmt;
pub mod tokens;
pub mod wal_sync;
pub mod workflows;

pub use error::{Cause, CoreError};
pub use services::{Principal, Role, Services, Settings};
