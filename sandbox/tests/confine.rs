//! Confinement and seccomp, checked in child processes.
//!
//! `harness = false` (as crosvm's `jail/tests/fork.rs`): confinement needs a
//! single-threaded process and changes it for good, so `main` re-executes
//! this binary once per case with `SANDBOX_TEST_CASE` set; the child
//! confines itself, checks what it can from the inside, and exits 0, or
//! dies of the signal the parent expects. The parent checks each child's
//! wait status.

use std::io::Write;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};

use spicebox_sandbox::libc;
use spicebox_sandbox::seccomp::{arg, Policy};
use spicebox_sandbox::{allow, confine, Confinement, Namespace, SandboxError};

const CASE_VAR: &str = "SANDBOX_TEST_CASE";
const PARENT_NS_VAR: &str = "SANDBOX_TEST_PARENT_NS";

/// Limits the children confine themselves to.
const MAX_OPEN_FILES: u64 = 16;
const MAX_ADDRESS_SPACE: u64 = 1 << 30;

/// What a child writes on stderr right before the call that must kill it,
/// so that an earlier, unintended violation does not pass for the tested one.
const REACHED: &str = "child: reached the forbidden call";

/// What the parent expects of a child.
enum Expect {
    /// Exit status 0.
    Success,
    /// Killed by this signal after writing [`REACHED`].
    Signal(i32),
}

struct Case {
    name: &'static str,
    expect: Expect,
    run: fn(),
}

const CASES: &[Case] = &[
    Case {
        name: "confined_process_shows_no_privileges_and_its_limits",
        expect: Expect::Success,
        run: confined_process_shows_no_privileges_and_its_limits,
    },
    Case {
        name: "entered_namespaces_differ_from_the_parent",
        expect: Expect::Success,
        run: entered_namespaces_differ_from_the_parent,
    },
    Case {
        name: "refused_user_namespace_falls_back_to_the_others",
        expect: Expect::Success,
        run: refused_user_namespace_falls_back_to_the_others,
    },
    Case {
        name: "allowed_call_works_forbidden_call_kills_with_sigsys",
        expect: Expect::Signal(libc::SIGSYS),
        run: allowed_call_works_forbidden_call_kills_with_sigsys,
    },
    Case {
        name: "mmap_without_exec_works_mmap_exec_kills_with_sigsys",
        expect: Expect::Signal(libc::SIGSYS),
        run: mmap_without_exec_works_mmap_exec_kills_with_sigsys,
    },
    Case {
        name: "filter_reaches_threads_started_before_it",
        expect: Expect::Signal(libc::SIGSYS),
        run: filter_reaches_threads_started_before_it,
    },
    Case {
        name: "freeing_a_threads_memory_needs_no_open",
        expect: Expect::Success,
        run: freeing_a_threads_memory_needs_no_open,
    },
    Case {
        name: "cpu_outside_the_allowed_set_is_refused_by_number",
        expect: Expect::Success,
        run: cpu_outside_the_allowed_set_is_refused_by_number,
    },
    Case {
        name: "pinning_to_an_allowed_cpu_takes",
        expect: Expect::Success,
        run: pinning_to_an_allowed_cpu_takes,
    },
];

fn main() {
    if let Ok(name) = std::env::var(CASE_VAR) {
        let case = CASES
            .iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| fail(&format!("no case {name}")));
        (case.run)();
        std::process::exit(0);
    }
    let filter: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    let parent_ns = own_namespaces();
    let (mut passed, mut failed) = (0, 0);
    println!("\nrunning {} tests", CASES.len());
    for case in CASES {
        if !filter.is_empty() && !filter.iter().any(|f| case.name.contains(f.as_str())) {
            continue;
        }
        let out = Command::new(std::env::current_exe().expect("own executable"))
            .env(CASE_VAR, case.name)
            .env(PARENT_NS_VAR, &parent_ns)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("cannot run the child");
        let stderr = String::from_utf8_lossy(&out.stderr);
        eprint!("{stderr}");
        match judge(&case.expect, out.status, &stderr) {
            Ok(()) => {
                println!("test {} ... ok", case.name);
                passed += 1;
            }
            Err(why) => {
                println!("test {} ... FAILED: {why}", case.name);
                failed += 1;
            }
        }
    }
    println!(
        "\ntest result: {}. {passed} passed; {failed} failed; 0 ignored; 0 measured; 0 filtered out\n",
        if failed == 0 { "ok" } else { "FAILED" }
    );
    std::process::exit(i32::from(failed > 0));
}

fn judge(expect: &Expect, status: ExitStatus, stderr: &str) -> Result<(), String> {
    match (expect, status.code(), status.signal()) {
        (Expect::Success, Some(0), _) => Ok(()),
        (Expect::Signal(want), _, Some(got)) if got == *want && stderr.contains(REACHED) => Ok(()),
        (Expect::Signal(want), _, Some(got)) if got == *want => Err(format!(
            "killed by signal {got} before reaching the call under test"
        )),
        (Expect::Success, _, _) => Err(format!("expected exit 0, got {status}")),
        (Expect::Signal(want), _, _) => {
            Err(format!("expected death by signal {want}, got {status}"))
        }
    }
}

/// Reports a failed check from a child and exits 1 (no panic: the unwinder
/// may need calls the filter forbids).
fn fail(why: &str) -> ! {
    let _ = writeln!(std::io::stderr(), "child: {why}");
    std::process::exit(1)
}

fn check(ok: bool, why: &str) {
    if !ok {
        fail(why);
    }
}

/// `user:[4026531837],mnt:[…],…` of this process.
fn own_namespaces() -> String {
    ["user", "mnt", "net", "ipc"]
        .iter()
        .map(|ns| {
            let link = std::fs::read_link(format!("/proc/self/ns/{ns}"))
                .map(|p| p.display().to_string())
                .unwrap_or_default();
            format!("{ns}={link}")
        })
        .collect::<Vec<_>>()
        .join(",")
}

fn confinement(keep: Vec<RawFd>, cpus: Option<Vec<usize>>) -> Confinement {
    Confinement {
        role: "test",
        keep_fds: keep,
        max_open_files: MAX_OPEN_FILES,
        max_address_space: MAX_ADDRESS_SPACE,
        cpus,
    }
}

/// A small allow-list: enough for Rust's std to write to stderr, allocate,
/// read a descriptor it already has, and exit.
fn tiny_policy() -> Policy {
    Policy {
        role: "test",
        rules: vec![
            allow!(SYS_read, "reading a descriptor opened before"),
            allow!(SYS_pread64, "re-reading /proc/self/status"),
            allow!(SYS_write, "reporting on stderr"),
            allow!(SYS_getppid, "the allowed call the test makes"),
            allow!(SYS_brk, "malloc"),
            allow!(
                SYS_mmap,
                "malloc; never executable",
                [arg(2).has_none(libc::PROT_EXEC)]
            ),
            allow!(SYS_munmap, "free"),
            allow!(SYS_futex, "thread hand-over"),
            allow!(SYS_sigaltstack, "exit"),
            allow!(SYS_close, "exit"),
            allow!(SYS_fcntl, "std's debug check before close"),
            allow!(SYS_exit_group, "exit"),
        ],
    }
}

fn status_field<'a>(status: &'a str, field: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .map(str::trim)
        .unwrap_or_else(|| fail(&format!("no {field} in /proc/self/status")))
}

fn confined_process_shows_no_privileges_and_its_limits() {
    // Two extra descriptors: one kept, one to be closed.
    let kept = std::fs::File::open("/dev/null").unwrap_or_else(|e| fail(&e.to_string()));
    let dropped = std::fs::File::open("/dev/null").unwrap_or_else(|e| fail(&e.to_string()));
    let (kept_fd, dropped_fd) = (kept.as_raw_fd(), dropped.as_raw_fd());
    std::mem::forget(dropped);
    let report =
        confine(&confinement(vec![kept_fd], None)).unwrap_or_else(|e| fail(&format!("{e}")));
    let _ = writeln!(
        std::io::stderr(),
        "child: namespaces entered: {}; refused: {:?}",
        report.namespaces(),
        report.missing
    );
    // SAFETY: F_GETFD only reads flags.
    check(
        unsafe { libc::fcntl(kept_fd, libc::F_GETFD) } >= 0,
        "kept descriptor was closed",
    );
    // SAFETY: as above.
    check(
        unsafe { libc::fcntl(dropped_fd, libc::F_GETFD) } < 0,
        "other descriptor is still open",
    );
    for (res, want) in [
        (nix::sys::resource::Resource::RLIMIT_NOFILE, MAX_OPEN_FILES),
        (nix::sys::resource::Resource::RLIMIT_AS, MAX_ADDRESS_SPACE),
        (nix::sys::resource::Resource::RLIMIT_CORE, 0),
    ] {
        let (soft, hard) =
            nix::sys::resource::getrlimit(res).unwrap_or_else(|e| fail(&e.to_string()));
        check(
            soft == want && hard == want,
            &format!("{res:?} is {soft}/{hard}, not {want}"),
        );
    }
    let status = std::fs::File::open("/proc/self/status").unwrap_or_else(|e| fail(&e.to_string()));
    spicebox_sandbox::seccomp::install(&tiny_policy()).unwrap_or_else(|e| fail(&format!("{e}")));
    let mut buf = vec![0u8; 8192];
    let n = nix::sys::uio::pread(&status, &mut buf, 0).unwrap_or_else(|e| fail(&e.to_string()));
    let text = String::from_utf8_lossy(&buf[..n]);
    check(
        status_field(&text, "NoNewPrivs") == "1",
        "NoNewPrivs is not 1",
    );
    check(
        status_field(&text, "Seccomp") == "2",
        "Seccomp is not 2 (filter)",
    );
    for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
        let value = status_field(&text, set);
        check(
            value.chars().all(|c| c == '0'),
            &format!("{set} is {value}, not empty"),
        );
    }
}

fn entered_namespaces_differ_from_the_parent() {
    let parent = std::env::var(PARENT_NS_VAR).unwrap_or_default();
    let report = confine(&confinement(vec![], None)).unwrap_or_else(|e| fail(&format!("{e}")));
    let mine = own_namespaces();
    for ns in &report.entered {
        let key = match ns {
            Namespace::User => "user",
            Namespace::Mount => "mnt",
            Namespace::Net => "net",
            Namespace::Ipc => "ipc",
        };
        let of = |list: &str| {
            list.split(',')
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
                .unwrap_or("")
                .to_owned()
        };
        let (p, c) = (of(&parent), of(&mine));
        check(
            !p.is_empty() && p != c,
            &format!("{ns} namespace reported entered but unchanged: {p} vs {c}"),
        );
    }
    for (ns, _) in &report.missing {
        check(
            !report.entered.contains(ns),
            "a namespace both entered and missing",
        );
    }
}

fn allowed_call_works_forbidden_call_kills_with_sigsys() {
    confine(&confinement(vec![], None)).unwrap_or_else(|e| fail(&format!("{e}")));
    spicebox_sandbox::seccomp::install(&tiny_policy()).unwrap_or_else(|e| fail(&format!("{e}")));
    // SAFETY: getppid has no arguments and no side effects.
    let ppid = unsafe { libc::getppid() };
    check(ppid > 1, "getppid did not answer");
    let _ = writeln!(std::io::stderr(), "{REACHED}");
    // The same call spicebox_sandbox::provoke makes.
    // SAFETY: socket(2) only creates a descriptor (or, here, kills us).
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
    fail(&format!("socket() returned {fd} under the filter"));
}

fn mmap_without_exec_works_mmap_exec_kills_with_sigsys() {
    confine(&confinement(vec![], None)).unwrap_or_else(|e| fail(&format!("{e}")));
    spicebox_sandbox::seccomp::install(&tiny_policy()).unwrap_or_else(|e| fail(&format!("{e}")));
    let map = |prot| {
        // SAFETY: an anonymous private mapping of one page at an address
        // the kernel chooses; nothing refers to it afterwards.
        unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                prot,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        }
    };
    check(
        map(libc::PROT_READ | libc::PROT_WRITE) != libc::MAP_FAILED,
        "mmap(PROT_READ|PROT_WRITE) failed",
    );
    let _ = writeln!(std::io::stderr(), "{REACHED}");
    let p = map(libc::PROT_READ | libc::PROT_EXEC);
    fail(&format!("mmap(PROT_EXEC) returned {p:?} under the filter"));
}

fn filter_reaches_threads_started_before_it() {
    confine(&confinement(vec![], None)).unwrap_or_else(|e| fail(&format!("{e}")));
    let (ready_tx, ready_rx) = std::sync::mpsc::channel::<()>();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<()>();
    let _t = std::thread::spawn(move || {
        let _ = ready_tx.send(());
        let _ = go_rx.recv();
        let _ = writeln!(std::io::stderr(), "{REACHED}");
        // SAFETY: as in the single-thread case.
        let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
        fail(&format!(
            "socket() returned {fd} in a thread under the filter"
        ));
    });
    ready_rx
        .recv()
        .unwrap_or_else(|_| fail("thread did not start"));
    spicebox_sandbox::seccomp::install(&tiny_policy()).unwrap_or_else(|e| fail(&format!("{e}")));
    let _ = go_tx.send(());
    // The thread's forbidden call kills the whole process.
    loop {
        std::thread::park();
    }
}

fn freeing_a_threads_memory_needs_no_open() {
    // glibc trims a thread's own malloc arena with a first-time
    // open("/proc/sys/vm/overcommit_memory"), which no worker may call:
    // after confine, threads share the main arena (trimmed with brk).
    confine(&confinement(vec![], None)).unwrap_or_else(|e| fail(&format!("{e}")));
    let mut policy = tiny_policy();
    policy.rules.extend([
        allow!(
            SYS_mprotect,
            "thread stacks",
            [arg(2).has_none(libc::PROT_EXEC)]
        ),
        allow!(SYS_madvise, "thread stacks"),
        allow!(SYS_clone3, "the thread"),
        allow!(SYS_clone, "the thread"),
        allow!(SYS_rseq, "the thread"),
        allow!(SYS_set_robust_list, "the thread"),
        allow!(SYS_rt_sigprocmask, "the thread"),
        allow!(SYS_rt_sigaction, "glibc's first thread"),
        allow!(SYS_sched_getaffinity, "the thread"),
        allow!(SYS_gettid, "the thread"),
        allow!(SYS_exit, "the thread"),
    ]);
    spicebox_sandbox::seccomp::install(&policy).unwrap_or_else(|e| fail(&format!("{e}")));
    let worker = std::thread::spawn(|| {
        let mut v: Vec<Vec<u8>> = Vec::with_capacity(200);
        for i in 0..200u8 {
            v.push(vec![i.wrapping_add(1); 100 * 1024]);
        }
        v
    });
    let blocks = worker.join().unwrap_or_else(|_| fail("thread failed"));
    drop(blocks);
}

fn allowed_cpus() -> Vec<usize> {
    let set = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0))
        .unwrap_or_else(|e| fail(&e.to_string()));
    (0..nix::sched::CpuSet::count())
        .filter(|&c| set.is_set(c).unwrap_or(false))
        .collect()
}

fn cpu_outside_the_allowed_set_is_refused_by_number() {
    let allowed = allowed_cpus();
    let outside = (0..nix::sched::CpuSet::count())
        .rev()
        .find(|c| !allowed.contains(c))
        .unwrap_or_else(|| fail("every CPU is allowed"));
    match confine(&confinement(vec![], Some(vec![outside]))) {
        Err(SandboxError::CpuNotAllowed { cpu, .. }) if cpu == outside => {
            let err = confine(&confinement(vec![], Some(vec![outside]))).unwrap_err();
            check(
                err.to_string().contains(&outside.to_string()),
                &format!("error does not name CPU {outside}: {err}"),
            );
        }
        other => fail(&format!("expected CpuNotAllowed({outside}), got {other:?}")),
    }
}

fn pinning_to_an_allowed_cpu_takes() {
    let allowed = allowed_cpus();
    let cpu = *allowed.last().unwrap_or_else(|| fail("no CPU allowed"));
    let report =
        confine(&confinement(vec![], Some(vec![cpu]))).unwrap_or_else(|e| fail(&format!("{e}")));
    check(
        report.cpus == Some(vec![cpu]),
        "report does not list the CPU",
    );
    check(allowed_cpus() == vec![cpu], "affinity is not the one CPU");
}

fn refused_user_namespace_falls_back_to_the_others() {
    // A chrooted process may not create a user namespace (EPERM); as root
    // it may still enter the other three. Without root this cannot be set
    // up: the case then has nothing to check.
    // SAFETY: geteuid has no arguments and no side effects.
    if unsafe { libc::geteuid() } != 0 {
        let _ = writeln!(std::io::stderr(), "child: not root, fallback not exercised");
        return;
    }
    let root = std::env::temp_dir();
    nix::unistd::chroot(&root).unwrap_or_else(|e| fail(&format!("chroot: {e}")));
    nix::unistd::chdir("/").unwrap_or_else(|e| fail(&format!("chdir: {e}")));
    let report = confine(&confinement(vec![], None)).unwrap_or_else(|e| fail(&format!("{e}")));
    check(
        report.entered == [Namespace::Mount, Namespace::Net, Namespace::Ipc],
        &format!("entered {:?}", report.entered),
    );
    check(
        report.missing.len() == 1
            && report.missing[0].0 == Namespace::User
            && report.missing[0].1 == nix::errno::Errno::EPERM,
        &format!("missing {:?}", report.missing),
    );
}
