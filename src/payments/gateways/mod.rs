//! The real payment gateways behind [`super::gateway::Gateway`]: each speaks its provider's REST
//! API through `outbound::Outbound` (base URL from config) and verifies its provider's webhook
//! signature scheme. Operator setup: docs/gateways.md.

pub mod paytm;
pub mod paytm_checksum;
pub mod razorpay;
pub mod stripe;
pub mod wire;
