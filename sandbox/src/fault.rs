//! Test-only fault injection: what a worker does when a test asks it to
//! misbehave (only when the worker was started with test hooks).

use spicebox_ipc::Fault;

/// Carries out `fault`. For [`Fault::ForbiddenSyscall`] it opens an IPv4
/// socket, which no worker's seccomp policy allows: a confined worker dies
/// of SIGSYS right here; an unconfined one gets a socket and goes on.
pub fn provoke(fault: Fault) {
    match fault {
        Fault::ForbiddenSyscall => {
            let socket = nix::sys::socket::socket(
                nix::sys::socket::AddressFamily::Inet,
                nix::sys::socket::SockType::Stream,
                nix::sys::socket::SockFlag::SOCK_CLOEXEC,
                None,
            );
            tracing::error!(
                opened = socket.is_ok(),
                "forbidden syscall returned: this worker is not confined by seccomp"
            );
        }
    }
}
