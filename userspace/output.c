// SPDX-License-Identifier: GPL-2.0
/* See output.h. */
#include <math.h>
#include <string.h>

#include "output.h"

#define GAP_GAIN                                                                                   \
	0.125 /* RFC 6298's alpha; the deviation uses it too, a little smoother than beta */

/* Callers pass bounded times, but a double out of int64_t's range must not be undefined. */
static int64_t floor_div(double seconds, int64_t unit)
{
	double quotient = floor(seconds / unit);

	if (!(quotient > -4e18))
		return -4000000000000000000ll;
	if (quotient > 4e18)
		return 4000000000000000000ll;
	return (int64_t)quotient;
}

static void note_arrival(struct output *output, uint64_t now_ns)
{
	if (output->last_ns) {
		double gap = (now_ns - output->last_ns) / 1e9;

		if (gap >= OUTPUT_MIN_GAP_S) {
			if (output->n_gaps == 0) {
				output->gap_mean_s = gap;
				output->gap_dev_s = gap / 2;
			} else {
				output->gap_dev_s += GAP_GAIN * (fabs(gap - output->gap_mean_s) -
								 output->gap_dev_s);
				output->gap_mean_s += GAP_GAIN * (gap - output->gap_mean_s);
			}
			output->n_gaps++;
		}
	}
	output->last_ns = now_ns;
}

/*
 * The worker's clock stepped back or froze: its samples sit well below the estimate and agree
 * with each other (within a second, plus the receipt time between them for a frozen clock) for
 * OUTPUT_STEP_SPAN_S of receipts. A backlog flush arrives at once and spreads out, so it is not
 * one. Then the old samples describe another clock: forget them.
 */
static bool clock_stepped(struct output *output, double sample, double now_real_s)
{
	double estimate;

	if (!output_clock_offset(output, now_real_s, &estimate) ||
	    sample >= estimate - OUTPUT_STEP_S) {
		output->low_run = 0;
		return false;
	}
	if (output->low_run &&
	    fabs(sample - output->low_last_sample_s) >
		    1.0 + (now_real_s - output->low_first_real_s)) {
		output->low_run = 0;
	}
	if (output->low_run++ == 0)
		output->low_first_real_s = now_real_s;
	output->low_last_sample_s = sample;
	if (output->low_run < 3 || now_real_s - output->low_first_real_s < OUTPUT_STEP_SPAN_S)
		return false;
	output->low_run = 0;
	memset(output->offset_minute, 0, sizeof(output->offset_minute));
	return true;
}

/* Unix minutes fit an int32_t until the year 6000; a daemon clock past that is clamped. */
static int32_t unix_minute(double now_real_s)
{
	int64_t minute = floor_div(now_real_s, 60);

	return minute > INT32_MAX ? INT32_MAX : minute < 1 ? 1 : (int32_t)minute;
}

static void note_offset(struct output *output, double completed_at, double now_real_s)
{
	int32_t minute = unix_minute(now_real_s);
	int slot = (int)(((minute % OUTPUT_OFFSET_WINDOW) + OUTPUT_OFFSET_WINDOW) %
			 OUTPUT_OFFSET_WINDOW);
	double sample = completed_at - now_real_s;

	clock_stepped(output, sample, now_real_s);
	/* The freshest report has the smallest delay: the largest (completed - receipt). */
	if (output->offset_minute[slot] != minute) {
		output->offset_minute[slot] = minute;
		output->offset_max_s[slot] = sample;
	} else if (sample > output->offset_max_s[slot]) {
		output->offset_max_s[slot] = sample;
	}
}

bool output_clock_offset(const struct output *output, double now_real_s, double *offset_s)
{
	int64_t minute = unix_minute(now_real_s);
	bool found = false;

	for (int i = 0; i < OUTPUT_OFFSET_WINDOW; i++) {
		int64_t age = minute - output->offset_minute[i];

		if (!output->offset_minute[i] || age < 0 || age >= OUTPUT_OFFSET_WINDOW)
			continue;
		if (!found || output->offset_max_s[i] > *offset_s)
			*offset_s = output->offset_max_s[i];
		found = true;
	}
	return found;
}

#define BUCKETS_PER_MINUTE (60 / OUTPUT_BUCKET_S)

static int64_t minute_of(int64_t bucket)
{
	return bucket >= 0 ? bucket / BUCKETS_PER_MINUTE
			   : -((-bucket + BUCKETS_PER_MINUTE - 1) / BUCKETS_PER_MINUTE);
}

static int ring_index(int64_t index, int size)
{
	return (int)(((index % size) + size) % size);
}

/* Moves both windows so that `bucket` is the newest, clearing what slides in. */
static void advance(struct output *output, int64_t bucket)
{
	int64_t steps = bucket - output->newest_bucket;
	int64_t minute = minute_of(bucket), newest_minute = minute_of(output->newest_bucket);

	if (steps <= 0)
		return;
	if (steps >= OUTPUT_BUCKETS || output->newest_bucket == 0) {
		memset(output->buckets, 0, sizeof(output->buckets));
	} else {
		for (int64_t b = output->newest_bucket + 1; b <= bucket; b++)
			output->buckets[ring_index(b, OUTPUT_BUCKETS)] = 0;
	}
	if (minute - newest_minute >= OUTPUT_MINUTES || output->newest_bucket == 0) {
		memset(output->minutes, 0, sizeof(output->minutes));
	} else {
		for (int64_t m = newest_minute + 1; m <= minute; m++)
			output->minutes[ring_index(m, OUTPUT_MINUTES)] = 0;
	}
	output->newest_bucket = bucket;
}

static void add_saturating(uint32_t *slot, uint64_t count)
{
	*slot = *slot > UINT32_MAX - count ? UINT32_MAX : *slot + (uint32_t)count;
}

void output_record_episode(struct output *output, const struct report *report, uint64_t now_ns,
			   double now_real_s)
{
	double event_s = now_real_s, offset_s;
	int64_t bucket;

	output->episodes_total += report->count;
	output->last_episode_ns = now_ns;
	if (!output->first_real_s)
		output->first_real_s = now_real_s;
	note_arrival(output, now_ns);
	if (report->has_completed_at) {
		note_offset(output, report->completed_at, now_real_s);
		output_clock_offset(output, now_real_s, &offset_s);
		event_s = report->completed_at - offset_s;
		/* Corrected into the future means a fresh report; it happened now. */
		if (event_s > now_real_s)
			event_s = now_real_s;
	}
	if (report->has_seq) {
		/* A jump past OUTPUT_SEQ_MAX_GAP is a new sequence (a restart), not lost ones. */
		if (output->has_seq && report->seq > output->next_seq &&
		    report->seq - output->next_seq <= OUTPUT_SEQ_MAX_GAP)
			output->seq_gaps += report->seq - output->next_seq;
		if (!output->has_seq || report->seq >= output->next_seq)
			output->next_seq = report->seq + 1;
		output->has_seq = true;
	}
	advance(output, floor_div(now_real_s, OUTPUT_BUCKET_S));
	bucket = floor_div(event_s, OUTPUT_BUCKET_S);
	/* Older than a window: in the total, not in that rate or history. */
	if (output->newest_bucket - bucket < OUTPUT_BUCKETS)
		add_saturating(&output->buckets[ring_index(bucket, OUTPUT_BUCKETS)], report->count);
	if (minute_of(output->newest_bucket) - minute_of(bucket) < OUTPUT_MINUTES)
		add_saturating(&output->minutes[ring_index(minute_of(bucket), OUTPUT_MINUTES)],
			       report->count);
}

void output_record_heartbeat(struct output *output, uint64_t now_ns)
{
	output->heartbeats_total++;
	note_arrival(output, now_ns);
}

static uint32_t bucket_count(const struct output *output, int64_t bucket)
{
	if (!output->newest_bucket || bucket > output->newest_bucket ||
	    output->newest_bucket - bucket >= OUTPUT_BUCKETS)
		return 0;
	return output->buckets[ring_index(bucket, OUTPUT_BUCKETS)];
}

double output_per_min(const struct output *output, double now_real_s)
{
	double window = output->first_real_s ? now_real_s - output->first_real_s : 60;
	double start, total = 0;

	/* One report is no rhythm to extrapolate from: it counts as what it is, per minute. */
	if (output->n_gaps == 0)
		window = 60;
	window = window > 60 ? 60 : window < 1 ? 1 : window;
	start = now_real_s - window;
	/*
	 * Whole buckets inside (start, now]; a bucket that straddles `start` counts pro rata,
	 * over the part of it in which the worker could have produced at all.
	 */
	for (int64_t b = floor_div(start, OUTPUT_BUCKET_S);
	     b <= floor_div(now_real_s, OUTPUT_BUCKET_S); b++) {
		double from = (double)b * OUTPUT_BUCKET_S, to = from + OUTPUT_BUCKET_S;
		double end = to < now_real_s ? to : now_real_s;
		double possible = end - (from > output->first_real_s ? from : output->first_real_s);
		double covered = end - (from > start ? from : start);

		if (covered <= 0 || possible <= 0)
			continue;
		total += bucket_count(output, b) * (covered >= possible ? 1.0 : covered / possible);
	}
	return total * 60 / window;
}

void output_history(const struct output *output, double now_real_s, uint32_t *out, int n)
{
	int64_t now_minute = minute_of(floor_div(now_real_s, OUTPUT_BUCKET_S));
	int64_t newest_minute = minute_of(output->newest_bucket);

	for (int i = 0; i < n; i++) {
		int64_t minute = now_minute - (n - 1) + i;

		out[i] = output->newest_bucket && minute <= newest_minute &&
					 newest_minute - minute < OUTPUT_MINUTES
				 ? output->minutes[ring_index(minute, OUTPUT_MINUTES)]
				 : 0;
	}
}

double output_stale_after(const struct output *output, const struct output_policy *policy)
{
	double spread, after;

	if (policy->stale_after_s > 0)
		return policy->stale_after_s;
	if (output->n_gaps < OUTPUT_MIN_GAPS)
		return policy->start_grace_s;
	spread = output->gap_dev_s > output->gap_mean_s / 4 ? output->gap_dev_s
							    : output->gap_mean_s / 4;
	after = output->gap_mean_s + 6 * spread;
	return after < OUTPUT_STALE_FLOOR_S  ? OUTPUT_STALE_FLOOR_S
	       : after > OUTPUT_STALE_CEIL_S ? OUTPUT_STALE_CEIL_S
					     : after;
}

double output_age(const struct output *output, uint64_t now_ns)
{
	if (!output->last_ns)
		return -1;
	return now_ns > output->last_ns ? (now_ns - output->last_ns) / 1e9 : 0;
}
