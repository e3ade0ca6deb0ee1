//! usbredir (spicevmc) channels relayed to the host's chardevs: filled by a later issue.
