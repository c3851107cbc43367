//! One integration crate: the real server on port 0 with a temp data dir, real HTTP clients.

mod support;

mod backup;
mod cli;
mod connections;
mod dispatch;
mod openapi;
mod system;
