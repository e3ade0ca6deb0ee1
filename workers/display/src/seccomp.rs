//! The display worker's seccomp allow-list, installed on all three threads
//! (main, "ipc-recv", "doorbell") by `lock_down`, before anything is read
//! from the supervisor or the host. Anything else kills the worker (SIGSYS).
//!
//! Found by tracing the worker (debug and release builds) under real
//! clients and the end-to-end tests; see `sandbox/README.md` for how to
//! redo that. Not allowed, on purpose: `socket`, `connect`, `open*`,
//! `execve*`, `fork`/`clone*` (no thread is started after lock-down), and
//! any mapping that is executable.

use spicebox_sandbox::allow;
use spicebox_sandbox::libc::{
    FUTEX_PRIVATE_FLAG, FUTEX_WAIT, FUTEX_WAIT_BITSET, FUTEX_WAKE, F_GETFD, MADV_DONTNEED,
    PROT_EXEC, SIGABRT,
};
use spicebox_sandbox::seccomp::{arg, Policy};

/// Everything the display worker may call once it is locked down.
pub fn policy() -> Policy {
    let pid = std::process::id();
    #[rustfmt::skip]
    let mut rules = vec![
        // The work itself.
        allow!(SYS_recvfrom, "IPC frames from the supervisor (ipc-recv thread)"),
        allow!(SYS_sendto, "IPC frames to the supervisor (main thread)"),
        allow!(SYS_read, "doorbell eventfd counts (doorbell thread)"),
        allow!(SYS_write, "log lines on stderr", [arg(0).is(2)]),
        // Threads waking each other (std Mutex/Condvar/park, crossbeam, glibc locks).
        allow!(SYS_futex, "private waits and wakes only",
            [arg(1).is(FUTEX_WAIT | FUTEX_PRIVATE_FLAG)],
            [arg(1).is(FUTEX_WAKE | FUTEX_PRIVATE_FLAG)],
            [arg(1).is(FUTEX_WAIT_BITSET | FUTEX_PRIVATE_FLAG)]),
        allow!(SYS_sched_yield, "crossbeam-channel's backoff while waiting for a wake-up"),
        // Memory (glibc malloc, one arena for all threads: see confine).
        allow!(SYS_brk, "malloc's main arena"),
        allow!(SYS_mmap, "large blocks, signal stacks; never executable", [arg(2).has_none(PROT_EXEC)]),
        allow!(SYS_mprotect, "guard page of a new thread's signal stack; never executable", [arg(2).has_none(PROT_EXEC)]),
        allow!(SYS_munmap, "freeing large blocks and signal stacks"),
        allow!(SYS_mremap, "realloc of large blocks (frame copies, encoder output)"),
        allow!(SYS_madvise, "glibc releasing an ending thread's stack", [arg(2).is(MADV_DONTNEED)]),
        allow!(SYS_getrandom, "std HashMap keys for a thread that had none before lock-down"),
        allow!(SYS_clock_gettime, "timestamps when the vDSO cannot serve the clock source"),
        // The helper threads have started before the filter lands (a
        // barrier in `run`); these serve their exit and abort().
        allow!(SYS_sigaltstack, "std's stack-overflow signal stack, removed when a thread ends"),
        allow!(SYS_rt_sigprocmask, "thread exit; abort"),
        allow!(SYS_gettid, "abort"),
        // Leaving, or dying with an honest signal.
        allow!(SYS_close, "dropping the IPC socket, shm and doorbell on the way out"),
        allow!(SYS_fcntl, "std's debug-build check that a descriptor is open before closing it", [arg(1).is(F_GETFD)]),
        allow!(SYS_exit, "a helper thread ending"),
        allow!(SYS_exit_group, "the worker ending when the supervisor closes the link"),
        allow!(SYS_rt_sigreturn, "returning from std's SIGSEGV handler so the fault kills"),
        allow!(SYS_getpid, "abort() raising SIGABRT"),
        allow!(SYS_tgkill, "abort() raising SIGABRT at this process only", [arg(0).is(pid), arg(2).is(SIGABRT)]),
    ];
    rules.push(poll_rule());
    Policy {
        role: "display",
        rules,
    }
}

/// Waiting on the doorbell when the inherited eventfd is non-blocking
/// (`Doorbell::wait`); glibc's poll() is the ppoll call on aarch64.
fn poll_rule() -> spicebox_sandbox::seccomp::Rule {
    #[cfg(target_arch = "x86_64")]
    return allow!(SYS_poll, "doorbell wait on a non-blocking eventfd");
    #[cfg(not(target_arch = "x86_64"))]
    return allow!(SYS_ppoll, "doorbell wait on a non-blocking eventfd");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_passes_the_audit() {
        policy().audit(&[]).expect("audit");
        // The audit can fail: the policy does allow write (to stderr).
        assert!(policy().audit(&["write"]).is_err());
    }
}
