//! Seccomp allow-lists a reviewer can read, compiled with `seccompiler`.
//!
//! Each worker keeps its [`Policy`] beside its code (`workers/*/src/seccomp.rs`):
//! one [`Rule`] per system call, with the reason it is needed and, where it
//! matters, conditions on its arguments (`mmap` without `PROT_EXEC`, only
//! some `fcntl` commands). A call that no rule allows kills the whole process
//! (`SECCOMP_RET_KILL_PROCESS`): the supervisor sees the worker exit with
//! SIGSYS.
//!
//! Rules are written with [`allow!`](crate::allow), which takes the libc
//! constant (`SYS_read`), so a rule's name and number cannot disagree;
//! [`Policy::verify_names`] checks them once more against seccompiler's own
//! syscall table.

use std::collections::{BTreeMap, HashSet};

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::error::SandboxError;

/// The architecture the filter is compiled for: the one this binary runs on.
#[cfg(target_arch = "x86_64")]
const ARCH: Result<TargetArch, &str> = Ok(TargetArch::x86_64);
#[cfg(target_arch = "aarch64")]
const ARCH: Result<TargetArch, &str> = Ok(TargetArch::aarch64);
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const ARCH: Result<TargetArch, &str> = Err(std::env::consts::ARCH);

/// A worker's allow-list.
#[derive(Debug, Clone)]
pub struct Policy {
    /// The worker's role, for errors and logs.
    pub role: &'static str,
    /// What the worker may call; everything else kills it.
    pub rules: Vec<Rule>,
}

/// One allowed system call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// The system call's name (`read`).
    pub name: &'static str,
    /// Its number on this architecture.
    pub nr: i64,
    /// Why the worker needs it, in one line.
    pub why: &'static str,
    /// Empty: any arguments. Otherwise the call is allowed when every
    /// condition of at least one alternative holds.
    pub args: Vec<Vec<Cond>>,
}

/// A test on one 32-bit argument of a system call (every argument worth
/// testing in a worker is an `int`: flags, commands, descriptors).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cond {
    /// The argument's index, 0..=5.
    pub arg: u8,
    /// What must hold of it.
    pub test: Test,
}

/// What a [`Cond`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Test {
    /// The argument equals the value.
    Is(u32),
    /// None of these bits is set.
    HasNone(u32),
}

/// The argument `index` of a system call, to build a [`Cond`].
pub fn arg(index: u8) -> Arg {
    Arg(index)
}

/// See [`arg`].
#[derive(Debug, Clone, Copy)]
pub struct Arg(u8);

impl Arg {
    /// The argument equals `value`.
    pub fn is(self, value: impl Into<ArgValue>) -> Cond {
        Cond {
            arg: self.0,
            test: Test::Is(value.into().0),
        }
    }

    /// None of `bits` is set in the argument.
    pub fn has_none(self, bits: impl Into<ArgValue>) -> Cond {
        Cond {
            arg: self.0,
            test: Test::HasNone(bits.into().0),
        }
    }
}

/// A 32-bit argument value; C constants come as `c_int` or `c_uint`.
#[derive(Debug, Clone, Copy)]
pub struct ArgValue(u32);

impl From<i32> for ArgValue {
    fn from(v: i32) -> Self {
        ArgValue(v as u32)
    }
}

impl From<u32> for ArgValue {
    fn from(v: u32) -> Self {
        ArgValue(v)
    }
}

/// Builds a [`Rule`] from a libc syscall constant, a reason, and optionally
/// alternatives of argument conditions:
///
/// ```
/// use spicebox_sandbox::allow;
/// use spicebox_sandbox::libc::{F_GETFD, PROT_EXEC};
/// use spicebox_sandbox::seccomp::arg;
///
/// let read = allow!(SYS_read, "IPC frames from the supervisor");
/// let mmap = allow!(SYS_mmap, "malloc; never executable", [arg(2).has_none(PROT_EXEC)]);
/// let fcntl = allow!(SYS_fcntl, "flag queries", [arg(1).is(F_GETFD)]);
/// assert_eq!(read.name, "read");
/// assert_eq!(mmap.args.len(), 1);
/// assert_eq!(fcntl.nr, spicebox_sandbox::libc::SYS_fcntl);
/// ```
#[macro_export]
macro_rules! allow {
    ($sys:ident, $why:expr $(, [$($cond:expr),+ $(,)?])* $(,)?) => {
        $crate::seccomp::Rule {
            name: $crate::seccomp::syscall_name(stringify!($sys)),
            nr: $crate::libc::$sys as i64,
            why: $why,
            args: vec![$(vec![$($cond),+]),*],
        }
    };
}

/// `SYS_read` → `read` (used by [`allow!`](crate::allow)).
#[doc(hidden)]
pub fn syscall_name(constant: &'static str) -> &'static str {
    constant.strip_prefix("SYS_").unwrap_or(constant)
}

/// System calls that would let a worker reach beyond what it was handed
/// (new sockets, files, processes, namespaces, devices, signals to others).
/// No worker policy may allow any of them.
pub const NEVER_ALLOWED: &[&str] = &[
    "socket",
    "socketpair",
    "connect",
    "bind",
    "accept",
    "accept4",
    "execve",
    "execveat",
    "fork",
    "vfork",
    "clone",
    "clone3",
    "open",
    "openat",
    "openat2",
    "ptrace",
    "kill",
    "unshare",
    "setns",
    "mount",
    "memfd_create",
    "ioctl",
];

impl Policy {
    /// The checks every worker policy must pass: no duplicates, it compiles,
    /// each name resolves to its number, each rule says why, and nothing in
    /// [`NEVER_ALLOWED`] or `also_forbidden` is allowed.
    pub fn audit(&self, also_forbidden: &[&str]) -> Result<(), String> {
        self.check().map_err(|e| e.to_string())?;
        if self.compile().map_err(|e| e.to_string())?.is_empty() {
            return Err(format!("{} policy compiled to nothing", self.role));
        }
        self.verify_names().map_err(|e| e.to_string())?;
        if let Some(rule) = self.rules.iter().find(|r| r.why.trim().is_empty()) {
            return Err(format!("{} has no reason", rule.name));
        }
        match NEVER_ALLOWED
            .iter()
            .chain(also_forbidden)
            .find(|name| self.allows(name))
        {
            Some(name) => Err(format!("{} policy allows {name}", self.role)),
            None => Ok(()),
        }
    }

    /// How many system calls the policy allows.
    pub fn allowed_count(&self) -> usize {
        self.rules.len()
    }

    /// Whether the policy has a rule for `name`.
    pub fn allows(&self, name: &str) -> bool {
        self.rules.iter().any(|r| r.name == name)
    }

    /// Rejects a policy that names a system call twice (one rule per call,
    /// alternatives inside it).
    pub fn check(&self) -> Result<(), SandboxError> {
        let mut seen = HashSet::new();
        for rule in &self.rules {
            if !seen.insert(rule.nr)
                || self.rules.iter().filter(|r| r.name == rule.name).count() > 1
            {
                return Err(SandboxError::DuplicateRule {
                    role: self.role,
                    name: rule.name,
                });
            }
        }
        Ok(())
    }

    /// The BPF program for this architecture: allow what the rules allow,
    /// kill the process on anything else.
    pub fn compile(&self) -> Result<BpfProgram, SandboxError> {
        self.compile_with(OnViolation::Kill)
    }

    fn compile_with(&self, on_violation: OnViolation) -> Result<BpfProgram, SandboxError> {
        self.check()?;
        let arch = ARCH.map_err(SandboxError::UnsupportedArch)?;
        let compile_err = |e: seccompiler::BackendError| SandboxError::Compile {
            role: self.role,
            reason: e.to_string(),
        };
        let mut map: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
        for rule in &self.rules {
            let mut chain = Vec::with_capacity(rule.args.len());
            for alternative in &rule.args {
                let conds = alternative
                    .iter()
                    .map(|c| c.to_seccompiler())
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(compile_err)?;
                chain.push(SeccompRule::new(conds).map_err(compile_err)?);
            }
            map.insert(rule.nr, chain);
        }
        let mismatch = match on_violation {
            OnViolation::Kill => SeccompAction::KillProcess,
            OnViolation::Log => SeccompAction::Log,
        };
        let filter =
            SeccompFilter::new(map, mismatch, SeccompAction::Allow, arch).map_err(compile_err)?;
        filter.try_into().map_err(compile_err)
    }

    /// Compiles the policy a second time from the rules' *names*, through
    /// seccompiler's JSON front end and its own syscall table, and checks
    /// that both programs are identical: every name resolves on this
    /// architecture to the number the rule carries.
    pub fn verify_names(&self) -> Result<(), SandboxError> {
        let arch = ARCH.map_err(SandboxError::UnsupportedArch)?;
        let ours = self.compile()?;
        let mut filter = Vec::new();
        for rule in &self.rules {
            if rule.args.is_empty() {
                filter.push(serde_json::json!({ "syscall": rule.name }));
            }
            for alternative in &rule.args {
                let args: Vec<serde_json::Value> = alternative
                    .iter()
                    .map(|c| {
                        let (op, val) = match c.test {
                            Test::Is(v) => (serde_json::json!("eq"), v),
                            Test::HasNone(bits) => (serde_json::json!({ "masked_eq": bits }), 0),
                        };
                        serde_json::json!({ "index": c.arg, "type": "dword", "op": op, "val": val })
                    })
                    .collect();
                filter.push(serde_json::json!({ "syscall": rule.name, "args": args }));
            }
        }
        let doc = serde_json::json!({
            self.role: {
                "default_action": "kill_process",
                "filter_action": "allow",
                "filter": filter,
            }
        });
        let text = doc.to_string();
        let mut map = seccompiler::compile_from_json(text.as_bytes(), arch).map_err(|e| {
            SandboxError::Compile {
                role: self.role,
                reason: format!("by name: {e}"),
            }
        })?;
        let theirs = map.remove(self.role).unwrap_or_default();
        if ours != theirs {
            return Err(SandboxError::Compile {
                role: self.role,
                reason: "compiled by name, the filter differs from the one compiled by number"
                    .into(),
            });
        }
        Ok(())
    }
}

impl Cond {
    fn to_seccompiler(self) -> Result<SeccompCondition, seccompiler::BackendError> {
        let (op, value) = match self.test {
            Test::Is(v) => (SeccompCmpOp::Eq, v),
            Test::HasNone(bits) => (SeccompCmpOp::MaskedEq(u64::from(bits)), 0),
        };
        SeccompCondition::new(self.arg, SeccompCmpArgLen::Dword, op, u64::from(value))
    }
}

/// What the filter does with a call outside the policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnViolation {
    /// Kill the whole process (`SECCOMP_RET_KILL_PROCESS`): the default.
    Kill,
    /// Allow the call and have the kernel log it (`SECCOMP_RET_LOG`, seen
    /// in the audit log or `dmesg`): only to discover what a role needs.
    Log,
}

/// Compiles `policy` and installs it on every thread of the process
/// (`SECCOMP_FILTER_FLAG_TSYNC`). From then on a call outside the policy
/// kills the process.
pub fn install(policy: &Policy) -> Result<(), SandboxError> {
    install_with(policy, OnViolation::Kill)
}

/// [`install`], choosing what a violation does.
pub fn install_with(policy: &Policy, on_violation: OnViolation) -> Result<(), SandboxError> {
    let program = policy.compile_with(on_violation)?;
    seccompiler::apply_filter_all_threads(&program).map_err(|e| SandboxError::Install {
        role: policy.role,
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use nix::libc;

    fn tiny() -> Policy {
        Policy {
            role: "tiny",
            rules: vec![
                crate::allow!(SYS_read, "reads"),
                crate::allow!(SYS_mmap, "no exec", [arg(2).has_none(libc::PROT_EXEC)]),
                crate::allow!(
                    SYS_fcntl,
                    "two commands",
                    [arg(1).is(libc::F_GETFD)],
                    [arg(1).is(libc::F_GETFL)]
                ),
            ],
        }
    }

    #[test]
    fn rules_carry_name_and_number() {
        let p = tiny();
        assert_eq!(p.rules[0].name, "read");
        assert_eq!(p.rules[0].nr, libc::SYS_read);
        assert_eq!(p.rules[2].args.len(), 2);
        assert_eq!(p.allowed_count(), 3);
        assert!(p.allows("mmap"));
        assert!(!p.allows("socket"));
    }

    #[test]
    fn compiles_and_matches_the_compilation_by_name() {
        let p = tiny();
        assert!(!p.compile().unwrap().is_empty());
        p.verify_names().unwrap();
    }

    #[test]
    fn a_mismatched_name_is_caught() {
        let mut p = tiny();
        p.rules[0].name = "write";
        assert!(p.verify_names().is_err());
    }

    #[test]
    fn duplicates_are_refused() {
        let mut p = tiny();
        p.rules.push(crate::allow!(SYS_read, "again"));
        let err = p.compile().unwrap_err();
        assert!(
            matches!(err, SandboxError::DuplicateRule { name: "read", .. }),
            "{err}"
        );
    }
}
