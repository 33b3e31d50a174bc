"""hostile_peer.py - the socket helpers shared by the slow/greedy-client tests of mx-serve
(serve/tests/slow_clients_bounded.sh, per_address_limit.sh, greedy_client_bounded.sh) and
serve/bench/hostile.sh: one definition of reading a line, trickling bytes, reading until the
close and sampling the server's RSS. Put serve/tests on PYTHONPATH to import it."""
import socket
import time


def readline(s):
    """one line (up to LF) read a byte at a time, so nothing after it is consumed"""
    b = b""
    while not b.endswith(b"\n"):
        d = s.recv(1)
        if not d:
            raise EOFError("closed before a complete line: %r" % b)
        b += d
    return b


def said_until_close(s):
    """everything the server sends until it closes; None if it stays silent and open until the
    socket's timeout"""
    b = b""
    try:
        while True:
            d = s.recv(4096)
            if not d:
                return b
            b += d
    except socket.timeout:
        return None
    except ConnectionResetError:
        return b


def trickle(s, data, limit):
    """sends data one byte a second (cycling through it) for at most `limit` seconds; returns
    (what the server said meanwhile, seconds until it closed), or (said, None) if it was still
    open at the end"""
    said, t0 = b"", time.monotonic()
    for i in range(limit):
        k = i % len(data)
        try:
            s.send(data[k:k + 1])
        except OSError:
            pass  # the server closed: the recv below sees it
        s.settimeout(1.0)
        try:
            while True:
                d = s.recv(4096)
                if not d:
                    return said, time.monotonic() - t0
                said += d
        except socket.timeout:
            pass
        except ConnectionResetError:
            return said, time.monotonic() - t0
    return said, None


def rss_kib(pid):
    """the process's resident set (VmRSS of /proc/PID/status) in KiB"""
    for line in open("/proc/%s/status" % pid):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %s" % pid)


class Checks:
    """named assertions: each prints ok/FAIL; exit_status() is 1 if any failed"""

    def __init__(self):
        self.failures = []

    def __call__(self, ok, what):
        print(("ok: " if ok else "FAIL: ") + what)
        if not ok:
            self.failures.append(what)

    def exit_status(self):
        return 1 if self.failures else 0
