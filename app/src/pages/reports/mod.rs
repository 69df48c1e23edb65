//! Reports: the System Log and the risk reports.

pub mod at_risk_users;
pub mod entity_risk;
mod frame;
pub mod system_log;
