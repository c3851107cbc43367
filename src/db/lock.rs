//! The data-directory lock: a running server holds an exclusive OS file lock next to the database,
//! so `restore` can refuse to swap the file under it. The OS drops the lock if the process dies.

use std::fs::{File, OpenOptions, TryLockError};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

pub struct DataLock {
    _file: File,
    path: PathBuf,
}

pub fn lock_path(db_path: &Path) -> PathBuf {
    let mut p = db_path.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

impl DataLock {
    /// Takes the lock or says who holds it.
    pub fn acquire(db_path: &Path) -> Result<DataLock, String> {
        let path = lock_path(db_path);
        if let Some(dir) = path.parent() {
            crate::files::create_private_dir(dir)?;
        }
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .mode(crate::files::FILE_MODE)
            .open(&path)
            .map_err(|e| format!("cannot open lock file {}: {e}", path.display()))?;
        crate::files::tighten(&path, crate::files::FILE_MODE);
        match file.try_lock() {
            Ok(()) => {
                // The pid is informational only; the OS lock is what counts.
                let _ = file.set_len(0);
                let _ = std::io::Write::write_all(&mut &file, format!("{}\n", std::process::id()).as_bytes());
                Ok(DataLock { _file: file, path })
            }
            Err(TryLockError::WouldBlock) => Err(format!(
                "the database {} is in use by a running buildxpert server (lock {} held)",
                db_path.display(),
                path.display()
            )),
            Err(TryLockError::Error(e)) => Err(format!("cannot lock {}: {e}", path.display())),
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}
