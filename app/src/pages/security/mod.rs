//! Security › Entity Risk Policy and Universal Logout.

pub mod logout_apps;
pub mod policy;
pub mod workflows;
