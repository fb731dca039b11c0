// SPDX-License-Identifier: GPL-2.0
/* Defines the maps declared in liveprobe.bpf.h; the other program files link against them. */
#define LP_DEFINE_SHARED_MAPS
#include "liveprobe.bpf.h"

char LICENSE[] SEC("license") = "GPL";
