//! `gpcguard`: the operators' command, on the library's Rust API. One module per command:
//! `check-config`, `check-cert`, `check-request`, `crl-fetch`, `probe`. `gpcguard help` lists
//! them; `gpcguard COMMAND --help` lists a command's options.

mod args;
mod check_cert;
mod check_config;
mod check_request;
mod crl_fetch;
mod describe;
mod probe;
mod time;

use args::{Command, Given, Stop};

type Run = fn(&[String]) -> i32;

/// Every command, in the order `gpcguard help` lists them.
const COMMANDS: &[(&Command, Run)] = &[
    (&check_config::COMMAND, check_config::run),
    (&check_cert::COMMAND, check_cert::run),
    (&check_request::COMMAND, check_request::run),
    (&crl_fetch::COMMAND, crl_fetch::run),
    (&probe::COMMAND, probe::run),
];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let code = match args.first().map(String::as_str) {
        None | Some("help" | "--help" | "-h") => {
            print!("{}", overview());
            if args.is_empty() { 2 } else { 0 }
        }
        Some("--version" | "version") => {
            println!("gpcguard {}", env!("CARGO_PKG_VERSION"));
            0
        }
        Some(name) => match COMMANDS.iter().find(|(c, _)| c.name == name) {
            Some((_, run)) => run(&args[1..]),
            None => {
                eprintln!("gpcguard: unknown command {name}\n\n{}", overview());
                2
            }
        },
    };
    std::process::exit(code);
}

fn overview() -> String {
    let mut out = String::from("usage: gpcguard COMMAND [OPTIONS]   (gpcguard COMMAND --help for its options)\n\ncommands:\n");
    for (c, _) in COMMANDS {
        out.push_str(&format!("  {}\n", c.usage));
    }
    out
}

/// Parses a command's arguments; on `--help` prints the help (exit 0), on a mistake the usage (2).
pub(crate) fn parse(command: &Command, args: &[String]) -> Result<Given, i32> {
    match command.parse(args) {
        Ok(g) => Ok(g),
        Err(Stop::Help) => {
            print!("{}", command.help());
            Err(0)
        }
        Err(Stop::Usage(m)) => {
            eprintln!("{m}\nusage: gpcguard {}", command.usage);
            Err(2)
        }
    }
}

pub(crate) fn usage(command: &Command, message: &str) -> i32 {
    eprintln!("gpcguard {}: {message}\nusage: gpcguard {}", command.name, command.usage);
    2
}

pub(crate) fn error(command: &Command, message: &str) -> i32 {
    eprintln!("gpcguard {}: error: {message}", command.name);
    2
}

/// `--at`, or the system clock.
pub(crate) fn now_from(given: &Given) -> Result<i64, i32> {
    match given.value("at") {
        None => Ok(gpcguard::guard::system_now()),
        Some(t) => time::parse(t).map_err(|m| {
            eprintln!("gpcguard: {m}");
            2
        }),
    }
}
