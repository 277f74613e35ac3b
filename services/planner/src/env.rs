//! Environment twins of command-line flags: an empty variable is unset.
//!
//! clap reads `PLANNER_ENDPOINT=` as the value `""`, so a variable a deployment templates to
//! nothing (`PLANNER_ENDPOINT=${ENDPOINT:-}`) turns into "invalid URI" instead of the flag's
//! default. Removing such variables before parsing needs `unsafe` in edition 2024
//! (`std::env::remove_var`), so each binary instead drops the env twin of every argument whose
//! variable is set but empty, before clap reads the environment.

use std::ffi::OsStr;

use clap::Command;

/// Returns `command` (and its subcommands) with the env twin of every argument whose variable
/// is set but empty removed, so that argument takes its default as if the variable were unset.
pub fn ignore_empty_env(command: Command) -> Command {
    ignore_env_where(command, &|name| {
        std::env::var_os(name).is_some_and(|value| value.is_empty())
    })
}

/// Returns `command` with the env twin removed from every argument whose variable `empty` says
/// is set but empty.
fn ignore_env_where(command: Command, empty: &dyn Fn(&OsStr) -> bool) -> Command {
    let command = command.mut_args(|arg| match arg.get_env() {
        Some(name) if empty(name) => arg.env(None::<&'static str>),
        _ => arg,
    });
    let subcommands: Vec<String> = command
        .get_subcommands()
        .map(|sub| sub.get_name().to_string())
        .collect();
    subcommands.into_iter().fold(command, |command, name| {
        command.mut_subcommand(name, |sub| ignore_env_where(sub, empty))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::{Arg, ArgAction};

    fn command() -> Command {
        Command::new("t")
            .arg(
                Arg::new("endpoint")
                    .long("endpoint")
                    .env("T_ENDPOINT")
                    .global(true),
            )
            .subcommand(
                Command::new("list").arg(
                    Arg::new("limit")
                        .long("limit")
                        .env("T_LIMIT")
                        .default_value("20")
                        .value_parser(clap::value_parser!(u32)),
                ),
            )
            .arg(
                Arg::new("strict")
                    .long("strict")
                    .env("T_STRICT")
                    .action(ArgAction::SetTrue),
            )
    }

    #[test]
    fn an_empty_variable_leaves_its_argument_unset_in_every_subcommand() {
        let empty = |name: &OsStr| name == "T_ENDPOINT" || name == "T_LIMIT";
        let command = ignore_env_where(command(), &empty);
        for arg in command.get_arguments() {
            if arg.get_id() == "endpoint" {
                assert_eq!(arg.get_env(), None);
            }
            if arg.get_id() == "strict" {
                assert_eq!(arg.get_env(), Some(OsStr::new("T_STRICT")));
            }
        }
        let list = command.find_subcommand("list").unwrap();
        let limit = list
            .get_arguments()
            .find(|a| a.get_id() == "limit")
            .unwrap();
        assert_eq!(limit.get_env(), None);
    }
}
