# shellcheck shell=bash
# Shared by vm/boot, vm/test and vm/bench-boot: install host tools, build taskmaster, fetch a
# Debian kernel, stage a root filesystem and pack it as an initramfs, run QEMU.
# Sourced, not run: the callers set `set -euo pipefail` themselves.

VM_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(dirname "$VM_DIR")"
# Everything downloaded or generated lives here; .gitignore keeps it out of git.
VM_CACHE="${VM_CACHE:-$VM_DIR/cache}"
# KVM hangs on the machines this was written on, so software emulation is the default;
# VM_ACCEL=kvm is much faster where KVM works.
VM_ACCEL="${VM_ACCEL:-tcg}"
VM_MEM="${VM_MEM:-512}"
CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_DIR/target}"
export CARGO_TARGET_DIR

# Where the VM's taskmasterd looks for its services (passed after `--` on the kernel command
# line: the kernel hands everything after `--` to init as argv).
VM_SERVICES_PATH=/etc/taskmaster/services.d

# Kernel parameters shared by every boot:
#  console=ttyS0        the serial port is the console (QEMU's stdio or a log file)
#  rdinit=              the program the kernel runs from the initramfs as PID 1
#  init=                the same: if rdinit cannot be executed, the kernel then panics
#                       ("Requested init ... failed") instead of trying /bin/sh
#  quiet                keep kernel chatter (not taskmasterd's lines) off the console
#  printk.devkmsg=on    PID 1 writes to /dev/kmsg before syslog exists; the default
#                       rate limit would drop most of a boot's lines
#  panic=-1             if PID 1 dies the kernel panics: reboot at once, which with
#                       -no-reboot ends QEMU instead of hanging until a timeout
VM_KERNEL_PARAMS="console=ttyS0 rdinit=/sbin/taskmasterd init=/sbin/taskmasterd quiet printk.devkmsg=on panic=-1"

vm_log() { printf '\033[1mvm:\033[0m %s\n' "$*" >&2; }
vm_die() { printf '\033[1;31mvm: error:\033[0m %s\n' "$*" >&2; exit 1; }

# Runs a command as root: directly when we are root, else through sudo when there is one.
vm_as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        vm_die "needs root for: $*"
    fi
}

vm_apt_updated=false
vm_apt_update() {
    if ! $vm_apt_updated; then
        vm_log "apt-get update"
        vm_as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        vm_apt_updated=true
    fi
}

# Installs the Debian packages the VM needs when they are missing: a fresh Debian machine
# (or CI) has none of them. Each package is checked by what we use from it.
vm_install_host_tools() {
    local missing=()
    command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
    # busybox-static, not busybox: its binary runs in the initramfs without any library.
    dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'install ok installed' ||
        missing+=(busybox-static)
    command -v cpio >/dev/null || missing+=(cpio)
    [ -x /lib/systemd/systemd-journald ] && command -v journalctl >/dev/null || missing+=(systemd)
    command -v gzip >/dev/null || missing+=(gzip)
    if [ "${#missing[@]}" -gt 0 ]; then
        command -v apt-get >/dev/null || vm_die "missing ${missing[*]} and no apt-get to install them"
        vm_apt_update
        vm_log "installing ${missing[*]}"
        vm_as_root env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

# Builds taskmasterd and tmctl (release) unless VM_NO_BUILD=1, and checks they are there.
vm_build_taskmaster() {
    if [ "${VM_NO_BUILD:-0}" != 1 ]; then
        # rustup's cargo is not on the PATH of a non-login shell (vagrant ssh -c, sudo).
        command -v cargo >/dev/null || [ ! -x "$HOME/.cargo/bin/cargo" ] || PATH="$HOME/.cargo/bin:$PATH"
        command -v cargo >/dev/null ||
            vm_die "cargo not found: install Rust (https://rustup.rs), then run this again"
        vm_log "cargo build --release (target dir $CARGO_TARGET_DIR)"
        (cd "$REPO_DIR" && cargo build --release --bins --quiet)
    fi
    local bin
    for bin in taskmasterd tmctl; do
        [ -x "$CARGO_TARGET_DIR/release/$bin" ] ||
            vm_die "$CARGO_TARGET_DIR/release/$bin missing (build failed, or VM_NO_BUILD=1 without a build)"
    done
}

# Prints the path of a Debian kernel image, downloading it once. The kernel is the package
# that linux-image-amd64 depends on (the current stable kernel), unpacked with dpkg -x:
# nothing is installed on the host. VM_KERNEL=PATH uses another kernel instead.
vm_kernel() {
    if [ -n "${VM_KERNEL:-}" ]; then
        [ -r "$VM_KERNEL" ] || vm_die "VM_KERNEL=$VM_KERNEL is not readable"
        printf '%s\n' "$VM_KERNEL"
        return
    fi
    local current="$VM_CACHE/kernel/current"
    # A kernel already fetched is used as is, so that booting again needs no network.
    if [ "${VM_REFRESH_KERNEL:-0}" != 1 ] && compgen -G "$current/boot/vmlinuz-*" >/dev/null; then
        compgen -G "$current/boot/vmlinuz-*" | head -n1
        return
    fi
    local pkg
    pkg="$(vm_kernel_package)"
    if [ -z "$pkg" ]; then
        # No package lists yet (a fresh machine or container): fetch them and ask again.
        vm_apt_update
        pkg="$(vm_kernel_package)"
    fi
    [ -n "$pkg" ] || vm_die "cannot tell which package linux-image-amd64 depends on (apt-cache depends linux-image-amd64)"
    local dl="$VM_CACHE/kernel/download"
    rm -rf "$dl" "$VM_CACHE/kernel/$pkg"
    mkdir -p "$dl"
    vm_log "downloading kernel package $pkg"
    # As root, apt downloads as the _apt user, which cannot write into our cache; run the
    # download as root instead of leaving a warning on every first boot.
    # Stale package lists name a version the mirror no longer has: refresh them once.
    if ! (cd "$dl" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null); then
        vm_apt_update
        pkg="$(vm_kernel_package)"
        (cd "$dl" && apt-get download -q -o APT::Sandbox::User=root "$pkg" >/dev/null) ||
            vm_die "apt-get download $pkg failed"
    fi
    dpkg -x "$dl"/"$pkg"_*.deb "$VM_CACHE/kernel/$pkg"
    # Only boot/ is used (the image's drivers are built in; no modules go into the
    # initramfs): drop the ~400 MB of modules.
    find "$VM_CACHE/kernel/$pkg" -mindepth 1 -maxdepth 1 ! -name boot -exec rm -rf {} +
    rm -rf "$dl"
    ln -sfn "$pkg" "$current"
    compgen -G "$current/boot/vmlinuz-*" | head -n1 || vm_die "no vmlinuz in $pkg"
}

vm_kernel_package() {
    apt-cache depends linux-image-amd64 2>/dev/null |
        awk '$1 == "Depends:" && $2 ~ /^linux-image-[0-9]/ { print $2; exit }'
}

# Copies a dynamically linked program into the staged root at the same path, with every
# shared library ldd finds (the dynamic loader included), each at the path ldd names.
# Symlinks are followed: the root gets real files.
vm_copy_program() {
    local root="$1" src="$2" dest="${3:-$2}"
    mkdir -p "$root$(dirname "$dest")"
    cp -L --remove-destination "$src" "$root$dest"
    chmod 0755 "$root$dest"
    local lib
    # ldd lines: "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x...)", "/lib64/ld-linux-x86-64.so.2 (0x...)",
    # "linux-vdso.so.1 (0x...)" (in the kernel, nothing to copy).
    while read -r lib; do
        [ -e "$root$lib" ] && continue
        mkdir -p "$root$(dirname "$lib")"
        cp -L "$lib" "$root$lib"
    done < <(ldd "$src" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
}

# Stages the VM's root filesystem in $1 from scratch.
#   $1  staging directory (emptied)
#   $2  host directory whose *.kdl become /etc/taskmaster/services.d
#   $@  extra directories (test, bench): their *.kdl join services.d, their *.sh go to
#       /usr/local/bin without the .sh
vm_stage_root() {
    local root="$1" services="$2"
    shift 2
    [ -d "$services" ] || vm_die "no services directory $services"
    rm -rf "$root"
    mkdir -p "$root"
    local d
    for d in bin sbin usr/bin usr/sbin usr/local/bin lib lib64 etc proc sys dev run tmp \
        var/log root srv/www mnt "${VM_SERVICES_PATH#/}"; do
        mkdir -p "$root/$d"
    done

    # busybox first, then the real programs over it: a busybox applet never hides one of them.
    cp /bin/busybox "$root/bin/busybox"
    local applet
    while read -r applet; do
        [ "$applet" = bin/busybox ] && continue
        ln -sf /bin/busybox "$root/$applet"
    done < <(/bin/busybox --list-full)
    # If taskmasterd cannot be executed, the kernel falls back to /sbin/init, /bin/sh...:
    # busybox's init must not quietly boot the machine in its place (init= below makes
    # that failure a panic; /bin/sh cannot be taken away).
    rm -f "$root/sbin/init" "$root/linuxrc"

    local rel="$CARGO_TARGET_DIR/release"
    vm_copy_program "$root" "$rel/taskmasterd" /sbin/taskmasterd
    vm_copy_program "$root" "$rel/tmctl" /usr/bin/tmctl
    vm_copy_program "$root" /lib/systemd/systemd-journald /lib/systemd/systemd-journald
    vm_copy_program "$root" "$(command -v journalctl)" /usr/bin/journalctl
    # ldd finds libsystemd-shared through the programs' RUNPATH; copy it by name as well in
    # case a newer systemd moves it out of what ldd reports.
    local shared
    for shared in /usr/lib/x86_64-linux-gnu/systemd/libsystemd-shared-*.so; do
        [ -e "$root$shared" ] || { mkdir -p "$root$(dirname "$shared")"; cp -L "$shared" "$root$shared"; }
    done

    # Static files: passwd/group, profile, the web root.
    cp -R "$VM_DIR/rootfs/." "$root/"
    # journald names its directory after the machine id and refuses to run without one;
    # a fresh id per image, as a first boot would make.
    od -An -tx1 -N16 /dev/urandom | tr -d ' \n' >"$root/etc/machine-id"
    echo >>"$root/etc/machine-id"
    ln -sfn /proc/self/mounts "$root/etc/mtab"

    local f
    for f in "$services"/*.kdl; do
        [ -e "$f" ] && cp "$f" "$root$VM_SERVICES_PATH/"
    done
    for d in "$@"; do
        for f in "$d"/*.kdl; do
            [ -e "$f" ] && cp "$f" "$root$VM_SERVICES_PATH/"
        done
        for f in "$d"/*.sh; do
            [ -e "$f" ] && install -m 0755 "$f" "$root/usr/local/bin/$(basename "$f" .sh)"
        done
    done

    # Modes do not come from the checkout (a umask of 002 makes group-writable files, which
    # taskmasterd as root refuses in its config dir): set them here. Owners are set by cpio.
    find "$root/etc" "$root/srv" -type d -exec chmod 0755 {} +
    find "$root/etc" "$root/srv" -type f -exec chmod 0644 {} +
    chmod 0755 "$root$VM_SERVICES_PATH"
    chmod 1777 "$root/tmp"
    chmod 0700 "$root/root"
    # The kernel opens /dev/console for init's stdin/out/err before anything is mounted.
    # Only root can make the node; without it the kernel's built-in initramfs provides one.
    if [ "$(id -u)" -eq 0 ]; then
        mknod -m 0600 "$root/dev/console" c 5 1
    fi
}

# Packs a staged root as a gzip-compressed newc cpio archive, every file owned by root.
vm_pack_initramfs() {
    local root="$1" out="$2"
    (cd "$root" && find . -print0 | LC_ALL=C sort -z |
        cpio --null --create --format=newc --owner=0:0 --quiet) | gzip -n -6 >"$out.tmp"
    mv "$out.tmp" "$out"
}

# Builds everything an image needs; sets VM_KERNEL_IMAGE and VM_INITRD.
#   $1  image name (cache/NAME.cpio.gz), then the arguments of vm_stage_root after its root
vm_build_image() {
    local name="$1"
    shift
    vm_install_host_tools
    vm_build_taskmaster
    VM_KERNEL_IMAGE="$(vm_kernel)"
    mkdir -p "$VM_CACHE"
    local root="$VM_CACHE/root-$name"
    vm_stage_root "$root" "$@"
    # VM_STAGE_HOOK=PROGRAM runs PROGRAM ROOT on the staged root before it is packed: to add
    # files of your own, or to wrap /sbin/taskmasterd while experimenting.
    if [ -n "${VM_STAGE_HOOK:-}" ]; then
        vm_log "stage hook: $VM_STAGE_HOOK $root"
        "$VM_STAGE_HOOK" "$root"
    fi
    VM_INITRD="$VM_CACHE/$name.cpio.gz"
    vm_pack_initramfs "$root" "$VM_INITRD"
    vm_log "initramfs $VM_INITRD ($(du -h "$VM_INITRD" | cut -f1)), kernel $VM_KERNEL_IMAGE"
}

# The QEMU command line, without the console wiring (the callers add -nographic or a log
# file). -no-reboot: a reboot request (or a panic, with panic=-1) ends QEMU instead of
# booting again, so every way out of the VM ends the command.
#   $1  extra kernel parameters (may be empty)
#   $2  arguments for init (after `--`)
vm_qemu_args() {
    local extra="$1" init_args="$2"
    local append="$VM_KERNEL_PARAMS${extra:+ $extra} -- $init_args"
    # shellcheck disable=SC2034 # read by the caller
    VM_QEMU_ARGS=(qemu-system-x86_64 -accel "$VM_ACCEL" -m "$VM_MEM" -no-reboot
        -kernel "$VM_KERNEL_IMAGE" -initrd "$VM_INITRD" -append "$append")
}
