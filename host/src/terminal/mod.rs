//! Terminals (`/pty`): interactive programs on pseudo-terminals of their own, one set per
//! instance. Each terminal's output is read by a thread of its own into its [`Output`] (kept for
//! late clients, sent to connected ones); input from clients is written by another, so a program
//! that stops reading never blocks a client. A terminal closes when it is removed, when its
//! program ends (after its last output is read), and with its instance or the server: its
//! process group is killed and its clients disconnected.
//!
//! Terminals are the user's own shell, as in OpenCode: they run with the server's rights unless
//! the project confines the user's commands too (`wasmcode.sandbox.shell`).

mod output;
mod process;
pub mod shells;
mod tickets;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::bus::Bus;
use crate::protocol::Event;
use crate::protocol::PtyId;
use crate::protocol::pty::{Pty, PtyChanged, PtyExited, PtyRef, PtyStatus};
use crate::sandbox::{Launch, Sandbox};

pub use output::{Attachment, chunks};
pub use process::Size;
pub use tickets::TICKET_LIFETIME;

/// How long the end of a program waits for its last output to be read: a process that left the
/// session still holding the terminal must not keep the exit from being reported.
const LAST_OUTPUT_GRACE: Duration = Duration::from_millis(500);

#[derive(Debug, thiserror::Error)]
pub enum TerminalError {
    #[error("PTY session not found: {0}")]
    NotFound(PtyId),
    /// The request cannot be carried out as given (a missing directory, a program that does not
    /// start).
    #[error("{0}")]
    Invalid(String),
    /// The project's sandbox refuses to run the user's commands here.
    #[error("{0}")]
    Refused(String),
}

/// What `POST /pty` asks for.
#[derive(Debug, Default, Clone)]
pub struct NewTerminal {
    pub command: Option<String>,
    pub args: Option<Vec<String>>,
    /// Relative to the project's directory.
    pub cwd: Option<String>,
    pub title: Option<String>,
    pub env: Vec<(String, String)>,
}

/// The terminals of one instance.
pub struct Terminals {
    inner: Arc<Inner>,
}

struct Inner {
    directory: PathBuf,
    bus: Bus,
    sandbox: Arc<Sandbox>,
    /// `$SHELL` as the server started with it.
    user_shell: Option<String>,
    open: Mutex<HashMap<PtyId, Arc<Terminal>>>,
    tickets: Mutex<tickets::Tickets>,
}

/// One open terminal.
pub struct Terminal {
    info: Mutex<Pty>,
    output: Mutex<output::Output>,
    /// To the writer thread.
    input: std::sync::mpsc::Sender<Vec<u8>>,
    master: OwnedFd,
    /// Cancelled when the terminal closes: clients disconnect.
    closed: CancellationToken,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Terminals {
    pub fn new(directory: PathBuf, bus: Bus, sandbox: Arc<Sandbox>, user_shell: Option<String>) -> Self {
        Self {
            inner: Arc::new(Inner {
                directory,
                bus,
                sandbox,
                user_shell,
                open: Mutex::default(),
                tickets: Mutex::default(),
            }),
        }
    }

    pub fn list(&self) -> Vec<Pty> {
        let mut list: Vec<Pty> = lock(&self.inner.open).values().map(|t| t.info()).collect();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        list
    }

    pub fn get(&self, id: &PtyId) -> Result<Arc<Terminal>, TerminalError> {
        lock(&self.inner.open)
            .get(id)
            .cloned()
            .ok_or_else(|| TerminalError::NotFound(id.clone()))
    }

    /// Starts a program (the user's shell by default, as a login shell) on a new terminal.
    pub fn create(&self, request: NewTerminal) -> Result<Pty, TerminalError> {
        let inner = &self.inner;
        let command = request
            .command
            .filter(|c| !c.trim().is_empty())
            .unwrap_or_else(|| shells::preferred(inner.user_shell.as_deref()));
        let args = match request.args {
            Some(args) => args,
            None if shells::is_login_shell(&command) => vec!["-l".to_string()],
            None => Vec::new(),
        };
        let cwd = match request.cwd.as_deref().filter(|c| !c.is_empty()) {
            Some(cwd) => inner.directory.join(cwd),
            None => inner.directory.clone(),
        };
        if !cwd.is_dir() {
            return Err(TerminalError::Invalid(format!(
                "cwd {} is not a directory",
                cwd.display()
            )));
        }
        let launch = if inner.sandbox.settings().shell {
            inner
                .sandbox
                .launch(&[])
                .map_err(|e| TerminalError::Refused(e.to_string()))?
        } else {
            Launch::Unconfined {
                reason: "the user's own terminal (wasmcode.sandbox.shell is off)".into(),
            }
        };
        let program = process::Program {
            command: &command,
            args: &args,
            cwd: &cwd,
            env: &request.env,
            size: Size::default(),
        };
        let started = process::start(&program, launch)
            .map_err(|e| TerminalError::Invalid(format!("cannot start {command}: {e}")))?;
        let id = PtyId::new();
        let pid = started.child.id();
        let info = Pty {
            title: request
                .title
                .filter(|t| !t.is_empty())
                .unwrap_or_else(|| format!("Terminal {}", &id[id.len() - 4..])),
            id: id.clone(),
            command,
            args,
            cwd: cwd.display().to_string(),
            status: PtyStatus::Running,
            pid,
            exit_code: None,
        };
        let reader = started.master.try_clone();
        let writer = started.master.try_clone();
        let (Ok(reader), Ok(writer)) = (reader, writer) else {
            process::kill_session(pid);
            return Err(TerminalError::Invalid(
                "cannot share the terminal's descriptor".into(),
            ));
        };
        let (input, inputs) = std::sync::mpsc::channel();
        let terminal = Arc::new(Terminal {
            info: Mutex::new(info.clone()),
            output: Mutex::default(),
            input,
            master: started.master,
            closed: CancellationToken::new(),
        });
        lock(&inner.open).insert(id.clone(), terminal.clone());
        inner
            .bus
            .publish(Event::PtyCreated(PtyChanged { info: info.clone() }));

        std::thread::spawn(move || write_input(writer, inputs));
        let (read_all, output_done) = std::sync::mpsc::channel::<()>();
        let reading = terminal.clone();
        // `create` runs on the runtime's blocking pool: the handle is there.
        let runtime = tokio::runtime::Handle::current();
        std::thread::spawn(move || {
            read_output(reader, &reading, runtime);
            let _ = read_all.send(());
        });
        let weak = Arc::downgrade(inner);
        let mut child = started.child;
        std::thread::spawn(move || {
            let code = child.wait().map(process::exit_code).unwrap_or(0);
            // Whatever the program left running in its session goes with it.
            process::kill_session(pid);
            let _ = output_done.recv_timeout(LAST_OUTPUT_GRACE);
            ended(&weak, &terminal, code);
        });
        Ok(info)
    }

    /// Changes a terminal's title or size.
    pub fn update(
        &self,
        id: &PtyId,
        title: Option<String>,
        size: Option<Size>,
    ) -> Result<Pty, TerminalError> {
        let terminal = self.get(id)?;
        if let Some(size) = size {
            process::resize(&terminal.master, size)
                .map_err(|e| TerminalError::Invalid(format!("cannot resize the terminal: {e}")))?;
        }
        let info = {
            let mut info = lock(&terminal.info);
            if let Some(title) = title.filter(|t| !t.is_empty()) {
                info.title = title;
            }
            info.clone()
        };
        self.inner
            .bus
            .publish(Event::PtyUpdated(PtyChanged { info: info.clone() }));
        Ok(info)
    }

    /// Closes a terminal: its program and everything it started are killed.
    pub fn remove(&self, id: &PtyId) -> Result<(), TerminalError> {
        let terminal = lock(&self.inner.open)
            .remove(id)
            .ok_or_else(|| TerminalError::NotFound(id.clone()))?;
        terminal.close();
        self.inner
            .bus
            .publish(Event::PtyDeleted(PtyRef { id: id.clone() }));
        Ok(())
    }

    /// Closes every terminal (the instance is released, or the server stops).
    pub fn close_all(&self) {
        let open: Vec<Arc<Terminal>> = lock(&self.inner.open).drain().map(|(_, t)| t).collect();
        for terminal in open {
            terminal.close();
        }
    }

    /// A ticket for one WebSocket connect to `id`.
    pub fn issue_ticket(&self, id: &PtyId) -> Result<String, TerminalError> {
        self.get(id)?;
        lock(&self.inner.tickets)
            .issue(id)
            .map_err(|e| TerminalError::Invalid(format!("cannot make a ticket: {e}")))
    }

    pub fn consume_ticket(&self, ticket: &str, id: &PtyId) -> bool {
        lock(&self.inner.tickets).consume(ticket, id)
    }
}

impl Drop for Terminals {
    fn drop(&mut self) {
        self.close_all();
    }
}

impl Terminal {
    pub fn info(&self) -> Pty {
        lock(&self.info).clone()
    }

    /// Attaches a client that has seen the output up to `cursor` (see [`output::Output::attach`]).
    pub fn attach(&self, cursor: Option<i64>) -> Attachment {
        lock(&self.output).attach(cursor)
    }

    /// Types `bytes` into the terminal.
    pub fn write(&self, bytes: Vec<u8>) {
        // The writer is gone only once the terminal is: nothing to type into.
        let _ = self.input.send(bytes);
    }

    /// Resolves when the terminal closes.
    pub async fn closed(&self) {
        self.closed.cancelled().await;
    }

    fn close(&self) {
        let (status, pid) = {
            let info = lock(&self.info);
            (info.status, info.pid)
        };
        if status == PtyStatus::Running {
            process::kill_session(pid);
        }
        self.closed.cancel();
    }
}

/// The program ended: `pty.exited`, then the terminal closes as the reference's does (it leaves
/// the list, `pty.deleted`) unless it was removed already.
fn ended(terminals: &Weak<Inner>, terminal: &Arc<Terminal>, code: u32) {
    let id = {
        let mut info = lock(&terminal.info);
        info.status = PtyStatus::Exited;
        info.exit_code = Some(code);
        info.id.clone()
    };
    terminal.closed.cancel();
    let Some(inner) = terminals.upgrade() else {
        return;
    };
    inner.bus.publish(Event::PtyExited(PtyExited {
        id: id.clone(),
        exit_code: code,
    }));
    let removed = lock(&inner.open).remove(&id).is_some();
    if removed {
        inner.bus.publish(Event::PtyDeleted(PtyRef { id }));
    }
}

/// Reads the terminal's output until every holder of its far end is gone, handing each read to
/// the connected clients: it waits for a client with a full queue (so a slow client slows the
/// program, not loses output), up to [`output::STALL_LIMIT`], then cuts that client off.
fn read_output(master: OwnedFd, terminal: &Terminal, runtime: tokio::runtime::Handle) {
    let mut master = std::fs::File::from(master);
    let mut decoder = output::Utf8Stream::default();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match master.read(&mut buf) {
            // EIO is how Linux says the far end closed.
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let text = decoder.decode(&buf[..n]);
                let clients = lock(&terminal.output).push(&text);
                if clients.is_empty() {
                    continue;
                }
                let text: Arc<str> = Arc::from(text);
                for client in clients {
                    // The timer is made inside `block_on`, where the runtime's clock is.
                    let sent = runtime.block_on(async {
                        tokio::time::timeout(output::STALL_LIMIT, client.send(text.clone())).await
                    });
                    if !matches!(sent, Ok(Ok(()))) {
                        lock(&terminal.output).cut_off(&client);
                    }
                }
            }
        }
    }
}

fn write_input(master: OwnedFd, inputs: std::sync::mpsc::Receiver<Vec<u8>>) {
    let mut master = std::fs::File::from(master);
    for bytes in inputs {
        if master.write_all(&bytes).is_err() {
            break;
        }
    }
}
