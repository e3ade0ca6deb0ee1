#!/usr/bin/env bash
# Builds the tiny Linux guest the QEMU end-to-end test boots:
#
#   tests/guest/build.sh OUTDIR      # writes OUTDIR/vmlinuz and OUTDIR/initrd.gz
#
# Everything comes from Debian's own packages, fetched with `apt-get
# download` and unpacked with `dpkg-deb -x` (nothing is installed):
#   - the kernel of `linux-image-amd64` (GUEST_KERNEL_PACKAGE overrides it);
#   - busybox-static, which is the guest's whole userland and also packs
#     the initramfs (its cpio and gzip applets), so the host needs no cpio.
#
# The guest loads the bochs DRM driver (and what it depends on) so that
# `-vga std` shows a framebuffer console, prints a boot marker to the
# serial port, and runs a shell on tty1 (the screen spicebox shows):
# what is typed there can write to /dev/ttyS0, which the test reads.
set -euo pipefail

if [[ $# -ne 1 ]]; then
    echo "usage: $0 OUTDIR" >&2
    exit 2
fi
mkdir -p "$1"
out=$(cd "$1" && pwd)

# The modules the guest loads, besides their dependencies: bochs-drm for
# the framebuffer console on QEMU's std VGA. Keyboard (atkbd, i8042),
# serial (8250) and fbcon are built into Debian's kernel.
modules=(bochs)

kpkg=${GUEST_KERNEL_PACKAGE:-}
if [[ -z $kpkg ]]; then
    kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-/ { print $2; exit }')
fi
if [[ -z $kpkg ]]; then
    echo "build.sh: apt knows no linux-image-amd64; run 'apt-get update' first" >&2
    exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# apt's download sandbox user must be able to write here.
chmod 755 "$work"
cd "$work"
echo "build.sh: downloading $kpkg and busybox-static" >&2
apt-get download "$kpkg" busybox-static >&2
dpkg-deb -x busybox-static_*.deb bb
dpkg-deb -x "$kpkg"_*.deb kernel
bb="$work/bb/bin/busybox"
kver=${kpkg#linux-image-}
moddir="kernel/lib/modules/$kver"
[[ -d $moddir ]] || { echo "build.sh: $kpkg has no $moddir" >&2; exit 1; }

root="$work/root"
mkdir -p "$root"/{bin,dev,proc,sys,tmp,etc,lib/modules}
cp "$bb" "$root/bin/busybox"
for applet in $("$bb" --list); do
    [[ $applet == busybox ]] || ln -s busybox "$root/bin/$applet"
done

# Dependencies first: each module's `depends=` (from its .modinfo
# section) is resolved before the module itself, without depmod.
declare -A done_mods=()
load_order=()
add_module() {
    local name=$1 file deps dep
    [[ -n ${done_mods[$name]:-} ]] && return 0
    done_mods[$name]=1
    file=$(find "$moddir" \( -name "$name.ko" -o -name "${name//_/-}.ko" \) -print -quit)
    if [[ -z $file ]]; then
        echo "build.sh: module $name not found in $kpkg" >&2
        exit 1
    fi
    deps=$(tr '\0' '\n' <"$file" | sed -n 's/^depends=//p' | head -n 1)
    for dep in ${deps//,/ }; do
        add_module "$dep"
    done
    cp "$file" "$root/lib/modules/"
    load_order+=("$(basename "$file")")
}
for m in "${modules[@]}"; do
    add_module "$m"
done
printf '%s\n' "${load_order[@]}" >"$root/etc/modules"

cat >"$root/init" <<'EOF'
#!/bin/sh
export PATH=/bin HOME=/
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
while read -r m; do insmod "/lib/modules/$m"; done </etc/modules
fb=$(cat /sys/class/graphics/fb0/name 2>/dev/null)
up=$(cut -d' ' -f1 /proc/uptime)
# Computed, so that no echoed command line can fake it.
echo "GUEST-BOOTED-$((20+22)) uptime=${up}s fb0=[$fb]" >/dev/ttyS0
# The shell on the screen says when it reads: keys typed before that
# may be lost while it sets the terminal up.
echo 'PS1="guest# "; echo "GUEST-SHELL-$((40+2))" >/dev/ttyS0' >/etc/profile
# A shell on the screen, started again whenever it exits.
while :; do
    setsid sh -c 'ENV=/etc/profile exec sh -i </dev/tty1 >/dev/tty1 2>&1'
done
EOF
chmod 755 "$root/init"

(cd "$root" && find . | "$bb" cpio -o -H newc 2>/dev/null | "$bb" gzip -9) >"$work/initrd.gz"
cp "kernel/boot/vmlinuz-$kver" "$out/vmlinuz.new"
mv "$out/vmlinuz.new" "$out/vmlinuz"
mv "$work/initrd.gz" "$out/initrd.gz"
echo "$kpkg" >"$out/kernel-package"
echo "build.sh: guest in $out ($kpkg, modules: ${load_order[*]})" >&2
