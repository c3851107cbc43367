//! Payments: orders priced by the server, paid through a gateway, settled only by a verified
//! gateway notice or our own status query, refunded through the gateway.

pub mod gateway;
pub mod gateways;
