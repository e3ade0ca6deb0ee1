//! The VM's byte-stream ports: `-chardev dbus,id=ID,name=NAME` makes
//! QEMU export `/org/qemu/Display1/Chardev_ID` with the port's `Name`
//! (`org.spice-space.vdagent.0`, `org.spice-space.usbredir.0`,
//! `org.qemu.console.serial.0`, …) and whether the guest has its side
//! open (`FEOpened`).
//!
//! The host lists them for the supervisor and follows `FEOpened`; it
//! does not connect to them (`Chardev.Register`). A registered chardev
//! counts as connected for the guest (QEMU tells the agent a client is
//! there; usb-redir starts its handshake at once), so the channels that
//! carry them register when a client opens them, not before.

use std::pin::Pin;

use futures_util::stream::{SelectAll, Stream, StreamExt};
use spicebox_ipc::{ChardevInfo, MAX_CHARDEVS, MAX_CHARDEV_NAME};
use zbus::fdo::{ManagedObjects, ObjectManagerProxy};
use zbus::Connection;

use super::bus::ChardevProxy;
use super::error::QemuError;

const INTERFACE: &str = "org.qemu.Display1.Chardev";
/// Where QEMU's object manager lives.
const ROOT: &str = "/org/qemu/Display1";

/// A port's `FEOpened` changes, by name.
type Changes = Pin<Box<dyn Stream<Item = (String, bool)> + Send>>;

/// The VM's ports and their `FEOpened` changes.
pub(crate) struct Ports {
    /// What the supervisor is told.
    pub(crate) list: Vec<ChardevInfo>,
    changes: SelectAll<Changes>,
    /// Kept alive for the change streams.
    _proxies: Vec<ChardevProxy<'static>>,
}

impl Ports {
    /// Lists the ports QEMU exports on `conn` and follows them.
    pub(crate) async fn find(conn: &Connection) -> Result<Ports, QemuError> {
        let manager = ObjectManagerProxy::builder(conn)
            .destination("org.qemu")?
            .path(ROOT)?
            .build()
            .await?;
        let found = chardevs(manager.get_managed_objects().await?);
        let mut list = Vec::with_capacity(found.len());
        let mut proxies = Vec::with_capacity(found.len());
        let mut changes = SelectAll::new();
        for (path, info) in found {
            let proxy = ChardevProxy::builder(conn).path(path)?.build().await?;
            let name = info.name.clone();
            let stream = proxy.receive_fe_opened_changed().await.then(move |change| {
                let name = name.clone();
                async move { (name, change.get().await) }
            });
            let stream =
                stream.filter_map(|(name, open)| async move { open.ok().map(|o| (name, o)) });
            changes.push(Box::pin(stream) as Changes);
            proxies.push(proxy);
            list.push(info);
        }
        Ok(Ports {
            list,
            changes,
            _proxies: proxies,
        })
    }

    /// No ports (QEMU could not list them).
    pub(crate) fn none() -> Ports {
        Ports {
            list: Vec::new(),
            changes: SelectAll::new(),
            _proxies: Vec::new(),
        }
    }

    /// The next `FEOpened` change: the port's name and the new value.
    /// Never returns when there are no ports.
    pub(crate) async fn changed(&mut self) -> (String, bool) {
        match self.changes.next().await {
            Some(change) => change,
            None => std::future::pending().await,
        }
    }
}

/// The chardevs among QEMU's objects, by object path, at most
/// [`MAX_CHARDEVS`]; objects whose name is missing, too long or not
/// printable are skipped (and logged).
pub(crate) fn chardevs(objects: ManagedObjects) -> Vec<(String, ChardevInfo)> {
    let mut found: Vec<(String, ChardevInfo)> = objects
        .into_iter()
        .filter_map(|(path, interfaces)| {
            let properties = interfaces
                .into_iter()
                .find(|(name, _)| name.as_str() == INTERFACE)?
                .1;
            let name = properties
                .get("Name")
                .and_then(|v| String::try_from(v.clone()).ok());
            let Some(name) = name.filter(|n| usable(n)) else {
                tracing::warn!(path = %path.as_str(), "skipping a QEMU chardev without a usable name");
                return None;
            };
            let guest_open = properties
                .get("FEOpened")
                .and_then(|v| bool::try_from(v).ok())
                .unwrap_or(false);
            Some((path.to_string(), ChardevInfo { name, guest_open }))
        })
        .collect();
    found.sort_by(|a, b| a.0.cmp(&b.0));
    if found.len() > MAX_CHARDEVS {
        tracing::warn!(
            listed = found.len(),
            "QEMU exports more chardevs than spicebox lists; using the first {MAX_CHARDEVS}"
        );
        found.truncate(MAX_CHARDEVS);
    }
    found
}

fn usable(name: &str) -> bool {
    !name.is_empty() && name.len() <= MAX_CHARDEV_NAME && name.chars().all(|c| c.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use zbus::names::OwnedInterfaceName;
    use zbus::zvariant::{OwnedObjectPath, OwnedValue, Value};

    use super::*;

    fn object(
        interface: &str,
        name: Option<&str>,
        open: bool,
    ) -> HashMap<OwnedInterfaceName, HashMap<String, OwnedValue>> {
        let mut properties = HashMap::new();
        if let Some(name) = name {
            properties.insert(
                "Name".to_string(),
                OwnedValue::try_from(Value::from(name)).expect("value"),
            );
        }
        properties.insert("FEOpened".to_string(), OwnedValue::from(open));
        let interface = OwnedInterfaceName::try_from(interface).expect("interface name");
        HashMap::from([(interface, properties)])
    }

    fn path(p: &str) -> OwnedObjectPath {
        OwnedObjectPath::try_from(p).expect("path")
    }

    #[test]
    fn chardevs_are_found_by_interface_and_named() {
        let objects = HashMap::from([
            (
                path("/org/qemu/Display1/Chardev_usbredir0"),
                object(INTERFACE, Some("org.spice-space.usbredir.0"), true),
            ),
            (
                path("/org/qemu/Display1/Chardev_vdagent0"),
                object(INTERFACE, Some("org.spice-space.vdagent.0"), false),
            ),
            (
                path("/org/qemu/Display1/Console_0"),
                object("org.qemu.Display1.Console", Some("x"), false),
            ),
            (
                path("/org/qemu/Display1/Chardev_bad"),
                object(INTERFACE, Some("two words"), false),
            ),
            (
                path("/org/qemu/Display1/Chardev_none"),
                object(INTERFACE, None, false),
            ),
        ]);
        let found = chardevs(objects);
        let infos: Vec<(&str, bool)> = found
            .iter()
            .map(|(_, i)| (i.name.as_str(), i.guest_open))
            .collect();
        assert_eq!(
            infos,
            [
                ("org.spice-space.usbredir.0", true),
                ("org.spice-space.vdagent.0", false)
            ]
        );
        assert_eq!(found[0].0, "/org/qemu/Display1/Chardev_usbredir0");
    }

    #[test]
    fn the_list_is_bounded() {
        let objects: ManagedObjects = (0..MAX_CHARDEVS + 5)
            .map(|i| {
                (
                    path(&format!("/org/qemu/Display1/Chardev_c{i:03}")),
                    object(INTERFACE, Some(&format!("port.{i}")), false),
                )
            })
            .collect();
        assert_eq!(chardevs(objects).len(), MAX_CHARDEVS);
        assert!(!usable(&"x".repeat(MAX_CHARDEV_NAME + 1)));
        assert!(usable(&"x".repeat(MAX_CHARDEV_NAME)));
    }
}
