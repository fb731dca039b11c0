#!/usr/bin/env python3
"""The demo fleet's processes, real ones, each a mode of this file:

learner PORT SOCKET      accepts actors on PORT. An actor's first line names it; each later line
                         is one finished episode (its completion time), which the learner reports
                         to liveprobed for that actor (peer= the actor's end of the connection);
                         "BYE" makes it report bye. Every second it sends each actor an "ack"
                         line, so a link that dies leaves data unacknowledged (suspect).
actor NAME HOST PORT     connects to the learner and sends an episode every 0.25 s. SIGUSR1:
                         says BYE and exits 0. SIGUSR2: drops its connection, keeps working for
                         OUTAGE seconds with its episodes buffered, reconnects and flushes them
                         all at once (each with its own completion time).
worker NAME SOCKET       reports for itself (its own pid is watched) every 0.25 s.
flaky NAME SOCKET        the same, but crashes (SIGSEGV) after about a second.
hog NAME SOCKET          reports once, then allocates memory until something stops it.
"""
import os
import selectors
import signal
import socket
import sys
import time

OUTAGE = float(os.environ.get("DEMO_OUTAGE", "8"))


def report_socket(path):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.connect(path)
    return sock


def learner(port, sock_path):
    report = report_socket(sock_path)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    names, buffers = {}, {}
    next_ack = time.time() + 1
    print("ready", flush=True)
    while True:
        for key, _ in selector.select(timeout=0.2):
            if key.fileobj is listener:
                conn, _ = listener.accept()
                conn.setblocking(False)
                selector.register(conn, selectors.EVENT_READ)
                buffers[conn] = b""
                continue
            conn = key.fileobj
            try:
                data = conn.recv(65536)
            except OSError:
                data = b""
            if not data:
                selector.unregister(conn)
                names.pop(conn, None)
                buffers.pop(conn, None)
                conn.close()
                continue
            buffers[conn] += data
            *lines, buffers[conn] = buffers[conn].split(b"\n")
            host, peer_port = conn.getpeername()[:2]
            out = []
            for line in lines:
                text = line.decode(errors="replace")
                if conn not in names:
                    names[conn] = text
                elif text == "BYE":
                    out.append("bye worker=%s peer=%s:%d" % (names[conn], host, peer_port))
                else:
                    out.append("episode worker=%s peer=%s:%d completed_at=%s"
                               % (names[conn], host, peer_port, text))
            # many lines per datagram: a flush of buffered work is one send
            for i in range(0, len(out), 32):
                report.send("\n".join(out[i:i + 32]).encode())
        if time.time() >= next_ack:
            next_ack = time.time() + 1
            for conn in list(names):
                try:
                    conn.send(b"ack\n")
                except OSError:
                    pass


def actor(name, host, port):
    state = {"conn": None, "outage_until": 0.0}
    buffered = []

    def connect():
        conn = socket.create_connection((host, port))
        conn.sendall((name + "\n").encode())
        state["conn"] = conn

    def leave(signum, frame):
        state["conn"].sendall(b"BYE\n")
        time.sleep(0.3)
        state["conn"].close()
        sys.exit(0)

    def outage(signum, frame):
        state["conn"].close()
        state["outage_until"] = time.time() + OUTAGE

    signal.signal(signal.SIGUSR1, leave)
    signal.signal(signal.SIGUSR2, outage)
    connect()
    print("connected", flush=True)
    while True:
        done = "%.6f\n" % time.time()
        if state["outage_until"]:
            buffered.append(done)
            if time.time() >= state["outage_until"]:
                state["outage_until"] = 0.0
                connect()
                state["conn"].sendall("".join(buffered).encode())
                buffered.clear()
        else:
            try:
                state["conn"].sendall(done.encode())
            except OSError:
                pass
        time.sleep(0.25)


def worker(name, sock_path, crash_after=None):
    report = report_socket(sock_path)
    started = time.time()
    print("reporting", flush=True)
    while True:
        report.send(("episode worker=%s completed_at=%.6f" % (name, time.time())).encode())
        if crash_after is not None and time.time() - started > crash_after:
            os.kill(os.getpid(), signal.SIGSEGV)
        time.sleep(0.25)


def hog(name, sock_path):
    report = report_socket(sock_path)
    hungry = []
    signal.signal(signal.SIGUSR1, lambda s, f: hungry.append(True))
    print("reporting", flush=True)
    while not hungry:  # works until the demo says "now": then eats memory
        report.send(("episode worker=%s completed_at=%.6f" % (name, time.time())).encode())
        time.sleep(0.25)
    chunks = []
    while True:
        chunks.append(b"x" * (16 << 20))


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    if mode == "learner":
        learner(int(args[0]), args[1])
    elif mode == "actor":
        actor(args[0], args[1], int(args[2]))
    elif mode == "worker":
        worker(args[0], args[1])
    elif mode == "flaky":
        worker(args[0], args[1], crash_after=1.0)
    elif mode == "hog":
        hog(args[0], args[1])
    else:
        sys.exit("unknown mode " + mode)
