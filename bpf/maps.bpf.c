// SPDX-License-Identifier: GPL-2.0
/* Defines the maps declared in liveprobe.bpf.h; the other program files link against them. */
#define LP_DEFINE_SHARED_MAPS
#include "liveprobe.bpf.h"

char LICENSE[] SEC("license") = "GPL";

/* The pinned maps' layout (LP_LAYOUT_VERSION), written by the daemon that created them. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} lp_meta SEC(".maps");
