//! The few commands the demo shell answers when someone types into it.

use super::loggen::PROMPT;
use super::text_line::{Ink, Line};

/// What running a command does to the terminal.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Print these lines.
    Print(Vec<Line>),
    /// Clear the screen.
    Clear,
}

/// The echo of a command line, as the shell would show it.
pub(crate) fn echo_prompt(command: &str) -> Line {
    let mut line = Line::plain(PROMPT, Ink::Prompt);
    line.push(command, Ink::Bright);
    line
}

/// Runs `command`; `clock` is the virtual time for `date`.
pub(crate) fn run(command: &str, clock: (u64, u64, u64)) -> Outcome {
    let trimmed = command.trim();
    let (name, rest) = trimmed.split_once(' ').unwrap_or((trimmed, ""));
    let say = |text: &str| Outcome::Print(vec![Line::plain(text, Ink::Normal)]);
    match name {
        "" => Outcome::Print(Vec::new()),
        "clear" => Outcome::Clear,
        "help" => say("commands: help echo clear date whoami uname"),
        "echo" => say(rest.trim()),
        "whoami" => say("demo"),
        "uname" => say("Linux spicebox 6.8.0 x86_64"),
        "hostname" => say("spicebox"),
        "pwd" => say("/home/demo"),
        "date" => {
            let (h, m, s) = clock;
            say(&format!("Thu Jan  1 {h:02}:{m:02}:{s:02} UTC 1970"))
        }
        _ => Outcome::Print(vec![Line::plain(
            &format!("sh: {name}: command not found"),
            Ink::Red,
        )]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_and_unknown_commands() {
        assert_eq!(run("clear", (0, 0, 0)), Outcome::Clear);
        assert_eq!(run("", (0, 0, 0)), Outcome::Print(Vec::new()));
        let Outcome::Print(lines) = run("echo  hi there ", (0, 0, 0)) else {
            panic!("echo printed nothing");
        };
        assert_eq!(lines[0].text(), "hi there");
        let Outcome::Print(lines) = run("hi", (0, 0, 0)) else {
            panic!("unknown command printed nothing");
        };
        assert_eq!(lines[0].text(), "sh: hi: command not found");
    }
}
