//! Process boundaries: how the supervisor starts worker and host processes,
//! and how a child takes the descriptors it was handed.
//!
//! Confinement (seccomp, capabilities, namespaces, rlimits, CPU pinning)
//! arrives here with the sandboxing issue; for now this crate owns the two
//! places where a process boundary needs `unsafe`: the code that runs between
//! `fork` and `exec`, and adopting an inherited descriptor by number.

pub mod inherit;
pub mod spawn;

pub use inherit::{inherited_fd, InheritError};
pub use spawn::{prepare_child, SpawnError, StagedFds};

pub mod fault;
pub use fault::provoke;
