/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What a worker produced, and what that says about it: episode and heartbeat counts, the
 * rhythm of its reports (for adaptive staleness), its throughput by event time, its clock's
 * offset from the daemon's, and gaps in its sequence numbers. Pure arithmetic on two clocks
 * passed in: liveness uses the daemon's CLOCK_MONOTONIC at receipt, never a worker's clock;
 * throughput places each episode in the minute it was completed, corrected by the estimated
 * clock offset, so a burst of buffered episodes cannot inflate the current rate.
 *
 * Errors: none; pure arithmetic.
 */
#ifndef LP_OUTPUT_H
#define LP_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>

#include "report.h"

/* Event-time counts: 10 s buckets for the rate over the last minute (7 cover a sliding 60 s),
 * and one per clock minute for the last 15 minutes of history. */
#define OUTPUT_BUCKET_S	     10
#define OUTPUT_BUCKETS	     7
#define OUTPUT_MINUTES	     16 /* 15 whole minutes and the current one */
#define OUTPUT_OFFSET_WINDOW 10 /* minutes of clock-offset samples */
/* A worker's clock stepped (or froze) when its offset samples stay this far below the estimate,
 * agreeing with each other, for this long of receipt time: a backlog flush does neither. */
#define OUTPUT_STEP_S	     5.0
#define OUTPUT_STEP_SPAN_S   2.0
/* A seq jump larger than this is a restarted sequence, not lost reports. */
#define OUTPUT_SEQ_MAX_GAP   1000000
/* Rhythm: gaps closer than this are one burst (one datagram of many lines), not a rhythm. */
#define OUTPUT_MIN_GAP_S 0.01
/* Adaptive staleness: needs this many gaps; then mean + 6 deviations, within the bounds. */
#define OUTPUT_MIN_GAPS	     3
#define OUTPUT_STALE_FLOOR_S 1.0
#define OUTPUT_STALE_CEIL_S  600.0

struct output {
	uint64_t episodes_total;
	uint64_t heartbeats_total;
	uint64_t last_ns;	  /* CLOCK_MONOTONIC receipt of the last output, 0: none yet */
	uint64_t last_episode_ns; /* of the last episode (heartbeats are output too) */
	double first_real_s;	  /* CLOCK_REALTIME receipt of the first episode */
	uint32_t n_gaps;
	double gap_mean_s;     /* EWMA of the gaps between reports, as TCP smooths RTTs */
	double gap_dev_s;      /* EWMA of the absolute deviation */
	int64_t newest_bucket; /* event-time bucket index (Unix time / OUTPUT_BUCKET_S) */
	uint32_t buckets[OUTPUT_BUCKETS];
	uint32_t minutes[OUTPUT_MINUTES]; /* by Unix minute; the newest is newest_bucket's */
	int32_t offset_minute[OUTPUT_OFFSET_WINDOW]; /* Unix minute of each sample slot */
	double offset_max_s[OUTPUT_OFFSET_WINDOW];   /* max(completed_at - receipt) that minute */
	/* A run of samples below the estimate that may be a step of the worker's clock. */
	uint32_t low_run;
	double low_first_real_s, low_last_sample_s;
	bool has_seq;
	uint64_t next_seq;
	uint64_t seq_gaps;
};

/* Staleness policy: a fixed threshold overrides the adaptive one when > 0. */
struct output_policy {
	double stale_after_s;
	double start_grace_s; /* a worker with too little rhythm gets this long after its last
				 output */
};

/* An episode (count of them) or a heartbeat, received at now_ns / now_real_s. */
void output_record_episode(struct output *output, const struct report *report, uint64_t now_ns,
			   double now_real_s);
void output_record_heartbeat(struct output *output, uint64_t now_ns);

/* Worker clock minus daemon clock, from the freshest reports of the last 10 minutes. */
bool output_clock_offset(const struct output *output, double now_real_s, double *offset_s);
/*
 * Episodes per minute completed in the last 60 s (event time, offset-corrected); a worker seen
 * for less than a minute (with a rhythm of at least two reports) is rated over the time it has
 * been seen, not diluted by 60 s.
 */
double output_per_min(const struct output *output, double now_real_s);
/* Episodes completed in each of the last n clock minutes (n < OUTPUT_MINUTES), oldest first;
 * the last is the minute now is in. */
void output_history(const struct output *output, double now_real_s, uint32_t *out, int n);
/* The gap after which this worker is stale under the policy. */
double output_stale_after(const struct output *output, const struct output_policy *policy);
/* Seconds since the last output; negative when there was none. */
double output_age(const struct output *output, uint64_t now_ns);

#endif
