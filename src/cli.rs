//! Command-line interface (CONFIG.md). Every command exits non-zero with a one-line reason.

use crate::clock::{Clock, SystemClock};
use crate::config::{Config, Overrides};
use crate::db;
use clap::{Args, Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Arc;

#[derive(Parser, Debug)]
#[command(name = "buildxpert", version, about = "BuildXpert marketplace appliance")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone, Default)]
pub struct Common {
    /// Configuration file (default: ./buildxpert.toml when present)
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Data directory (database, lock, generated secrets)
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the appliance
    Serve {
        #[command(flatten)]
        common: Common,
        /// ADDR:PORT to listen on (port 0 picks a free port)
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<String>,
    },
    /// Apply pending database migrations and print what ran
    Migrate {
        #[command(flatten)]
        common: Common,
    },
    /// Write a consistent snapshot of the database (safe while the server runs)
    Backup {
        #[command(flatten)]
        common: Common,
        /// Where the snapshot goes (an existing file is never overwritten)
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Replace the database with a snapshot (refused while a server holds it)
    Restore {
        #[command(flatten)]
        common: Common,
        /// The snapshot to restore (integrity and schema version are checked first)
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
    },
    /// Configuration tools
    Config {
        #[command(subcommand)]
        action: ConfigAction,
    },
    /// Administrator accounts
    Admin {
        #[command(subcommand)]
        action: AdminAction,
    },
    /// The audit log
    Audit {
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Exit 0 when BASE_URL/readyz answers ok (for systemd and containers)
    Healthcheck {
        /// Base URL of the server (default: from the configuration's server.listen)
        #[arg(long, value_name = "BASE_URL")]
        url: Option<String>,
        /// Configuration file (default: ./buildxpert.toml when present)
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

#[derive(Subcommand, Debug)]
pub enum AdminAction {
    /// Create an administrator (works while a server runs)
    Create {
        #[command(flatten)]
        common: Common,
        /// Mobile number (any common form; stored as E.164)
        #[arg(long)]
        phone: String,
        /// At least 8 characters, not all digits
        #[arg(long)]
        password: String,
        /// Full name shown in the dashboard and audit log
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuditAction {
    /// Check the audit log's hash chain
    Verify {
        #[command(flatten)]
        common: Common,
    },
}

#[derive(Subcommand, Debug)]
pub enum ConfigAction {
    /// Validate and print the effective configuration, secrets masked
    Check {
        /// Configuration file (default: ./buildxpert.toml when present)
        #[arg(long, value_name = "FILE")]
        config: Option<PathBuf>,
    },
}

fn load(common: &Common, listen: Option<String>) -> Result<Config, String> {
    let o = Overrides { config_file: common.config.clone(), listen, data_dir: common.data_dir.clone() };
    Config::load(&o).map_err(|e| e.to_string())
}

/// The configuration for a command that writes into the data dir, which is made private first.
fn load_for_writing(common: &Common) -> Result<Config, String> {
    let cfg = load(common, None)?;
    crate::files::secure_data_dir(&cfg.server.data_dir)?;
    Ok(cfg)
}

/// Parses arguments, runs the command, returns the exit code.
pub fn main() -> i32 {
    // Before any command writes: the database, secrets and backups must never be world-readable.
    crate::files::restrict_umask();
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => 0,
        Err(msg) => {
            eprintln!("buildxpert: {msg}");
            1
        }
    }
}

fn run(cmd: Command) -> Result<(), String> {
    match cmd {
        Command::Serve { common, listen } => serve(load(&common, listen)?),
        Command::Migrate { common } => {
            let cfg = load_for_writing(&common)?;
            let path = cfg.database_path();
            if let Some(dir) = path.parent() {
                crate::files::create_private_dir(dir)?;
            }
            let mut conn = db::open_writer(&path).map_err(|e| e.to_string())?;
            let applied = db::migrate(&mut conn).map_err(|e| e.to_string())?;
            if applied.is_empty() {
                println!("no migrations pending (schema version {})", db::MIGRATIONS.last().map_or(0, |m| m.version));
            }
            for m in applied {
                println!("applied {:04}_{}", m.version, m.name);
            }
            Ok(())
        }
        Command::Backup { common, out } => {
            let cfg = load(&common, None)?;
            let bytes = db::backup_to(&cfg.database_path(), &out)?;
            println!("backup written to {} ({bytes} bytes, integrity ok)", out.display());
            Ok(())
        }
        Command::Restore { common, from } => {
            let cfg = load_for_writing(&common)?;
            let kept = db::restore_from(&cfg.database_path(), &from, SystemClock.now_secs())?;
            match kept {
                Some(old) => {
                    println!("restored {}; the previous database is kept at {}", from.display(), old.display())
                }
                None => println!("restored {}", from.display()),
            }
            Ok(())
        }
        Command::Admin { action: AdminAction::Create { common, phone, password, name } } => {
            let cfg = load_for_writing(&common)?;
            let (db, _) = db::Db::open(
                &cfg.database_path(),
                1,
                std::time::Duration::from_millis(cfg.database.statement_timeout_ms),
            )
            .map_err(|e| e.to_string())?;
            let hasher = crate::passwords::Hasher::new(1);
            let id = crate::accounts::bootstrap::create_in(
                &db,
                &hasher,
                &cfg.business.default_country,
                SystemClock.now_ms(),
                &phone,
                &password,
                &name,
            )?;
            println!("admin created: {id}");
            Ok(())
        }
        Command::Audit { action: AuditAction::Verify { common } } => {
            let cfg = load(&common, None)?;
            let path = cfg.database_path();
            if !path.is_file() {
                return Err(format!("no database at {}", path.display()));
            }
            let conn = rusqlite::Connection::open_with_flags(&path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
                .map_err(|e| e.to_string())?;
            let n = crate::audit::verify(&conn).map_err(|e| format!("audit log tampered: {e}"))?;
            println!("audit log intact: {n} entries");
            Ok(())
        }
        Command::Config { action: ConfigAction::Check { config } } => {
            let o = Overrides { config_file: config, ..Default::default() };
            let env: Vec<(String, String)> = std::env::vars().collect();
            let tree = Config::effective_tree(&o, &env).map_err(|e| e.to_string())?;
            Config::load_from(&o, &env).map_err(|e| e.to_string())?;
            print!("{}", Config::masked_toml(&tree));
            println!("# configuration is valid");
            Ok(())
        }
        Command::Healthcheck { url, config } => {
            let base = match url {
                Some(u) => u,
                None => {
                    let cfg = load(&Common { config, data_dir: None }, None)?;
                    let mut addr = cfg.listen_addr();
                    if addr.ip().is_unspecified() {
                        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                    }
                    format!("http://{addr}")
                }
            };
            healthcheck(&base)
        }
    }
}

fn healthcheck(base: &str) -> Result<(), String> {
    let out = crate::outbound::Outbound::new(
        Arc::new(SystemClock),
        std::time::Duration::from_secs(3),
        std::time::Duration::from_secs(5),
    );
    let url = crate::outbound::join_url(base, "/readyz");
    let r =
        out.send("healthcheck", "GET", &url, &[], crate::outbound::Body::Empty).map_err(|e| format!("{url}: {e}"))?;
    if r.status == 200 {
        println!("ok");
        Ok(())
    } else {
        Err(format!("{url} answered {}: {}", r.status, r.body.trim()))
    }
}

/// glibc gives each thread that allocates under contention its own malloc arena, up to 8 a core,
/// and an arena keeps the memory it once held: with 64 workers RSS grew with every benchmark run.
/// One arena a core (at least two) keeps RSS proportional to the work actually running at once.
fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2).max(2);
        let arenas = libc::c_int::try_from(cores).unwrap_or(2);
        // SAFETY: mallopt only sets an allocator tunable; called before the worker threads start.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, arenas);
        }
    }
}

fn serve(cfg: Config) -> Result<(), String> {
    crate::logging::init(&cfg.log.level, &cfg.log.format);
    limit_malloc_arenas();
    let running = crate::server::start(cfg, Arc::new(SystemClock))?;
    {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "buildxpert listening on {}", running.url());
        let _ = stdout.flush();
    }
    let (tx, rx) = std::sync::mpsc::channel::<i32>();
    let mut signals = signal_hook::iterator::Signals::new([signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    std::thread::spawn(move || {
        if let Some(sig) = signals.forever().next() {
            let _ = tx.send(sig);
        }
    });
    let sig = rx.recv().unwrap_or(signal_hook::consts::SIGTERM);
    log::info!("signal {sig} received; shutting down");
    running.shutdown();
    Ok(())
}
