#!/usr/bin/env python3
"""A stand-in for systemd's socket activation and notify protocol, for tests on machines where
systemd is not PID 1: binds the ingest datagram socket PATH (0660, SO_PASSCRED) once, starts the
daemon CMD... with it as fd 3 (LISTEN_PID, LISTEN_FDS=1) and a NOTIFY_SOCKET of its own, and
restarts the daemon on SIGUSR1 with the same socket, so datagrams sent meanwhile wait in its
queue. Prints every notify message it receives, and "started PID" for each daemon."""
import os
import signal
import socket
import sys

path, cmd = sys.argv[1], sys.argv[2:]
ingest = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
if os.path.exists(path):
    os.unlink(path)
ingest.bind(path)
os.chmod(path, 0o660)
ingest.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
notify_path = path + ".notify"
if os.path.exists(notify_path):
    os.unlink(notify_path)
notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
notify.bind(notify_path)
child = None


def start():
    global child
    pid = os.fork()
    if pid == 0:
        os.dup2(ingest.fileno(), 3)
        os.set_inheritable(3, True)
        env = dict(os.environ, LISTEN_PID=str(os.getpid()), LISTEN_FDS="1",
                   NOTIFY_SOCKET=notify_path)
        os.execve(cmd[0], cmd, env)
    child = pid
    print(f"started {pid}", flush=True)


def restart(signum, frame):
    os.kill(child, signal.SIGTERM)
    os.waitpid(child, 0)
    start()


def stop(signum, frame):
    if child:
        os.kill(child, signal.SIGTERM)
        os.waitpid(child, 0)
    sys.exit(0)


signal.signal(signal.SIGUSR1, restart)
signal.signal(signal.SIGTERM, stop)
start()
while True:
    try:
        print(notify.recv(4096).decode(errors="replace").replace("\n", " "), flush=True)
    except InterruptedError:
        pass
