# shellcheck shell=bash
# Shared by vm/debian, vm/test-debian, vm/bench-debian and vm/box: a Debian 12 root
# filesystem (debootstrap, cached), taskmaster's two packages installed in it, packed as an
# ext4 image; and QEMU booting it with its own kernel and initrd.
# Sourced, not run: the callers set `set -euo pipefail` themselves.

# shellcheck source=vm/lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DEBIAN_SUITE=bookworm
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# What the guest has besides debootstrap's minbase: a kernel (its initrd from
# initramfs-tools), journald and udevd (systemd, udev; not systemd-sysv: /sbin/init is
# taskmaster's), ifupdown with dhclient, sshd, cron, sudo for Vagrant, and tools.
DEBIAN_PACKAGES=(linux-image-amd64 initramfs-tools systemd udev kmod ifupdown isc-dhcp-client
    iproute2 openssh-server cron sudo procps e2fsprogs less)
DEBIAN_CACHE="$VM_CACHE/debian"
# The debootstrap tree, keyed by suite, mirror and package list: a change makes a new one.
DEBIAN_KEY=$(printf '%s\n' "$DEBIAN_SUITE" "$DEBIAN_MIRROR" "${DEBIAN_PACKAGES[@]}" | sha256sum | cut -c1-12)
DEBIAN_BASE="$DEBIAN_CACHE/base-$DEBIAN_KEY"
DEBIAN_IMAGE="$DEBIAN_CACHE/debian.img"
DEBIAN_KERNEL="$DEBIAN_CACHE/vmlinuz"
DEBIAN_INITRD="$DEBIAN_CACHE/initrd.img"
DEBIAN_SSH_KEY="$DEBIAN_CACHE/id_ed25519"
DEBIAN_MEM="${DEBIAN_MEM:-1024}"
# The image's size in MiB: the tree's size and a half again (room for the guest's logs, apt
# and the test's writes), at least 2 GiB; DEBIAN_IMAGE_SIZE (mke2fs's notation, e.g. 4G)
# sets it instead.
DEBIAN_IMAGE_MIN_MIB=2048
# Kernel command line: the root read-only until root-rw has checked it, the serial port as
# console, classic interface names (eth0, as /etc/network/interfaces says).
DEBIAN_CMDLINE="root=/dev/vda ro console=ttyS0 net.ifnames=0 printk.devkmsg=on panic=-1"

# debootstrap into $DEBIAN_BASE once (8-12 minutes); later calls reuse it.
debian_base() {
    if [ -e "$DEBIAN_BASE/.complete" ]; then
        return
    fi
    command -v debootstrap >/dev/null || vm_die "debootstrap is missing (apt-get install debootstrap, or .ci/install-deps)"
    vm_log "debootstrap $DEBIAN_SUITE into $DEBIAN_BASE (once; several minutes)"
    rm -rf "$DEBIAN_BASE"
    mkdir -p "$DEBIAN_BASE"
    local include
    include=$(IFS=,; echo "${DEBIAN_PACKAGES[*]}")
    # minbase: required packages and apt only; the list above adds the rest (with Depends).
    if ! nice -n 19 debootstrap --variant=minbase --include="$include" \
            "$DEBIAN_SUITE" "$DEBIAN_BASE/root" "$DEBIAN_MIRROR" > "$DEBIAN_CACHE/debootstrap.log" 2>&1; then
        tail -20 "$DEBIAN_CACHE/debootstrap.log" >&2
        vm_die "debootstrap failed (whole log: $DEBIAN_CACHE/debootstrap.log)"
    fi
    rm -rf "$DEBIAN_BASE/root/var/cache/apt/archives/"*.deb
    touch "$DEBIAN_BASE/.complete"
    # Older trees of other package lists are of no use any more.
    find "$DEBIAN_CACHE" -maxdepth 1 -name 'base-*' ! -path "$DEBIAN_BASE" -exec rm -rf {} +
}

# The base tree, the packages installed, the guest's configuration, packed as
# $DEBIAN_IMAGE (ext4, no partition table) with its kernel and initrd beside it.
debian_image() {
    debian_base
    local stage debs
    if [ "${VM_NO_BUILD:-0}" = 1 ] && compgen -G "$CARGO_TARGET_DIR/debian/taskmaster*.deb" >/dev/null; then
        # VM_NO_BUILD=1: the packages already in target/debian, as they are.
        debs=("$CARGO_TARGET_DIR"/debian/taskmaster_*.deb "$CARGO_TARGET_DIR"/debian/taskmaster-init_*.deb)
    else
        mapfile -t debs < <("$REPO_DIR/pkg/build-debs")
    fi
    [ "${#debs[@]}" -eq 2 ] || vm_die "pkg/build-debs did not give two packages"
    debian_stage_open
    stage=$DEBIAN_STAGE
    vm_log "installing taskmaster's packages into a copy of the tree"
    cp "${debs[@]}" "$stage/tmp/"
    chroot "$stage" sh -c 'dpkg -i /tmp/taskmaster_*.deb /tmp/taskmaster-init_*.deb' >/dev/null
    rm -f "$stage"/tmp/*.deb

    echo taskmaster-debian > "$stage/etc/hostname"
    printf '127.0.0.1\tlocalhost\n127.0.1.1\ttaskmaster-debian\n' > "$stage/etc/hosts"
    printf '/dev/vda\t/\text4\terrors=remount-ro\t0\t1\n' > "$stage/etc/fstab"
    cat > "$stage/etc/network/interfaces" <<'IFACES'
auto lo
iface lo inet loopback

auto eth0
iface eth0 inet dhcp
IFACES
    # Root logs in over ssh with the test key only; on the console without a password
    # (a development image: its ssh is reachable only where you forward it).
    [ -f "$DEBIAN_SSH_KEY" ] || ssh-keygen -q -t ed25519 -N '' -C taskmaster-vm -f "$DEBIAN_SSH_KEY"
    install -d -m 0700 "$stage/root/.ssh"
    install -m 0600 "$DEBIAN_SSH_KEY.pub" "$stage/root/.ssh/authorized_keys"
    chroot "$stage" passwd -q -d root
    # The minimal shell init that vm/bench-debian compares taskmaster with.
    install -m 0755 "$VM_DIR/debian-shell-init" "$stage/usr/local/sbin/shell-init"
    # A caller's own additions (vm/box: the vagrant user).
    if declare -F debian_stage_hook >/dev/null; then
        debian_stage_hook "$stage"
    fi

    cp "$(ls "$stage"/boot/vmlinuz-* | sort -V | tail -1)" "$DEBIAN_KERNEL"
    cp "$(ls "$stage"/boot/initrd.img-* | sort -V | tail -1)" "$DEBIAN_INITRD"
    debian_pack "$stage" "$DEBIAN_IMAGE"
    debian_stage_close
    trap - EXIT
}

# The staged tree: the cached base seen through an overlay (the changes land in a small
# upper folder, not in a second copy of about 0.7 GiB), or a copy where overlayfs is missing.
# Sets DEBIAN_STAGE; debian_stage_close undoes it (also at exit, if the caller dies: an EXIT
# trap, which debian_image clears when done; its callers set none of their own before it).
debian_stage_open() {
    local dir="$DEBIAN_CACHE/stage"
    debian_stage_close
    mkdir -p "$dir/upper" "$dir/work" "$dir/root"
    if mount -t overlay overlay \
            -o "lowerdir=$DEBIAN_BASE/root,upperdir=$dir/upper,workdir=$dir/work" "$dir/root" 2>/dev/null; then
        trap debian_stage_close EXIT
    else
        rmdir "$dir/root"
        cp -a "$DEBIAN_BASE/root" "$dir/root"
    fi
    DEBIAN_STAGE=$dir/root
}
debian_stage_close() {
    local dir="$DEBIAN_CACHE/stage"
    ! mountpoint -q "$dir/root" 2>/dev/null || umount "$dir/root"
    rm -rf "$dir"
}

# debian_pack TREE IMAGE: TREE as an ext4 image (no partition table). Checks first that the
# disk holding IMAGE has room for it: a disk that fills while mke2fs writes gives a
# confusing error about a file of the tree.
debian_pack() {
    local tree=$1 image=$2 tree_mib size need_mib avail_mib
    tree_mib=$(du -sxm "$tree" | cut -f1)
    size=${DEBIAN_IMAGE_SIZE:-$(( tree_mib * 3 / 2 > DEBIAN_IMAGE_MIN_MIB ? tree_mib * 3 / 2 : DEBIAN_IMAGE_MIN_MIB ))M}
    # The image is sparse: what it takes on the disk is about the tree plus ext4's metadata.
    need_mib=$(( tree_mib + tree_mib / 8 + 64 ))
    rm -f "$image.tmp"
    avail_mib=$(df -Pm "$(dirname "$image")" | awk 'NR == 2 { print $4 }')
    [ "$avail_mib" -ge "$need_mib" ] ||
        vm_die "packing $image needs about $need_mib MiB on $(dirname "$image"), which has $avail_mib MiB free (vm/cache holds $(du -sm "$VM_CACHE" | cut -f1) MiB; its images are rebuilt when missing)"
    vm_log "packing $image ($size, ext4; the tree is $tree_mib MiB)"
    mkfs.ext4 -q -F -L root -d "$tree" "$image.tmp" "$size"
    mv "$image.tmp" "$image"
}

# debian_qemu IMAGE SSH_PORT CONSOLE_LOG [KERNEL_PARAMS...]: boots IMAGE in the background
# (sets DEBIAN_QEMU_PID), ssh forwarded from 127.0.0.1:SSH_PORT, the serial console to
# CONSOLE_LOG. With DEBIAN_SERIAL_SOCKET set, the console is also a unix socket there that
# one client may type into (vm/serial-chat); the log still gets everything. Run it inside a
# network namespace of your own: QEMU's user network then reaches nothing but that namespace.
debian_qemu() {
    local image=$1 port=$2 log=$3 serial
    shift 3
    serial=(-serial "file:$log")
    if [ -n "${DEBIAN_SERIAL_SOCKET:-}" ]; then
        serial=(-chardev "socket,id=console,path=$DEBIAN_SERIAL_SOCKET,server=on,wait=off,logfile=$log"
            -serial chardev:console)
    fi
    nice -n 19 qemu-system-x86_64 -accel "$VM_ACCEL" -m "$DEBIAN_MEM" -smp 1 \
        -no-reboot -display none -monitor none "${serial[@]}" \
        -kernel "$DEBIAN_KERNEL" -initrd "$DEBIAN_INITRD" \
        -append "$DEBIAN_CMDLINE $*" \
        -drive "file=$image,format=raw,if=virtio,cache=unsafe" \
        -nic "user,model=virtio-net-pci,hostfwd=tcp:127.0.0.1:$port-:22" &
    DEBIAN_QEMU_PID=$!
}

# ssh into the guest as root with the image's key: debian_ssh PORT COMMAND...
# (DEBIAN_SSH_TIMEOUT seconds at most, 300 by default: a connection QEMU accepted while the
# guest was not listening yet must not hang the caller. No keep-alive limit: under TCG on a
# busy machine the guest may not answer for tens of seconds.)
debian_ssh() {
    local port=$1
    shift
    timeout "${DEBIAN_SSH_TIMEOUT:-300}" ssh -q -i "$DEBIAN_SSH_KEY" -p "$port" -o BatchMode=yes -o ConnectTimeout=10 \
        -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR \
        root@127.0.0.1 "$@"
}

# Re-runs the calling script inside new network (and mount, pid) namespaces with only `lo`
# up: every guest address then lives in a namespace the script made, and it ends with it.
debian_enter_netns() {
    if [ "${DEBIAN_IN_NETNS:-0}" != 1 ]; then
        DEBIAN_IN_NETNS=1 exec unshare --net --mount --pid --fork --mount-proc --propagation private "$0" "$@"
    fi
    ip link set lo up
}

# Ends the QEMU of debian_qemu if it still runs (for an EXIT trap: never fails).
debian_qemu_stop() {
    if [ -n "${DEBIAN_QEMU_PID:-}" ] && kill -0 "$DEBIAN_QEMU_PID" 2>/dev/null; then
        kill "$DEBIAN_QEMU_PID" 2>/dev/null || true
        wait "$DEBIAN_QEMU_PID" 2>/dev/null || true
    fi
}
