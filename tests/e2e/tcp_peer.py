#!/usr/bin/env python3
"""TCP ends for the connection tests: a server that accepts and holds (optionally sending), a
client that connects and holds, and a storm of short connections. Prints one line when ready,
so the shell knows when the connection exists. SIGTERM ends the process; with --linger0 the
client resets its connection (SO_LINGER 0) instead of closing it; --user-timeout-ms gives the
server's connections TCP_USER_TIMEOUT, so unacknowledged data ends them."""
import argparse
import signal
import socket
import struct
import sys
import threading
import time


def family_of(host):
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def send_forever(sock, interval):
    while True:
        try:
            sock.send(b"x" * 64)
        except OSError:
            return
        time.sleep(interval)


def serve(args):
    listener = socket.socket(family_of(args.host), socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((args.host, args.port))
    listener.listen(1024)
    print("ready", flush=True)
    held = []
    while True:
        conn, _ = listener.accept()
        if args.user_timeout_ms:
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, args.user_timeout_ms)
        held.append(conn)
        if args.send_interval:
            threading.Thread(target=send_forever, args=(conn, args.send_interval), daemon=True).start()


def connect(args):
    sock = socket.socket(family_of(args.host), socket.SOCK_STREAM)
    if args.bind:
        sock.bind((args.bind, 0))
    sock.connect((args.host, args.port))

    def stop(signum, frame):
        if args.linger0:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    print("connected %d" % sock.getsockname()[1], flush=True)
    if args.send_interval:
        send_forever(sock, args.send_interval)
    while True:
        time.sleep(3600)


def storm(args):
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(4096)
    port = listener.getsockname()[1]
    for _ in range(args.count):
        client = socket.create_connection(("127.0.0.1", port))
        server, _ = listener.accept()
        client.close()
        server.close()
    print("done %d" % args.count, flush=True)


def main():
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="mode", required=True)
    s = sub.add_parser("server")
    s.add_argument("host")
    s.add_argument("port", type=int)
    s.add_argument("--send-interval", type=float, default=0)
    s.add_argument("--user-timeout-ms", type=int, default=0)
    c = sub.add_parser("client")
    c.add_argument("host")
    c.add_argument("port", type=int)
    c.add_argument("--bind")
    c.add_argument("--linger0", action="store_true")
    c.add_argument("--send-interval", type=float, default=0)
    st = sub.add_parser("storm")
    st.add_argument("count", type=int)
    args = parser.parse_args()
    {"server": serve, "client": connect, "storm": storm}[args.mode](args)


if __name__ == "__main__":
    main()
