#!/usr/bin/env python3
"""Slow-header clients for test_slow_clients_and_many_params.sh (not a test).

slow_clients.py PORT N SOURCE_IP SECONDS READY_FILE
Opens N connections to 127.0.0.1:PORT from SOURCE_IP and sends one header
line per second on each, never finishing the headers, for SECONDS. Writes
READY_FILE once all are connected (or refused), then prints how many the
server refused (at connect, or closed within EARLY_S: libmicrohttpd accepts
and then drops connections over its per-client limit), closed later, and
the longest time a connection stayed open.
"""
import socket
import sys
import time

port, n, src, seconds, ready = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], float(sys.argv[4]), sys.argv[5]
socks, opened, refused = [], {}, 0
for i in range(n):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.bind((src, 0))
        s.connect(("127.0.0.1", port))
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        socks.append(s)
        opened[s] = time.monotonic()
    except OSError:
        refused += 1
        s.close()
open(ready, "w").write("ready\n")
EARLY_S = 3.0
closed, early, longest, start = 0, 0, 0.0, time.monotonic()
alive = list(socks)
while alive and time.monotonic() - start < seconds:
    time.sleep(1)
    still = []
    for s in alive:
        try:
            s.sendall(b"X-Trickle: 1\r\n")
            s.setblocking(False)
            try:
                data = s.recv(4096)
                gone = data == b"" or data.startswith(b"HTTP/")
            except BlockingIOError:
                gone = False
            s.setblocking(True)
        except OSError:
            gone = True
        if gone:
            lived = time.monotonic() - opened[s]
            if lived <= EARLY_S:
                early += 1
            else:
                closed += 1
                longest = max(longest, lived)
            s.close()
        else:
            still.append(s)
    alive = still
for s in alive:
    longest = max(longest, time.monotonic() - opened[s])
    s.close()
print(f"accepted={len(socks) - early} refused={refused + early} closed_by_server={closed} "
      f"still_open={len(alive)} longest_open_s={longest:.1f}")
