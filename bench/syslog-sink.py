#!/usr/bin/env python3
"""A local syslog reader for bench/output-throughput: binds a Unix datagram socket, reads
as fast as it can, and keeps `messages bytes` (payload bytes after the `TAG[PID]: ` header)
in a status file, rewritten every 1000 messages and whenever it goes idle."""
import os
import signal
import socket
import sys

path, status = sys.argv[1], sys.argv[2]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
sock.bind(path)
sock.settimeout(0.2)
messages = payload = 0


def save():
    with open(status + ".tmp", "w") as f:
        f.write(f"{messages} {payload}\n")
    os.replace(status + ".tmp", status)


signal.signal(signal.SIGTERM, lambda *_: (save(), sys.exit(0)))
save()
while True:
    try:
        data = sock.recv(65536)
    except socket.timeout:
        save()
        continue
    messages += 1
    payload += len(data) - (data.index(b"]: ") + 3)
    if messages % 1000 == 0:
        save()
