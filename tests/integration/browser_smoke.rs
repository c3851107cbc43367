//! The browser harness itself: headless Chromium reaches the real server.

use crate::support::{browser, spawn_app};

#[test]
fn headless_chromium_reaches_the_server() {
    let app = spawn_app();
    let out = browser::run("smoke.mjs", &app.url, &browser::artefacts("smoke"), &[]);
    assert!(out.contains("ok - the body says ok"), "{out}");
}
