//! File modes for what the appliance writes. The database (and its WAL and SHM), the lock file,
//! generated secrets and backups hold personal data or keys: they are 0600, in a 0700 data
//! directory, whatever umask the operator's shell or service manager left us.

use std::fs::{DirBuilder, OpenOptions, Permissions};
use std::io::ErrorKind;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::Path;

pub const FILE_MODE: u32 = 0o600;
pub const DIR_MODE: u32 = 0o700;

/// Files created without an explicit mode (SQLite's own, `VACUUM INTO`'s) come out 0600 and
/// directories 0700. Called first thing by the command line, before anything is written.
pub fn restrict_umask() {
    // SAFETY: umask only replaces this process's file-creation mask; it has no failure mode.
    unsafe {
        libc::umask(0o077);
    }
}

/// Creates `dir` and missing parents as 0700; an existing directory is left as it is (it may
/// be shared, e.g. the parent of a `database.path` outside the data dir).
pub fn create_private_dir(dir: &Path) -> Result<(), String> {
    if dir.as_os_str().is_empty() || dir.is_dir() {
        return Ok(());
    }
    DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(|e| format!("cannot create {}: {e}", dir.display()))
}

/// The data directory: created 0700, or tightened to 0700 when group or others can get in.
pub fn secure_data_dir(dir: &Path) -> Result<(), String> {
    create_private_dir(dir)?;
    tighten(dir, DIR_MODE);
    Ok(())
}

/// Creates `path` empty as 0600 when missing, otherwise tightens it. Done for the database
/// before SQLite opens it: SQLite gives the -wal and -shm files the database file's mode.
pub fn private_file(path: &Path) -> Result<(), String> {
    match OpenOptions::new().write(true).create_new(true).mode(FILE_MODE).open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {
            tighten(path, FILE_MODE);
            Ok(())
        }
        Err(e) => Err(format!("cannot create {}: {e}", path.display())),
    }
}

/// Sets `path` to `mode` when group or others have any access (files from older versions or
/// created by hand), with an info line; a missing path is fine, a refusal is a warning (the
/// directory may belong to someone else, and the files inside are private anyway).
pub fn tighten(path: &Path, mode: u32) {
    let Ok(meta) = std::fs::metadata(path) else { return };
    let current = meta.permissions().mode() & 0o777;
    if current & 0o077 == 0 {
        return;
    }
    match std::fs::set_permissions(path, Permissions::from_mode(mode)) {
        Ok(()) => log::info!("tightened {} from {current:o} to {mode:o}", path.display()),
        Err(e) => log::warn!("{} is {current:o} and could not be made {mode:o}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn created_private_and_loose_ones_tightened() {
        let base = std::env::temp_dir().join(format!("bx-files-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let dir = base.join("data");
        secure_data_dir(&dir).unwrap();
        assert_eq!(mode(&dir), 0o700);
        let f = dir.join("db");
        private_file(&f).unwrap();
        assert_eq!(mode(&f), 0o600);
        std::fs::set_permissions(&dir, Permissions::from_mode(0o755)).unwrap();
        std::fs::set_permissions(&f, Permissions::from_mode(0o644)).unwrap();
        secure_data_dir(&dir).unwrap();
        private_file(&f).unwrap();
        assert_eq!((mode(&dir), mode(&f)), (0o700, 0o600));
        // An existing directory that is not the data dir is not touched.
        std::fs::set_permissions(&base, Permissions::from_mode(0o755)).unwrap();
        create_private_dir(&base).unwrap();
        assert_eq!(mode(&base), 0o755);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
