//! Console pages, grouped by area of the navigation.

pub mod admins;
pub mod api_tokens;
pub mod dashboard;
pub mod device_integrations;
pub mod directory;
pub mod layout;
pub mod not_found;
pub mod reports;
pub mod security;
pub mod sign_in;
