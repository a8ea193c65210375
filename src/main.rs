//! The `fleetsim` command-line tool.

mod cli;

fn main() {
    if let Err(e) = cli::main() {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
