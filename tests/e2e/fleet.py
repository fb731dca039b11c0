#!/usr/bin/env python3
"""The fleet story's processes. `learner PORT SOCKET`: accepts actors on PORT; each actor's
first line names it, every later line is one finished episode, which the learner reports to
liveprobed as a proxy (peer= the actor's end of the connection, as seen here). `actor NAME HOST
PORT SOCKET`: says hello to liveprobed itself (so its pid is watched), then connects to the
learner and sends an episode every 0.2 s; SIGUSR1 makes it say bye and exit cleanly."""
import selectors
import signal
import socket
import sys
import time


def learner(port, sock_path):
    report = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    report.connect(sock_path)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("0.0.0.0", port))
    listener.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ)
    names, buffers = {}, {}
    print("ready", flush=True)
    while True:
        for key, _ in selector.select():
            if key.fileobj is listener:
                conn, _ = listener.accept()
                selector.register(conn, selectors.EVENT_READ)
                buffers[conn] = b""
                continue
            conn = key.fileobj
            try:
                data = conn.recv(4096)
            except OSError:
                data = b""
            if not data:
                selector.unregister(conn)
                conn.close()
                continue
            buffers[conn] += data
            *lines, buffers[conn] = buffers[conn].split(b"\n")
            host, peer_port = conn.getpeername()[:2]
            for line in lines:
                if conn not in names:
                    names[conn] = line.decode()
                    continue
                report.send(("episode worker=%s peer=%s:%d completed_at=%s"
                             % (names[conn], host, peer_port, line.decode())).encode())


def actor(name, host, port, sock_path):
    report = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    report.connect(sock_path)
    report.send(("hello worker=%s" % name).encode())
    conn = socket.create_connection((host, port))
    conn.sendall((name + "\n").encode())

    def leave(signum, frame):
        report.send(("bye worker=%s" % name).encode())
        conn.close()
        sys.exit(0)

    signal.signal(signal.SIGUSR1, leave)
    print("connected", flush=True)
    while True:
        conn.sendall(("%f\n" % time.time()).encode())
        time.sleep(0.2)


if __name__ == "__main__":
    if sys.argv[1] == "learner":
        learner(int(sys.argv[2]), sys.argv[3])
    else:
        actor(sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5])
