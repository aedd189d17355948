#!/usr/bin/env python3
"""unread_mem: how much kernel TCP memory peers that send and never read
pin on an echo server.

Starts evsockd on a free loopback port with the extra arguments given,
opens N connections that each send until the kernel takes no more and
never read, then reports the server side's socket memory (from
`ss -tm`: receive and send queues of the server's sockets) and the
change in /proc/net/sockstat's "TCP: mem" pages (the peers' own
sockets use small buffers, so this is mostly the server's share, plus
whatever else the machine runs), and evsockd's resident memory (the
sendq each peer fills).

    bench/unread_mem.py [-n 300] EVSOCKD [evsockd options...]
    bench/unread_mem.py build/evsockd --socket-buffer 0
"""
import argparse
import re
import socket
import subprocess
import sys
import time


def tcp_mem_pages():
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                return int(re.search(r"\bmem (\d+)", line).group(1))
    return 0


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def server_side_bytes(port):
    """Sums skmem r (receive queue) and w (queued for sending) of the
    sockets whose local port is `port`."""
    out = subprocess.run(["ss", "-tmnH", "state", "established",
                          "( sport = :%d )" % port],
                         capture_output=True, text=True).stdout
    total = 0
    for m in re.finditer(r"skmem:\(r(\d+),rb\d+,t(\d+),tb\d+,f\d+,w(\d+)",
                         out):
        total += int(m.group(1)) + int(m.group(3))
    return total


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("-n", type=int, default=300)
    ap.add_argument("evsockd")
    ap.add_argument("args", nargs=argparse.REMAINDER)
    a = ap.parse_args()

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    d = subprocess.Popen([a.evsockd, "--listen", "echo=127.0.0.1:%d" % port,
                          "--threads", "1"] + a.args,
                         stderr=subprocess.PIPE, text=True)
    try:
        for line in d.stderr:
            if "listening echo" in line:
                break
        before = tcp_mem_pages()
        peers = []
        for _ in range(a.n):
            # Small buffers on our side: the machine's TCP memory then
            # grows by about the server's share only.
            c = socket.socket()
            c.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16384)
            c.connect(("127.0.0.1", port))
            c.setblocking(False)
            peers.append(c)
        chunk = b"u" * 65536
        # Send until nothing moves for a second.
        quiet_since = time.monotonic()
        deadline = time.monotonic() + 60
        while time.monotonic() - quiet_since < 1 and \
                time.monotonic() < deadline:
            moved = False
            for c in peers:
                try:
                    if c.send(chunk) > 0:
                        moved = True
                except (BlockingIOError, ConnectionError):
                    pass
            if moved:
                quiet_since = time.monotonic()
            else:
                time.sleep(0.05)
        srv = server_side_bytes(port)
        after = tcp_mem_pages()
        print("%d peers, evsockd %s: server sockets hold %.1f MB "
              "(%.0f KB a peer); TCP mem %d -> %d pages (+%.1f MB); "
              "evsockd RSS %.0f MB" % (
                  a.n, " ".join(a.args) or "(defaults)", srv / 1e6,
                  srv / 1e3 / a.n, before, after,
                  (after - before) * 4096 / 1e6, rss_kib(d.pid) / 1024))
        for c in peers:
            c.close()
    finally:
        d.terminate()
        d.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
