#!/usr/bin/env python3
"""slices.py PID: each thread of PID as "TID COMM SLICE_NS", read with sched_getattr(2).

The EEVDF slice of a SCHED_OTHER thread (sched_attr.sched_runtime, Linux 6.12+) is in neither
/proc/PID/task/TID/stat nor sched; glibc 2.36 has no wrapper, so the call is made by number.
"""
import ctypes
import os
import struct
import sys

SYS_SCHED_GETATTR = 315  # x86_64
SCHED_ATTR_SIZE_VER0 = 48

libc = ctypes.CDLL(None, use_errno=True)
pid = sys.argv[1]
for tid in sorted(os.listdir(f"/proc/{pid}/task"), key=int):
    attr = ctypes.create_string_buffer(SCHED_ATTR_SIZE_VER0)
    if libc.syscall(SYS_SCHED_GETATTR, int(tid), attr, SCHED_ATTR_SIZE_VER0, 0):
        continue  # the thread exited meanwhile
    runtime = struct.unpack("IIQiIQQQ", attr.raw)[5]
    with open(f"/proc/{pid}/task/{tid}/comm") as comm:
        print(tid, comm.read().strip(), runtime)
