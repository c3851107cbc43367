//! Secrets the appliance generates on first start and keeps in the data directory (0600), so a
//! default install is secure without the operator inventing keys.

use std::io::Write;
use std::path::Path;

/// Returns the configured value, or the one stored in `<dir>/<name>`, creating it if missing.
pub fn load_or_create(configured: &str, dir: &Path, name: &str) -> Result<String, String> {
    if !configured.is_empty() {
        return Ok(configured.to_string());
    }
    let path = dir.join(name);
    if let Ok(s) = std::fs::read_to_string(&path) {
        crate::files::tighten(&path, crate::files::FILE_MODE);
        let s = s.trim().to_string();
        if s.len() >= 32 {
            return Ok(s);
        }
        return Err(format!("{} is too short; delete it to generate a new one", path.display()));
    }
    crate::files::create_private_dir(dir)?;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| format!("no randomness: {e}"))?;
    let value = hex::encode(bytes);
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, crate::files::FILE_MODE);
    let mut f = opts.open(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
    f.write_all(value.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    Ok(value)
}
