//! The `fleetsim` command-line tool.

mod cli;

fn main() {
    // A closed stdout (`fleetsim catalog | head -1`) ends the program quietly, as Unix tools do,
    // instead of a panic in println! on the broken pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts. The one
    // unsafe block of the crate (`unsafe_code` warns everywhere else).
    #[allow(unsafe_code)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    if let Err(e) = cli::main() {
        eprintln!("error: {e:#}");
        std::process::exit(2);
    }
}
