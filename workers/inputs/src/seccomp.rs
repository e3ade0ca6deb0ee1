//! The inputs worker's seccomp allow-list, installed by `lock_down` before
//! anything is read from the supervisor. The worker has one thread and one
//! descriptor (the IPC socket); anything else kills it (SIGSYS).
//!
//! Found by tracing the worker (debug and release builds) under real
//! clients and the end-to-end tests; see `sandbox/README.md` for how to
//! redo that. Not allowed, on purpose: `socket`, `connect`, `open*`,
//! `execve*`, `fork`/`clone*`, threads (`futex` is not needed by a single
//! thread), and any mapping that is executable.

use spicebox_sandbox::allow;
use spicebox_sandbox::libc::{F_GETFD, PROT_EXEC, SIGABRT};
use spicebox_sandbox::seccomp::{arg, Policy};

/// Everything the inputs worker may call once it is locked down.
pub fn policy() -> Policy {
    let pid = std::process::id();
    #[rustfmt::skip]
    let rules = vec![
        // The work itself.
        allow!(SYS_recvfrom, "IPC frames from the supervisor"),
        allow!(SYS_sendto, "IPC frames to the supervisor"),
        allow!(SYS_write, "log lines on stderr", [arg(0).is(2)]),
        // Memory (glibc malloc's main arena and large blocks).
        allow!(SYS_brk, "malloc's main arena"),
        allow!(SYS_mmap, "large blocks; never executable", [arg(2).has_none(PROT_EXEC)]),
        allow!(SYS_munmap, "freeing large blocks"),
        allow!(SYS_mremap, "realloc of large blocks"),
        allow!(SYS_getrandom, "std HashMap keys, if none were made before lock-down"),
        allow!(SYS_clock_gettime, "timestamps when the vDSO cannot serve the clock source"),
        // Leaving, or dying with an honest signal.
        allow!(SYS_close, "dropping the IPC socket on the way out"),
        allow!(SYS_fcntl, "std's debug-build check that a descriptor is open before closing it", [arg(1).is(F_GETFD)]),
        allow!(SYS_sigaltstack, "std removing the main thread's signal stack at exit"),
        allow!(SYS_exit_group, "the worker ending when the supervisor closes the link"),
        allow!(SYS_rt_sigreturn, "returning from std's SIGSEGV handler so the fault kills"),
        allow!(SYS_rt_sigprocmask, "abort() raising SIGABRT"),
        allow!(SYS_getpid, "abort() raising SIGABRT"),
        allow!(SYS_gettid, "abort() raising SIGABRT"),
        allow!(SYS_tgkill, "abort() raising SIGABRT at this process only", [arg(0).is(pid), arg(2).is(SIGABRT)]),
    ];
    Policy {
        role: "inputs",
        rules,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_passes_the_audit() {
        policy().audit(&["futex", "read"]).expect("audit");
    }
}
