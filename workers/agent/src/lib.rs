//! VD agent relay (clipboard, monitors, file transfer) and port/webdav channels: filled by a later issue.
