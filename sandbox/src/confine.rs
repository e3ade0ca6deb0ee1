//! Confining a worker process: CPU pinning, only the descriptors it needs,
//! resource limits, namespaces, no_new_privs and no capabilities.
//!
//! [`confine`] runs once, early in a worker, while the process still has a
//! single thread: capabilities and no_new_privs are per-thread attributes
//! that threads inherit when created, and `unshare(CLONE_NEWUSER)` refuses a
//! multi-threaded caller. The seccomp filter comes later (see
//! [`crate::seccomp::install`]), once the worker's threads exist. The steps
//! and their order are listed in `sandbox/README.md`.

use std::fmt;
use std::os::fd::RawFd;

use nix::errno::Errno;
use nix::libc;
use nix::sched::{sched_getaffinity, sched_setaffinity, unshare, CloneFlags, CpuSet};
use nix::sys::resource::{getrlimit, setrlimit, Resource};
use nix::unistd::Pid;

use crate::error::SandboxError;

/// What a worker is confined to.
#[derive(Debug, Clone)]
pub struct Confinement {
    /// The worker's role, for logs.
    pub role: &'static str,
    /// Descriptors to keep besides 0, 1 and 2; every other one is closed.
    pub keep_fds: Vec<RawFd>,
    /// RLIMIT_NOFILE: one more than the highest descriptor number the
    /// process may open from now on.
    pub max_open_files: u64,
    /// RLIMIT_AS, in bytes: the whole virtual address space (code, stacks,
    /// heap, shared mappings).
    pub max_address_space: u64,
    /// CPUs to run on; `None` keeps the inherited affinity.
    pub cpus: Option<Vec<usize>>,
}

/// A namespace a worker tries to enter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Namespace {
    /// `CLONE_NEWUSER`: its capabilities mean nothing outside.
    User,
    /// `CLONE_NEWNS`: a private copy of the mount table.
    Mount,
    /// `CLONE_NEWNET`: only a loopback device, down; no route anywhere.
    Net,
    /// `CLONE_NEWIPC`: no System V IPC or POSIX message queues of the host.
    Ipc,
}

impl Namespace {
    /// Every namespace, in the order they are tried alone.
    pub const ALL: [Namespace; 4] = [
        Namespace::User,
        Namespace::Mount,
        Namespace::Net,
        Namespace::Ipc,
    ];

    /// The short name used in logs.
    pub fn name(self) -> &'static str {
        match self {
            Namespace::User => "user",
            Namespace::Mount => "mount",
            Namespace::Net => "net",
            Namespace::Ipc => "ipc",
        }
    }

    fn flag(self) -> CloneFlags {
        match self {
            Namespace::User => CloneFlags::CLONE_NEWUSER,
            Namespace::Mount => CloneFlags::CLONE_NEWNS,
            Namespace::Net => CloneFlags::CLONE_NEWNET,
            Namespace::Ipc => CloneFlags::CLONE_NEWIPC,
        }
    }
}

impl fmt::Display for Namespace {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What [`confine`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfineReport {
    /// Namespaces the process now lives in.
    pub entered: Vec<Namespace>,
    /// Namespaces the kernel refused, with its reason.
    pub missing: Vec<(Namespace, Errno)>,
    /// The CPUs the process is pinned to, if pinning was asked for.
    pub cpus: Option<Vec<usize>>,
    /// False when the bounding set could not be emptied (an unprivileged
    /// process outside a user namespace has no CAP_SETPCAP); no_new_privs
    /// and the seccomp filter's ban on execve make it unusable anyway.
    pub bounding_set_cleared: bool,
}

impl ConfineReport {
    /// The entered namespaces as `user,mount,net,ipc`, or `none`.
    pub fn namespaces(&self) -> String {
        names(self.entered.iter().copied())
    }
}

fn names(ns: impl Iterator<Item = Namespace>) -> String {
    let list: Vec<&str> = ns.map(Namespace::name).collect();
    if list.is_empty() {
        "none".into()
    } else {
        list.join(",")
    }
}

/// Confines the calling process, which must still be single-threaded, in
/// this order: CPU affinity, descriptors, resource limits, one malloc arena,
/// namespaces, no_new_privs, capabilities (see `sandbox/README.md`).
///
/// Closing descriptors: every descriptor except 0, 1, 2 and
/// `c.keep_fds` is closed, so nothing else in the process may own one at
/// this point (in a worker, only the adopted descriptors are open).
///
/// Namespaces the kernel refuses are skipped with one warning; every other
/// failure is an error and the worker must stop.
pub fn confine(c: &Confinement) -> Result<ConfineReport, SandboxError> {
    let threads = thread_count();
    if threads > 1 {
        return Err(SandboxError::Threaded(threads));
    }
    // 1. CPU affinity.
    let cpus = match &c.cpus {
        Some(list) => Some(pin(list)?),
        None => None,
    };
    // 2. Descriptors.
    close_other_fds(&c.keep_fds)?;
    // 3. Resource limits.
    limit(Resource::RLIMIT_NOFILE, "RLIMIT_NOFILE", c.max_open_files)?;
    limit(Resource::RLIMIT_AS, "RLIMIT_AS", c.max_address_space)?;
    limit(Resource::RLIMIT_CORE, "RLIMIT_CORE", 0)?;
    // 3b. One malloc arena for every thread.
    single_malloc_arena()?;
    // 4. Namespaces.
    let (entered, missing) = enter_namespaces();
    if !missing.is_empty() {
        let why: Vec<String> = missing
            .iter()
            .map(|(ns, e)| format!("{ns}: {}", e.desc()))
            .collect();
        tracing::warn!(
            role = c.role,
            missing = %names(missing.iter().map(|(ns, _)| *ns)),
            entered = %names(entered.iter().copied()),
            error = %why.join("; "),
            "the kernel refused some namespaces; the worker runs without them"
        );
    }
    // 5. no_new_privs: from here on, execve can never grant privileges.
    nix::sys::prctl::set_no_new_privs().map_err(SandboxError::sys("PR_SET_NO_NEW_PRIVS"))?;
    // 6. Capabilities: bounding set while CAP_SETPCAP is still effective,
    // then ambient, inheritable, effective, permitted.
    let bounding_set_cleared = drop_bounding_set()?;
    clear_caps(caps::CapSet::Ambient, "ambient")?;
    clear_caps(caps::CapSet::Inheritable, "inheritable")?;
    clear_caps(caps::CapSet::Effective, "effective")?;
    clear_caps(caps::CapSet::Permitted, "permitted")?;
    verify(bounding_set_cleared)?;
    Ok(ConfineReport {
        entered,
        missing,
        cpus,
        bounding_set_cleared,
    })
}

/// Threads of this process, from /proc; 1 when /proc cannot be read (the
/// kernel still refuses a user namespace to a multi-threaded process).
fn thread_count() -> usize {
    std::fs::read_dir("/proc/self/task").map_or(1, Iterator::count)
}

fn pin(list: &[usize]) -> Result<Vec<usize>, SandboxError> {
    if list.is_empty() {
        return Err(SandboxError::NoCpus);
    }
    let current =
        sched_getaffinity(Pid::from_raw(0)).map_err(SandboxError::sys("sched_getaffinity"))?;
    let allowed: Vec<usize> = (0..CpuSet::count())
        .filter(|&cpu| current.is_set(cpu).unwrap_or(false))
        .collect();
    let mut set = CpuSet::new();
    for &cpu in list {
        if !allowed.contains(&cpu) {
            return Err(SandboxError::CpuNotAllowed {
                cpu,
                allowed: allowed.clone(),
            });
        }
        set.set(cpu).map_err(|_| SandboxError::CpuNotAllowed {
            cpu,
            allowed: allowed.clone(),
        })?;
    }
    sched_setaffinity(Pid::from_raw(0), &set).map_err(SandboxError::sys("sched_setaffinity"))?;
    let mut pinned = list.to_vec();
    pinned.sort_unstable();
    pinned.dedup();
    Ok(pinned)
}

/// Closes every descriptor but 0, 1, 2 and `keep`.
fn close_other_fds(keep: &[RawFd]) -> Result<(), SandboxError> {
    let mut kept: Vec<RawFd> = vec![0, 1, 2];
    for &fd in keep {
        if fd < 0 {
            return Err(SandboxError::KeepFdNotOpen(fd, Errno::EBADF));
        }
        // SAFETY: F_GETFD only reads the descriptor's flags; `fd` is not
        // closed or otherwise touched.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            return Err(SandboxError::KeepFdNotOpen(fd, Errno::last()));
        }
        kept.push(fd);
    }
    kept.sort_unstable();
    kept.dedup();
    // Close the gaps between kept descriptors, then everything above.
    let mut ranges: Vec<(u32, u32)> = Vec::new();
    for pair in kept.windows(2) {
        if pair[1] > pair[0] + 1 {
            ranges.push((pair[0] as u32 + 1, pair[1] as u32 - 1));
        }
    }
    let highest = *kept.last().unwrap_or(&2);
    ranges.push((highest as u32 + 1, u32::MAX));
    for (first, last) in ranges {
        close_range(first, last)?;
    }
    Ok(())
}

fn close_range(first: u32, last: u32) -> Result<(), SandboxError> {
    // SAFETY: close_range only closes descriptors; none in [first, last] is
    // owned by anything in this process (the caller of `confine` guarantees
    // it), so no owner is left with a dangling number. No memory is passed.
    let rc = unsafe { libc::syscall(libc::SYS_close_range, first, last, 0u32) };
    if rc == 0 {
        return Ok(());
    }
    match Errno::last() {
        // Kernels before 5.9: close one by one up to the descriptor limit.
        Errno::ENOSYS => {
            let (soft, _) =
                getrlimit(Resource::RLIMIT_NOFILE).map_err(SandboxError::sys("getrlimit"))?;
            let end = u64::from(last).min(soft.saturating_sub(1));
            for fd in u64::from(first)..=end {
                // SAFETY: as above; closing a number that is not open only
                // returns EBADF.
                unsafe { libc::close(fd as RawFd) };
            }
            Ok(())
        }
        e => Err(SandboxError::sys("close_range")(e)),
    }
}

/// Sets both the soft and the hard limit of `resource` to `value`, or to the
/// current hard limit if that is lower already (a limit is only lowered).
fn limit(resource: Resource, name: &'static str, value: u64) -> Result<(), SandboxError> {
    let (_, hard) = getrlimit(resource).map_err(|source| SandboxError::Rlimit {
        resource: name,
        value,
        source,
    })?;
    // rlim_t is u64 here but narrower on 32-bit targets.
    #[allow(clippy::unnecessary_cast)]
    let value = value.min(hard as u64);
    setrlimit(resource, value as libc::rlim_t, value as libc::rlim_t).map_err(|source| {
        SandboxError::Rlimit {
            resource: name,
            value,
            source,
        }
    })
}

/// Makes every thread allocate from glibc's main arena (`M_ARENA_MAX` = 1).
/// A thread's own arena is trimmed with a first-time
/// `open("/proc/sys/vm/overcommit_memory")` (glibc's `check_may_shrink_heap`),
/// a call no worker's seccomp policy allows: a large free in a helper
/// thread's arena would kill the worker. The main arena is trimmed with
/// `brk`. It also spares each thread a 64 MiB arena reservation.
fn single_malloc_arena() -> Result<(), SandboxError> {
    #[cfg(target_env = "gnu")]
    {
        // SAFETY: mallopt only changes malloc's tuning; no thread other than
        // this one exists yet.
        if unsafe { libc::mallopt(libc::M_ARENA_MAX, 1) } != 1 {
            return Err(SandboxError::Sys {
                op: "mallopt(M_ARENA_MAX)",
                source: Errno::EINVAL,
            });
        }
    }
    Ok(())
}

/// Enters as many of the four namespaces as the kernel allows: all at once,
/// else all but the user namespace (root without user namespaces), else
/// each one alone.
fn enter_namespaces() -> (Vec<Namespace>, Vec<(Namespace, Errno)>) {
    let all = Namespace::ALL
        .iter()
        .fold(CloneFlags::empty(), |f, ns| f | ns.flag());
    if unshare(all).is_ok() {
        return (Namespace::ALL.to_vec(), Vec::new());
    }
    let mut entered = Vec::new();
    let mut missing = Vec::new();
    let others = [Namespace::Mount, Namespace::Net, Namespace::Ipc];
    let flags = others
        .iter()
        .fold(CloneFlags::empty(), |f, ns| f | ns.flag());
    let alone: &[Namespace] = if unshare(flags).is_ok() {
        entered.extend(others);
        &[Namespace::User]
    } else {
        &Namespace::ALL
    };
    for &ns in alone {
        match unshare(ns.flag()) {
            Ok(()) => entered.push(ns),
            Err(e) => missing.push((ns, e)),
        }
    }
    // Report in the canonical order.
    entered.sort_by_key(|ns| Namespace::ALL.iter().position(|n| n == ns));
    (entered, missing)
}

/// The highest capability number this kernel knows, probed with
/// PR_CAPBSET_READ (which fails with EINVAL past it).
fn last_cap() -> u32 {
    let mut last = 0;
    for cap in 0..64u32 {
        // SAFETY: PR_CAPBSET_READ only reads this thread's bounding set.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) };
        if rc < 0 {
            break;
        }
        last = cap;
    }
    last
}

fn in_bounding_set(cap: u32) -> bool {
    // SAFETY: PR_CAPBSET_READ only reads this thread's bounding set.
    unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) > 0 }
}

/// Drops every capability from the bounding set. Returns false when that is
/// not permitted (no CAP_SETPCAP) and the set is left as it was.
fn drop_bounding_set() -> Result<bool, SandboxError> {
    for cap in 0..=last_cap() {
        if !in_bounding_set(cap) {
            continue;
        }
        // SAFETY: PR_CAPBSET_DROP only changes this thread's bounding set.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        if rc < 0 {
            let e = Errno::last();
            let has_setpcap =
                caps::has_cap(None, caps::CapSet::Effective, caps::Capability::CAP_SETPCAP)
                    .unwrap_or(false);
            if e == Errno::EPERM && !has_setpcap {
                tracing::warn!(
                    error = %e.desc(),
                    "cannot empty the capability bounding set without CAP_SETPCAP; \
                     no_new_privs and the seccomp filter keep it unusable"
                );
                return Ok(false);
            }
            return Err(SandboxError::sys("PR_CAPBSET_DROP")(e));
        }
    }
    Ok(true)
}

fn clear_caps(set: caps::CapSet, name: &'static str) -> Result<(), SandboxError> {
    caps::clear(None, set).map_err(|e| SandboxError::Caps {
        set: name,
        reason: e.to_string(),
    })
}

/// Reads back what the steps should have left.
fn verify(bounding_set_cleared: bool) -> Result<(), SandboxError> {
    if !nix::sys::prctl::get_no_new_privs().map_err(SandboxError::sys("PR_GET_NO_NEW_PRIVS"))? {
        return Err(SandboxError::NotConfined("no_new_privs is not set".into()));
    }
    for (set, name) in [
        (caps::CapSet::Ambient, "ambient"),
        (caps::CapSet::Inheritable, "inheritable"),
        (caps::CapSet::Effective, "effective"),
        (caps::CapSet::Permitted, "permitted"),
    ] {
        let held = caps::read(None, set).map_err(|e| SandboxError::Caps {
            set: name,
            reason: e.to_string(),
        })?;
        if !held.is_empty() {
            return Err(SandboxError::NotConfined(format!(
                "the {name} capability set still holds {held:?}"
            )));
        }
    }
    if bounding_set_cleared {
        if let Some(cap) = (0..=last_cap()).find(|&c| in_bounding_set(c)) {
            return Err(SandboxError::NotConfined(format!(
                "capability {cap} is still in the bounding set"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_names_join_in_order() {
        let report = ConfineReport {
            entered: vec![Namespace::Mount, Namespace::Ipc],
            missing: vec![(Namespace::User, Errno::EPERM)],
            cpus: None,
            bounding_set_cleared: true,
        };
        assert_eq!(report.namespaces(), "mount,ipc");
        let none = ConfineReport {
            entered: vec![],
            ..report
        };
        assert_eq!(none.namespaces(), "none");
    }

    #[test]
    fn the_test_process_is_not_confined_twice() {
        // The unit-test harness runs tests on threads: confine must refuse
        // to run in it rather than leave other threads unconfined. Without
        // /proc the count cannot be read, and confining the test process
        // itself would be wrong: skip.
        if std::fs::read_dir("/proc/self/task").is_err() {
            return;
        }
        let _other = std::thread::spawn(|| std::thread::sleep(std::time::Duration::from_secs(1)));
        let err = confine(&Confinement {
            role: "test",
            keep_fds: vec![],
            max_open_files: 64,
            max_address_space: 1 << 30,
            cpus: None,
        })
        .unwrap_err();
        assert!(matches!(err, SandboxError::Threaded(n) if n > 1), "{err}");
    }
}
