#!/usr/bin/env python3
"""Floods the ingest socket PATH for SECONDS as fast as it takes datagrams (never blocking);
prints how many it sent."""
import socket
import sys
import time

s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.connect(sys.argv[1])
s.setblocking(False)
end, sent = time.time() + float(sys.argv[2]), 0
while time.time() < end:
    try:
        s.send(b"episode worker=flood\nepisode worker=flood\nepisode worker=flood")
        sent += 1
    except BlockingIOError:
        pass
print(sent)
