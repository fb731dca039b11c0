#!/usr/bin/env python3
"""Slow HTTP clients: N connections from N loopback addresses that trickle one byte every 2 s.
Half send "G" again and again, which the daemon hands to its thread pool at the second byte;
half spell out an event stream's request line, which keeps them waiting in the daemon's accept
thread (userspace/lanes.c). Prints "connected" once they are, then after SECONDS "closed K":
how many the server cut."""
import select
import socket
import sys
import time

port, n, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
socks = []
for i in range(n):
    s = socket.socket()
    s.bind((f"127.1.{i // 200}.{i % 200 + 1}", 0))  # many client addresses, as many hosts
    s.setblocking(False)
    try:
        s.connect(("127.0.0.1", port))
    except BlockingIOError:
        pass
    socks.append(s)
time.sleep(0.5)
print("connected", flush=True)
EVENTS = b"GET /api/v1/events HTTP/1.1\r\n"
closed, start, sent = set(), time.time(), 0
while time.time() - start < seconds:
    for i, s in enumerate(socks):
        if i in closed:
            continue
        try:
            s.send(b"G" if i % 2 == 0 else EVENTS[sent % len(EVENTS):][:1])
            r, _, _ = select.select([s], [], [], 0)
            if r and not s.recv(100):
                closed.add(i)
        except OSError:
            closed.add(i)
    sent += 1
    time.sleep(2)
print(f"closed {len(closed)}", flush=True)
