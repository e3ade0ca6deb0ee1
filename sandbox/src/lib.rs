//! Process boundaries: how the supervisor starts worker and host processes,
//! how a child takes the descriptors it was handed, and how a worker
//! confines itself.
//!
//! `unsafe` in this crate is limited to the code that runs between `fork`
//! and `exec`, adopting an inherited descriptor by number, and the raw
//! `prctl`/`close_range` calls of confinement. The confinement steps are
//! listed in order in `sandbox/README.md`.

pub mod confine;
pub mod error;
pub mod inherit;
pub mod seccomp;
pub mod spawn;

pub use confine::{confine, ConfineReport, Confinement, Namespace};
pub use error::SandboxError;
pub use inherit::{inherited_fd, InheritError};
pub use spawn::{own_image, prepare_child, SpawnError, StagedFds};

pub mod fault;
pub use fault::provoke;

/// The C library bindings the policies' syscall and flag constants come
/// from (re-exported so that worker crates need no `libc` dependency).
pub use nix::libc;
