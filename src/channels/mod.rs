//! Delivery channels to the outside world, each speaking its provider's real wire format over the
//! outbound client. The SMS channel is here now (one-time codes); push, e-mail and webhooks join
//! it with the notifications issue.

pub mod sms;
