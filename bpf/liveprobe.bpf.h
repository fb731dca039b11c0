/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What every liveprobe BPF program shares: the kernel headers, the event contract, and the maps
 * that more than one program file uses (the ring buffer and the per-CPU counters). maps.bpf.c
 * defines them; the other files see the same declarations as externs, and `bpftool gen object`
 * links the files into one object with one skeleton.
 */
#ifndef LIVEPROBE_BPF_H
#define LIVEPROBE_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_tracing.h>
#include "lp_events.h"

#ifdef LP_DEFINE_SHARED_MAPS
#define LP_SHARED
#else
#define LP_SHARED extern
#endif

/* Size is set by the daemon before load (--ringbuf-size). */
LP_SHARED struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} lp_events SEC(".maps");

LP_SHARED struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, LP_STAT__COUNT);
	/* An array's key must be a plain 32-bit int for the kernel (array_map_check_btf): an
	 * enum here would cost the map its BTF. liveprobed --dump-maps names the counters. */
	__type(key, __u32);
	__type(value, __u64);
} lp_stats SEC(".maps");

static __always_inline void lp_stat_inc(__u32 index)
{
	__u64 *counter = bpf_map_lookup_elem(&lp_stats, &index);

	/* A per-CPU slot only this CPU writes: no atomic needed (and an atomic costs about 50 ns
	 * on the path every exit on the host takes). A program nested on the same CPU (from an
	 * NMI) could lose one count; these are statistics. */
	if (counter)
		*counter += 1;
}

/*
 * Reserve an event or count the drop; callers filter before calling this. ts_ns is the
 * caller's own bpf_ktime_get_ns() of the fact: a clock read costs about 50 ns on a kvm-clock
 * guest, and the record's time is the fact's.
 */
static __always_inline void *lp_event_reserve(__u64 size, __u32 kind, __u64 ts_ns)
{
	struct lp_event_header *header = bpf_ringbuf_reserve(&lp_events, size, 0);

	if (!header) {
		lp_stat_inc(LP_STAT_RINGBUF_DROPS);
		return NULL;
	}
	header->kind = kind;
	header->cpu = bpf_get_smp_processor_id();
	header->ts_ns = ts_ns;
	return header;
}

#endif /* LIVEPROBE_BPF_H */
