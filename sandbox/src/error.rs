//! Errors of confining a process and installing its seccomp filter.

use std::os::fd::RawFd;

use nix::errno::Errno;

/// Why a worker could not be confined. Every variant is fatal: a worker that
/// cannot confine itself must not go on to read from its peers.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    /// Capabilities and no_new_privs are per thread, and unsharing a user
    /// namespace needs a single thread: confinement must come first.
    #[error("the process already runs {0} threads; confinement must happen while it has one")]
    Threaded(usize),
    /// The CPU list was empty.
    #[error("the CPU list is empty")]
    NoCpus,
    /// A requested CPU is not one this process may run on.
    #[error("CPU {cpu} is not in the allowed set {allowed:?}")]
    CpuNotAllowed {
        /// The CPU asked for.
        cpu: usize,
        /// The CPUs the process may use (its affinity before pinning).
        allowed: Vec<usize>,
    },
    /// A descriptor that must be kept is not open.
    #[error("descriptor {0} is to be kept but is not open")]
    KeepFdNotOpen(RawFd, #[source] Errno),
    /// The resource limits could not be lowered.
    #[error("cannot set {resource} to {value}")]
    Rlimit {
        /// Which limit.
        resource: &'static str,
        /// The value asked for.
        value: u64,
        /// What the kernel said.
        #[source]
        source: Errno,
    },
    /// A system call of the confinement sequence failed.
    #[error("{op} failed")]
    Sys {
        /// What was being done.
        op: &'static str,
        /// What the kernel said.
        #[source]
        source: Errno,
    },
    /// A capability set could not be cleared.
    #[error("cannot clear the {set} capability set: {reason}")]
    Caps {
        /// Which set.
        set: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// A check after a step found the step had no effect.
    #[error("confinement did not take: {0}")]
    NotConfined(String),
    /// A seccomp policy names the same system call twice.
    #[error("seccomp policy {role}: system call {name} appears twice")]
    DuplicateRule {
        /// The policy's role.
        role: &'static str,
        /// The repeated system call.
        name: &'static str,
    },
    /// A seccomp policy could not be compiled into BPF.
    #[error("seccomp policy {role} does not compile: {reason}")]
    Compile {
        /// The policy's role.
        role: &'static str,
        /// What seccompiler said.
        reason: String,
    },
    /// Seccomp filters are only written for x86_64 and aarch64.
    #[error("seccomp filters are not written for {0}")]
    UnsupportedArch(&'static str),
    /// The kernel refused the filter.
    #[error("cannot install the seccomp filter of {role}: {reason}")]
    Install {
        /// The policy's role.
        role: &'static str,
        /// What went wrong.
        reason: String,
    },
}

impl SandboxError {
    /// A closure turning an errno into [`SandboxError::Sys`] for `op`.
    pub(crate) fn sys(op: &'static str) -> impl FnOnce(Errno) -> SandboxError {
        move |source| SandboxError::Sys { op, source }
    }
}
