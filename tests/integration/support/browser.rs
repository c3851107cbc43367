//! Runs a browser test script (tests/browser/*.mjs, Node + playwright-core + Debian Chromium)
//! against a running server. `tests/browser/setup.sh` installs what it needs; `./test.sh` calls it.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where browser artefacts (screenshots) of `test` land: `target/browser-artefacts/<test>/`.
pub fn artefacts(test: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("target").join("browser-artefacts").join(test);
    std::fs::create_dir_all(&dir).expect("artefacts dir");
    dir
}

/// Runs `node tests/browser/<script>` with `BX_URL=base_url`, `BX_ARTEFACTS` and `env`; panics
/// with everything it printed when it exits non-zero. Returns its standard output.
pub fn run(script: &str, base_url: &str, artefacts_dir: &Path, env: &[(&str, &str)]) -> String {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("browser");
    assert!(
        dir.join("node_modules").join("playwright-core").exists(),
        "playwright-core is not installed: run tests/browser/setup.sh (./test.sh does)"
    );
    let out = Command::new("node")
        .arg(dir.join(script))
        .current_dir(&dir)
        .env("BX_URL", base_url)
        .env("BX_ARTEFACTS", artefacts_dir)
        .envs(env.iter().copied())
        .output()
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "browser test {script} failed ({})\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status
    );
    stdout
}
