//! The operator's endpoints (role admin). Users for now; the rest of the admin API arrives with
//! the features it manages.

pub mod users;
