//! The `buildxpert` command line.

fn main() {
    std::process::exit(buildxpert::cli::main());
}
