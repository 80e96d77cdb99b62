"""Helpers of link/profile-hot-text: uprobes on every function of a binary, and the order file.

hot_text.py add BIN          a counting uprobe on every function of BIN
hot_text.py remove           removes them
hot_text.py snapshot FILE     the call counts so far, into FILE
hot_text.py write BIN ORDER [FROM TO]
                             ORDER: the functions called at least once, their symbol names one
                             a line (build.rs makes the linker script from it); with two
                             snapshots, those called between them first (the steady state)
hot_text.py check BIN ORDER  how many entries of ORDER name functions BIN has
"""
import fnmatch
import os
import re
import subprocess
import sys

TRACEFS = "/sys/kernel/tracing"
GROUP = "tmhot"
# Rust's legacy mangling ends a name with a hash of the crate and the instance: "17h<16 hex>E".
HASH = re.compile(r"17h[0-9a-f]{16}E$")


def functions(path):
    """(address, size, name) of every function in the binary's symbol table."""
    out = subprocess.run(["nm", "--defined-only", "-S", path], capture_output=True, text=True,
                         check=True).stdout
    res = []
    for line in out.splitlines():
        parts = line.split(None, 3)
        if len(parts) == 4 and parts[2] in "tTwW":
            res.append((int(parts[0], 16), int(parts[1], 16), parts[3]))
    return res


def text_offset(path):
    """What to subtract from an address to get its offset in the file (the text segment's)."""
    out = subprocess.run(["readelf", "-lW", path], capture_output=True, text=True, check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[0] == "LOAD" and "E" in parts[6:-1]:
            return int(parts[2], 16) - int(parts[1], 16)
    sys.exit("no executable segment in %s" % path)


def add(path):
    path = os.path.realpath(path)
    delta = text_offset(path)
    fd = os.open(TRACEFS + "/uprobe_events", os.O_WRONLY | os.O_APPEND)
    added = 0
    for i, (addr, _, _) in enumerate(functions(path)):
        try:
            os.write(fd, ("p:%s/f%d %s:0x%x\n" % (GROUP, i, path, addr - delta)).encode())
            added += 1
        except OSError:
            pass  # an address the kernel cannot probe: that function is left out of the list
    os.close(fd)
    with open("%s/events/%s/enable" % (TRACEFS, GROUP), "w") as f:
        f.write("1")
    print("hot-text: counting calls of %d functions" % added, file=sys.stderr)


def remove():
    try:
        with open("%s/events/%s/enable" % (TRACEFS, GROUP), "w") as f:
            f.write("0")
    except OSError:
        pass
    with open(TRACEFS + "/uprobe_events") as f:
        names = [l.split()[0].split("/", 1)[1] for l in f if l.startswith("p:%s/" % GROUP)]
    fd = os.open(TRACEFS + "/uprobe_events", os.O_WRONLY | os.O_APPEND)
    for name in names:
        os.write(fd, ("-:%s/%s\n" % (GROUP, name)).encode())
    os.close(fd)


def counts(source):
    """Calls per probe number, from uprobe_profile or a snapshot of it."""
    hits = {}
    with open(source) as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 3 and parts[1].startswith("f") and parts[1][1:].isdigit():
                hits[int(parts[1][1:])] = int(parts[2])
    return hits


def snapshot(out):
    with open(TRACEFS + "/uprobe_profile") as f, open(out, "w") as o:
        o.write(f.read())


def write(path, order, steady_from=None, steady_to=None):
    funcs = functions(path)
    hits = counts(TRACEFS + "/uprobe_profile")
    # The steady state (the daemon running its services, answering status, restarting what
    # dies) goes first, all together: after a config load the daemon gives back the pages of
    # its code (src/daemon/code_pages.rs), and the kernel maps code back 64 KiB around each
    # page touched, so steady-state functions spread among load-only ones (the KDL parser,
    # the checks, the graph) would bring most of the hot block back at the first status.
    steady = set()
    if steady_from and steady_to:
        before, after = counts(steady_from), counts(steady_to)
        steady = {i for i, n in after.items() if n > before.get(i, 0)}
    # A name whose hash is the only thing that tells it apart from none other is written with
    # the hash as a wildcard: a new Cargo.lock or rustc changes every hash, not the names.
    unhashed = {}
    for _, _, name in funcs:
        key = HASH.sub("", name)
        unhashed[key] = unhashed.get(key, 0) + 1
    hot = [(i not in steady, addr, name) for i, (addr, _, name) in enumerate(funcs)
           if hits.get(i, 0) > 0]
    lines = []
    for _, _, name in sorted(hot):
        key = HASH.sub("", name)
        lines.append(key + "17h*E" if key != name and unhashed[key] == 1 else name)
    size = sum(s for i, (_, s, _) in enumerate(funcs) if hits.get(i, 0) > 0)
    with open(order, "w") as f:
        f.write("\n".join(lines) + "\n")
    steady_size = sum(s for i, (_, s, _) in enumerate(funcs) if i in steady)
    print("hot-text: %d of %d functions ran (%d KiB of %d KiB; %d of them, %d KiB, in the steady "
          "state, placed first): %s"
          % (len(hot), len(funcs), size // 1024, sum(s for _, s, _ in funcs) // 1024,
             len(steady), steady_size // 1024, order),
          file=sys.stderr)


def check(path, order):
    names = [n for _, _, n in functions(path)]
    exact = set(names)
    entries = [l.strip() for l in open(order) if l.strip()]
    found = 0
    for e in entries:
        if ("*" in e and any(fnmatch.fnmatchcase(n, e) for n in names)) or e in exact:
            found += 1
    print("%d of %d listed functions are in %s" % (found, len(entries), path))


if __name__ == "__main__":
    cmd = sys.argv[1] if len(sys.argv) > 1 else ""
    if cmd == "add" and len(sys.argv) == 3:
        add(sys.argv[2])
    elif cmd == "remove":
        remove()
    elif cmd == "snapshot" and len(sys.argv) == 3:
        snapshot(sys.argv[2])
    elif cmd == "write" and len(sys.argv) in (4, 6):
        write(*sys.argv[2:])
    elif cmd == "check" and len(sys.argv) == 4:
        check(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
