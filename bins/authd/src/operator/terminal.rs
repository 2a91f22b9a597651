//! What the operator types: a new account's password (piped in, or asked for twice on the
//! terminal without echo) and the answer to "delete?". Prompts go to standard error, so that
//! standard output holds only the command's result.

use std::io::{self, BufRead, IsTerminal, Read, Write};

use rustix::termios::{self, LocalModes, OptionalActions, SpecialCodeIndex};

use crate::operator::Failure;

/// Most bytes read from standard input for a password (bcrypt's own limit is 72; `auth`
/// refuses longer ones with its message, this only keeps the read bounded).
const MAX_INPUT_BYTES: u64 = 1024;

/// Whether standard input is a terminal (someone typing), rather than a pipe or a file.
pub fn stdin_is_terminal() -> bool {
    io::stdin().is_terminal()
}

/// The password piped on standard input: all of it, one line, without its line end; `None`
/// when standard input is empty.
pub fn piped_password() -> Result<Option<String>, Failure> {
    let mut bytes = Vec::new();
    io::stdin()
        .lock()
        .take(MAX_INPUT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Failure::Failed(format!("cannot read standard input: {e}")))?;
    if bytes.len() as u64 > MAX_INPUT_BYTES {
        return Err(Failure::Usage(format!(
            "standard input holds more than {MAX_INPUT_BYTES} bytes: it must hold the password \
             alone, on one line"
        )));
    }
    let text = String::from_utf8(bytes)
        .map_err(|_| Failure::Usage("the password on standard input is not UTF-8".into()))?;
    let line = strip_line_end(&text);
    if line.contains(['\n', '\r']) {
        return Err(Failure::Usage(
            "standard input holds more than one line: it must hold the password alone".into(),
        ));
    }
    Ok((!line.is_empty()).then(|| line.to_owned()))
}

/// Asks for a password on the terminal twice, without echo; both must match.
pub fn prompted_password() -> Result<String, Failure> {
    let first = read_hidden("Password for the new account: ")?;
    if first.is_empty() {
        return Err(Failure::Usage(
            "no password given (pass --no-password for an account entered through a reset \
             link)"
                .into(),
        ));
    }
    let second = read_hidden("The same password again: ")?;
    if first != second {
        return Err(Failure::Usage("the two passwords differ".into()));
    }
    Ok(first)
}

/// Asks `question` on the terminal; true for `y` or `yes` in any case.
pub fn confirmed(question: &str) -> Result<bool, Failure> {
    prompt(question)?;
    let answer = read_line()?;
    Ok(matches!(answer.trim().to_lowercase().as_str(), "y" | "yes"))
}

/// One line typed with the terminal's echo off, the terminal restored afterwards. Keys are read
/// one at a time with Ctrl-C as a key rather than a signal, so that Ctrl-C at the prompt
/// restores the terminal before it ends the command (a signal would leave its echo off).
fn read_hidden(question: &str) -> Result<String, Failure> {
    let stdin = io::stdin();
    let cannot =
        |e: io::Error| Failure::Failed(format!("cannot turn the terminal's echo off: {e}"));
    let saved = termios::tcgetattr(&stdin).map_err(|e| cannot(e.into()))?;
    let mut quiet = saved.clone();
    quiet
        .local_modes
        .remove(LocalModes::ECHO | LocalModes::ICANON | LocalModes::ISIG);
    quiet.special_codes[SpecialCodeIndex::VMIN] = 1;
    quiet.special_codes[SpecialCodeIndex::VTIME] = 0;
    // Flush: what was typed before the prompt (and echoed) is not taken as the password.
    termios::tcsetattr(&stdin, OptionalActions::Flush, &quiet).map_err(|e| cannot(e.into()))?;
    let typed = prompt(question).and_then(|()| read_keys());
    let restored = termios::tcsetattr(&stdin, OptionalActions::Now, &saved);
    // The line end was not echoed: end the prompt's line.
    let ended = prompt("\n");
    let typed = typed?;
    restored.map_err(|e| Failure::Failed(format!("cannot turn the terminal's echo on: {e}")))?;
    ended?;
    edited(&typed).ok_or(Failure::Cancelled)
}

/// The keys typed up to Enter (or the end of input), at most [`MAX_INPUT_BYTES`] kept.
fn read_keys() -> Result<Vec<u8>, Failure> {
    let mut keys = Vec::new();
    let mut stdin = io::stdin().lock();
    let mut key = [0u8; 1];
    loop {
        let read = stdin
            .read(&mut key)
            .map_err(|e| Failure::Failed(format!("cannot read the terminal: {e}")))?;
        if read == 0 || matches!(key[0], b'\n' | b'\r') {
            return Ok(keys);
        }
        if keys.len() < MAX_INPUT_BYTES as usize {
            keys.push(key[0]);
        }
        // Ctrl-C ends the line at once; so does Ctrl-D on an empty one.
        if key[0] == CTRL_C || (key[0] == CTRL_D && edited(&keys).is_some_and(|l| l.is_empty())) {
            return Ok(keys);
        }
    }
}

/// Ctrl-C, Ctrl-D, Ctrl-U, Backspace and Delete as the terminal sends them.
const CTRL_C: u8 = 0x03;
const CTRL_D: u8 = 0x04;
const CTRL_U: u8 = 0x15;
const BACKSPACE: u8 = 0x08;
const DELETE: u8 = 0x7f;

/// The line `keys` type, edited as a terminal edits one: Backspace (or Delete) takes the last
/// character back, Ctrl-U the whole line, Ctrl-D on an empty line ends it; `None` when
/// Ctrl-C cancels it. Bytes that are not UTF-8 are replaced.
fn edited(keys: &[u8]) -> Option<String> {
    let mut line: Vec<u8> = Vec::new();
    for &key in keys {
        match key {
            CTRL_C => return None,
            CTRL_D if line.is_empty() => break,
            CTRL_U => line.clear(),
            BACKSPACE | DELETE => {
                // A whole UTF-8 character: its continuation bytes, then its first.
                while let Some(byte) = line.pop() {
                    if byte & 0xC0 != 0x80 {
                        break;
                    }
                }
            }
            key => line.push(key),
        }
    }
    Some(String::from_utf8_lossy(&line).into_owned())
}

fn prompt(question: &str) -> Result<(), Failure> {
    let mut stderr = io::stderr().lock();
    stderr
        .write_all(question.as_bytes())
        .and_then(|()| stderr.flush())
        .map_err(|e| Failure::Failed(format!("cannot ask on the terminal: {e}")))
}

/// One line from standard input without its line end (bounded); end of input is an empty
/// line.
fn read_line() -> Result<String, Failure> {
    let mut line = String::new();
    io::stdin()
        .lock()
        .take(MAX_INPUT_BYTES)
        .read_line(&mut line)
        .map_err(|e| Failure::Failed(format!("cannot read the terminal: {e}")))?;
    Ok(strip_line_end(&line).to_owned())
}

fn strip_line_end(text: &str) -> &str {
    let text = text.strip_suffix('\n').unwrap_or(text);
    text.strip_suffix('\r').unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_edited_as_a_terminal_edits_a_line() {
        assert_eq!(edited(b"pw").as_deref(), Some("pw"));
        assert_eq!(edited(b"pwx\x7f!").as_deref(), Some("pw!"));
        assert_eq!(edited(b"p\x08\x08w").as_deref(), Some("w"));
        assert_eq!(
            edited("mot de passé\x7f".as_bytes()).as_deref(),
            Some("mot de pass")
        );
        assert_eq!(edited(b"wrong\x15right").as_deref(), Some("right"));
        assert_eq!(edited(b"\x04").as_deref(), Some(""));
        assert_eq!(edited(b"pw\x03").as_deref(), None);
    }

    #[test]
    fn one_line_end_is_dropped_whichever_kind() {
        assert_eq!(strip_line_end("pw\n"), "pw");
        assert_eq!(strip_line_end("pw\r\n"), "pw");
        assert_eq!(strip_line_end("pw"), "pw");
        assert_eq!(strip_line_end("pw\n\n"), "pw\n");
        assert_eq!(strip_line_end(" pw \n"), " pw ");
    }
}
