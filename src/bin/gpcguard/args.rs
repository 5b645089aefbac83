//! Command-line options, by hand: five commands with a handful of options each do not justify a
//! parser crate's build time and dependency tree in a package that ships security software (and
//! is meant to become a Debian package, where every crate is another package to maintain). Each
//! command declares its options as a table; `--help` is printed from the same table.

use std::collections::HashMap;

/// One option of a command.
pub struct Opt {
    /// `--name`.
    pub name: &'static str,
    /// The value's placeholder, None for a flag.
    pub value: Option<&'static str>,
    pub help: &'static str,
}

/// A command: its usage line, what it does, its options.
pub struct Command {
    pub name: &'static str,
    pub usage: &'static str,
    pub about: &'static str,
    pub options: &'static [Opt],
}

/// What was given: option values by name (flags as ""), and the positional arguments.
#[derive(Debug, Default)]
pub struct Given {
    values: HashMap<&'static str, String>,
    pub positional: Vec<String>,
}

/// Why the arguments were not run: help was asked for (print it, exit 0) or they are wrong.
pub enum Stop {
    Help,
    Usage(String),
}

impl Command {
    pub fn help(&self) -> String {
        let mut out = format!("usage: gpcguard {}\n\n{}\n\noptions:\n", self.usage, self.about);
        for o in self.options.iter().chain(std::iter::once(&HELP)) {
            let left = match o.value {
                Some(v) => format!("--{} {v}", o.name),
                None => format!("--{}", o.name),
            };
            out.push_str(&format!("  {left:<26} {}\n", o.help));
        }
        out
    }

    /// Reads `args` (after the command name) against the option table.
    pub fn parse(&self, args: &[String]) -> Result<Given, Stop> {
        let mut given = Given::default();
        let mut it = args.iter();
        let mut options_end = false;
        while let Some(arg) = it.next() {
            if options_end || !arg.starts_with("--") || arg == "-" {
                given.positional.push(arg.clone());
                continue;
            }
            if arg == "--" {
                options_end = true;
                continue;
            }
            let (name, inline) = match arg[2..].split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (&arg[2..], None),
            };
            if name == "help" {
                return Err(Stop::Help);
            }
            let Some(opt) = self.options.iter().find(|o| o.name == name) else {
                return Err(Stop::Usage(format!("gpcguard {}: unknown option --{name} (see --help)", self.name)));
            };
            let value = match (opt.value, inline) {
                (None, None) => String::new(),
                (None, Some(_)) => return Err(Stop::Usage(format!("gpcguard {}: --{name} takes no value", self.name))),
                (Some(_), Some(v)) => v,
                (Some(p), None) => it.next().cloned().ok_or_else(|| Stop::Usage(format!("gpcguard {}: --{name} needs a value ({p})", self.name)))?,
            };
            if given.values.insert(opt.name, value).is_some() {
                return Err(Stop::Usage(format!("gpcguard {}: --{name} given twice", self.name)));
            }
        }
        Ok(given)
    }
}

const HELP: Opt = Opt { name: "help", value: None, help: "print this help and exit" };

impl Given {
    pub fn value(&self, name: &str) -> Option<&str> {
        self.values.get(name).map(String::as_str)
    }

    pub fn flag(&self, name: &str) -> bool {
        self.values.contains_key(name)
    }
}
