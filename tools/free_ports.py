#!/usr/bin/env python3
"""free_ports.py N: N distinct free TCP ports on 127.0.0.1, one per line (all bound at once, so
no two are the same; released on exit, so a test binds them itself soon after and retries when
another process took one meanwhile)."""
import socket
import sys

socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])
