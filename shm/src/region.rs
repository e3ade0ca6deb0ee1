//! Creating the region (supervisor) and opening it (producer, consumer).

use std::os::fd::{AsFd, OwnedFd};

use nix::fcntl::{fcntl, FcntlArg, SealFlag};
use nix::sys::memfd::{memfd_create, MFdFlags};
use nix::sys::stat::fstat;
use nix::unistd::ftruncate;

use crate::error::ShmError;
use crate::header::Header;
use crate::layout::{Geometry, ShmLayout, HEADER_SIZE};
use crate::mapping::{Access, Mapping};

/// Creates a sealed memfd (close-on-exec) sized for `layout`, with its header
/// initialised and no mode set.
pub fn create_region(layout: &ShmLayout) -> Result<OwnedFd, ShmError> {
    let geometry = Geometry::new(layout)?;
    let fd = memfd_create(
        "spicebox-display",
        MFdFlags::MFD_CLOEXEC | MFdFlags::MFD_ALLOW_SEALING,
    )
    .map_err(ShmError::sys("memfd_create"))?;
    // `Geometry::new` checked the size fits an i64.
    let size = i64::try_from(geometry.total_size).map_err(|_| ShmError::InvalidLayout {
        what: "total size",
        value: geometry.total_size as u64,
    })?;
    ftruncate(&fd, size).map_err(ShmError::sys("ftruncate"))?;
    {
        let header = Header::new(Mapping::new(&fd, 0, HEADER_SIZE, Access::ReadWrite)?)?;
        header.initialise(&geometry);
    }
    // Sealed so neither side can shrink the file under the other's mapping
    // (which would turn reads into SIGBUS) or grow it without bound.
    let seals = SealFlag::F_SEAL_SHRINK | SealFlag::F_SEAL_GROW | SealFlag::F_SEAL_SEAL;
    fcntl(&fd, FcntlArg::F_ADD_SEALS(seals)).map_err(ShmError::sys("fcntl(F_ADD_SEALS)"))?;
    Ok(fd)
}

/// An opened region: the header mapped read-write, the rest mapped with the
/// access the opener needs.
#[derive(Debug)]
pub(crate) struct Region {
    pub header: Header,
    pub body: Mapping,
    pub geometry: Geometry,
}

impl Region {
    /// Checks the file (seals, size) and the header, then maps both parts.
    pub(crate) fn open(fd: impl AsFd, body_access: Access) -> Result<Region, ShmError> {
        let fd = fd.as_fd();
        let seals =
            fcntl(fd, FcntlArg::F_GET_SEALS).map_err(ShmError::sys("fcntl(F_GET_SEALS)"))?;
        if !SealFlag::from_bits_truncate(seals).contains(SealFlag::F_SEAL_SHRINK) {
            return Err(ShmError::NotSealed);
        }
        let stat = fstat(fd).map_err(ShmError::sys("fstat"))?;
        let file_size = u64::try_from(stat.st_size).unwrap_or(0);
        if file_size < HEADER_SIZE as u64 {
            return Err(ShmError::FileTooSmall {
                actual: file_size,
                needed: HEADER_SIZE as u64,
            });
        }
        let header = Header::new(Mapping::new(fd, 0, HEADER_SIZE, Access::ReadWrite)?)?;
        let geometry = header.validate(file_size)?;
        let body = Mapping::new(fd, HEADER_SIZE, geometry.body_size(), body_access)?;
        Ok(Region {
            header,
            body,
            geometry,
        })
    }
}
