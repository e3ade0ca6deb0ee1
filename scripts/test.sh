#!/usr/bin/env bash
# The one test command for spicebox.
#
#   scripts/test.sh                 # install test tools if missing, build, test
#   scripts/test.sh -- --nocapture  # extra arguments go to `cargo test`
#
# The end-to-end tests drive the real SPICE client `spicy-screenshot`
# (Debian package spice-client-gtk); `spicy`/`remote-viewer` runs need Xvfb.
# When a tool is missing this script installs the packages with apt-get
# (as root, or through sudo).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

# command that must exist -> Debian package that provides it
declare -A tools=(
    [spicy-screenshot]=spice-client-gtk
    [Xvfb]=xvfb
    [xwd]=x11-apps
    # The X11 resize test changes the Xvfb screen size with RandR.
    [xrandr]=x11-xserver-utils
    [systemd-socket-activate]=systemd
    # The QEMU test: the VM, its private bus. Its guest is built from
    # Debian packages by tests/guest/build.sh with apt-get download.
    [qemu-system-x86_64]=qemu-system-x86
    [dbus-daemon]=dbus
)

missing_pkgs=()
for cmd in "${!tools[@]}"; do
    if ! command -v "$cmd" >/dev/null 2>&1; then
        missing_pkgs+=("${tools[$cmd]}")
    fi
done

if ((${#missing_pkgs[@]} > 0)); then
    echo "test.sh: installing ${missing_pkgs[*]} (missing test tools)" >&2
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: no apt-get here; install these packages yourself: ${missing_pkgs[*]}" >&2
        exit 1
    fi
    sudo_cmd=()
    if [[ $(id -u) -ne 0 ]]; then
        if command -v sudo >/dev/null 2>&1; then
            sudo_cmd=(sudo)
        else
            echo "test.sh: not root and no sudo; install as root: apt-get install ${missing_pkgs[*]}" >&2
            exit 1
        fi
    fi
    ${sudo_cmd[@]+"${sudo_cmd[@]}"} apt-get update
    ${sudo_cmd[@]+"${sudo_cmd[@]}"} env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends "${missing_pkgs[@]}"
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "test.sh: cargo not found; install Rust (https://rustup.rs) first" >&2
    exit 1
fi

# tests/guest/build.sh downloads the guest's kernel with apt-get; a
# machine that never read the package lists knows no package yet.
if command -v apt-cache >/dev/null 2>&1 &&
    ! apt-cache show linux-image-amd64 >/dev/null 2>&1; then
    echo "test.sh: reading the package lists for the test guest" >&2
    if [[ $(id -u) -eq 0 ]]; then
        apt-get update
    elif command -v sudo >/dev/null 2>&1; then
        sudo apt-get update
    fi
fi

cargo build --workspace --all-targets

target_dir="${CARGO_TARGET_DIR:-target}"
case "$target_dir" in
    /*) ;;
    *) target_dir="$PWD/$target_dir" ;;
esac
export SPICEBOX_BIN="$target_dir/debug/spicebox"
if [[ ! -x "$SPICEBOX_BIN" ]]; then
    echo "test.sh: the build did not produce $SPICEBOX_BIN" >&2
    exit 1
fi

cargo test --workspace "$@"
