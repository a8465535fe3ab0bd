//! A command started under the events: forked, held before `exec` until the events are
//! open on its pid, then released (the events enable at exec with `enable_on_exec`).
//!
//! `std::process::Command` cannot do this: `spawn` returns only after the exec, and the
//! events must be opened on the pid before it. This module forks itself; the child runs
//! only async-signal-safe calls (`prctl`, `getppid`, `read`, `close`, `execve`, `write`,
//! `_exit`) on data prepared before the fork. The command gets `PR_SET_PDEATHSIG`
//! (SIGKILL): it does not outlive the thread that spawned it, so a recorder killed with
//! SIGKILL leaves no command running on untraced.

use crate::kernel::sys::check;
use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A forked child waiting before `exec`.
#[derive(Debug)]
pub struct PendingChild {
    pid: i32,
    go: Option<OwnedFd>,
    exec_err: OwnedFd,
    program: PathBuf,
}

/// A released child (it has exec'd, or failed to and exited).
#[derive(Debug)]
pub struct Child {
    pid: i32,
    status: Option<ExitStatus>,
}

/// How the child ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitStatus {
    /// `exit(code)`.
    Exited(i32),
    /// Killed by a signal.
    Signaled(i32),
}

impl std::fmt::Display for ExitStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExitStatus::Exited(c) => write!(f, "exit code {c}"),
            ExitStatus::Signaled(s) => write!(f, "killed by signal {s}"),
        }
    }
}

/// Why a command could not be started.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SpawnError {
    /// No command given.
    #[error("no command to run")]
    Empty,
    /// An argument contains a NUL byte.
    #[error("argument {0:?} contains a NUL byte")]
    Nul(OsString),
    /// The program is not found in PATH.
    #[error("{0:?}: command not found in PATH")]
    NotFound(OsString),
    /// A system call failed.
    #[error("{what}: {cause}")]
    Sys {
        /// Which call.
        what: &'static str,
        /// The error.
        cause: io::Error,
    },
    /// `execve` failed in the child.
    #[error("cannot execute {program}: {cause}")]
    Exec {
        /// The program.
        program: String,
        /// The errno from the child.
        cause: io::Error,
    },
}

fn sys(what: &'static str) -> impl Fn(io::Error) -> SpawnError {
    move |cause| SpawnError::Sys { what, cause }
}

fn cstring(s: &OsStr) -> Result<CString, SpawnError> {
    CString::new(s.as_bytes()).map_err(|_| SpawnError::Nul(s.to_os_string()))
}

/// Finds `program` as `execvp` would: a name with a `/` is used as is, else each PATH
/// directory is tried for an executable file.
fn resolve(program: &OsStr) -> Result<PathBuf, SpawnError> {
    if program.as_bytes().contains(&b'/') {
        return Ok(PathBuf::from(program));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/local/bin:/usr/bin:/bin".into());
    for dir in std::env::split_paths(&path) {
        let candidate = dir.join(program);
        if is_executable(&candidate) {
            return Ok(candidate);
        }
    }
    Err(SpawnError::NotFound(program.to_os_string()))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn pipe() -> Result<(OwnedFd, OwnedFd), SpawnError> {
    let mut fds = [0i32; 2];
    // SAFETY: pipe2 writes two fds into the array, valid for the call.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }).map_err(sys("pipe2"))?;
    // SAFETY: two new fds that nothing else owns.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

impl PendingChild {
    /// Forks a child that will exec `argv` (`argv[0]` looked up in PATH) with this process's
    /// environment once [`PendingChild::release`] is called. Dropping the pending child
    /// without releasing it makes the child exit with 127 before exec.
    ///
    /// # Errors
    /// An empty command, a NUL in an argument, a program not found, or fork/pipe failure.
    pub fn spawn(argv: &[OsString]) -> Result<Self, SpawnError> {
        let first = argv.first().ok_or(SpawnError::Empty)?;
        let program = resolve(first)?;
        // Everything the child needs is allocated now: after fork only async-signal-safe
        // calls are allowed.
        let c_program = cstring(program.as_os_str())?;
        let c_args: Vec<CString> = argv.iter().map(|a| cstring(a)).collect::<Result<_, _>>()?;
        let mut c_argv: Vec<*const libc::c_char> = c_args.iter().map(|a| a.as_ptr()).collect();
        c_argv.push(std::ptr::null());
        let c_env: Vec<CString> = std::env::vars_os()
            .map(|(k, v)| {
                let mut kv = k;
                kv.push("=");
                kv.push(v);
                cstring(&kv)
            })
            .collect::<Result<_, _>>()?;
        let mut c_envp: Vec<*const libc::c_char> = c_env.iter().map(|a| a.as_ptr()).collect();
        c_envp.push(std::ptr::null());

        let (go_r, go_w) = pipe()?;
        let (err_r, err_w) = pipe()?;

        // SAFETY: getpid has no preconditions.
        let parent = unsafe { libc::getpid() };
        // SAFETY: fork has no memory-safety preconditions. The child branch below uses only
        // async-signal-safe calls on memory allocated before the fork (our copy of it).
        let pid = check(unsafe { libc::fork() }).map_err(sys("fork"))?;
        if pid == 0 {
            // Child.
            // SAFETY: async-signal-safe calls only (prctl, getppid, read, close, execve,
            // write, _exit), on fds and buffers that are valid in this copy of the address
            // space.
            unsafe {
                // The command dies with its recorder (a SIGKILLed `record` leaves no
                // orphan running untraced): PR_SET_PDEATHSIG survives execve. If the
                // recorder is already gone, do not run at all.
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong);
                if libc::getppid() != parent {
                    libc::_exit(127);
                }
                libc::close(go_w.as_raw_fd());
                let mut byte = 0u8;
                let n = loop {
                    let n = libc::read(go_r.as_raw_fd(), (&mut byte as *mut u8).cast(), 1);
                    if n >= 0 || *libc::__errno_location() != libc::EINTR {
                        break n;
                    }
                };
                if n != 1 {
                    // The parent gave up (dropped us): never run the command untraced.
                    libc::_exit(127);
                }
                libc::execve(c_program.as_ptr(), c_argv.as_ptr(), c_envp.as_ptr());
                let errno: i32 = *libc::__errno_location();
                let bytes = errno.to_ne_bytes();
                libc::write(err_w.as_raw_fd(), bytes.as_ptr().cast(), bytes.len());
                libc::_exit(127);
            }
        }
        drop(go_r);
        drop(err_w);
        Ok(PendingChild {
            pid,
            go: Some(go_w),
            exec_err: err_r,
            program,
        })
    }

    /// The child's pid, to open events on.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    /// Lets the child exec, and waits until it has (or has failed to).
    ///
    /// # Errors
    /// [`SpawnError::Exec`] with the child's errno when `execve` failed (the child is
    /// reaped).
    pub fn release(mut self) -> Result<Child, SpawnError> {
        let go = self.go.take();
        if let Some(go) = &go {
            let one = [1u8];
            // SAFETY: writes one byte from a valid buffer to our pipe end.
            let n = check(unsafe { libc::write(go.as_raw_fd(), one.as_ptr().cast(), 1) })
                .map_err(sys("write to the child's start pipe"))?;
            if n != 1 {
                return Err(sys("write to the child's start pipe")(io::Error::from(
                    io::ErrorKind::WriteZero,
                )));
            }
        }
        drop(go);
        // EOF (close-on-exec of the child's end) means exec succeeded; 4 bytes are errno.
        let mut buf = [0u8; 4];
        let n = crate::kernel::sys::read(std::os::fd::AsFd::as_fd(&self.exec_err), &mut buf)
            .map_err(sys("read of the exec status pipe"))?;
        let mut child = Child {
            pid: self.pid,
            status: None,
        };
        self.pid = 0; // released: Drop must not kill it
        if n == 4 {
            let _ = child.wait();
            return Err(SpawnError::Exec {
                program: self.program.display().to_string(),
                cause: io::Error::from_raw_os_error(i32::from_ne_bytes(buf)),
            });
        }
        Ok(child)
    }
}

impl Drop for PendingChild {
    fn drop(&mut self) {
        if self.pid > 0 {
            // Closing the start pipe makes the child _exit(127); reap it.
            self.go = None;
            let mut status = 0;
            // SAFETY: waits for our own child; `status` is valid for the call.
            unsafe { libc::waitpid(self.pid, &mut status, 0) };
        }
    }
}

fn decode(status: i32) -> ExitStatus {
    if libc::WIFSIGNALED(status) {
        ExitStatus::Signaled(libc::WTERMSIG(status))
    } else {
        ExitStatus::Exited(libc::WEXITSTATUS(status))
    }
}

impl Child {
    /// The pid.
    pub fn pid(&self) -> i32 {
        self.pid
    }

    fn waitpid(&mut self, flags: i32) -> io::Result<Option<ExitStatus>> {
        if let Some(s) = self.status {
            return Ok(Some(s));
        }
        let mut status = 0;
        loop {
            // SAFETY: waits for our own child; `status` is valid for the call.
            let r = match check(unsafe { libc::waitpid(self.pid, &mut status, flags) }) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                r => r?,
            };
            if r == 0 {
                return Ok(None);
            }
            let s = decode(status);
            self.status = Some(s);
            return Ok(Some(s));
        }
    }

    /// Reaps the child if it has exited.
    ///
    /// # Errors
    /// The `waitpid` error.
    pub fn try_wait(&mut self) -> io::Result<Option<ExitStatus>> {
        self.waitpid(libc::WNOHANG)
    }

    /// Waits for the child to exit.
    ///
    /// # Errors
    /// The `waitpid` error.
    pub fn wait(&mut self) -> io::Result<ExitStatus> {
        self.waitpid(0)?
            .ok_or_else(|| io::Error::other("waitpid returned no status"))
    }

    /// Sends `signal` unless already reaped.
    ///
    /// # Errors
    /// The `kill` error.
    pub fn kill(&self, signal: i32) -> io::Result<()> {
        if self.status.is_some() {
            return Ok(());
        }
        // SAFETY: kill has no memory-safety preconditions; the pid is our unreaped child.
        check(unsafe { libc::kill(self.pid, signal) }).map(drop)
    }
}
