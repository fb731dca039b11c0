/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A fixed-capacity hash table from 64-bit keys to 32-bit values: open addressing with linear
 * probing and backward-shift deletion (no tombstones, so lookups never slow down with churn).
 * The fleet indexes its connections by socket cookie and its workers by name hash with it, so
 * an event costs O(1) however many workers and connections are tracked. No I/O, no resizing:
 * the capacity comes from the daemon's explicit limits.
 *
 * Errors: u64map_put returns -ENOSPC when full; never logs.
 */
#ifndef LP_U64MAP_H
#define LP_U64MAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct u64map {
	uint64_t *keys;
	uint32_t *values;
	bool *used;
	size_t mask; /* slots - 1; slots is a power of two at least twice the limit */
	size_t count;
};

/* Room for `limit` keys; 0 or -ENOMEM. */
int u64map_init(struct u64map *map, size_t limit);
void u64map_free(struct u64map *map);
bool u64map_get(const struct u64map *map, uint64_t key, uint32_t *value);
/* Inserts or replaces; -ENOSPC past the limit given at init. */
int u64map_put(struct u64map *map, uint64_t key, uint32_t value);
void u64map_del(struct u64map *map, uint64_t key);
/* FNV-1a of a string: names are indexed by this, and compared on lookup. */
uint64_t u64map_hash_string(const char *text);

#endif
