//! Smartcard channel relayed to the host's passthrough device: filled by a later issue.
