// SPDX-License-Identifier: GPL-2.0
/* See u64map.h. */
#include <errno.h>
#include <stdlib.h>

#include "u64map.h"

/* Cookies and FNV hashes can share low bits; mix before masking (splitmix64's finaliser). */
static size_t slot_of(const struct u64map *map, uint64_t key)
{
	key ^= key >> 30;
	key *= 0xbf58476d1ce4e5b9ull;
	key ^= key >> 27;
	key *= 0x94d049bb133111ebull;
	key ^= key >> 31;
	return key & map->mask;
}

int u64map_init(struct u64map *map, size_t limit)
{
	size_t slots = 16;

	while (slots < 2 * limit)
		slots <<= 1;
	map->keys = calloc(slots, sizeof(*map->keys));
	map->values = calloc(slots, sizeof(*map->values));
	map->used = calloc(slots, sizeof(*map->used));
	map->mask = slots - 1;
	map->count = 0;
	if (!map->keys || !map->values || !map->used) {
		u64map_free(map);
		return -ENOMEM;
	}
	return 0;
}

void u64map_free(struct u64map *map)
{
	free(map->keys);
	free(map->values);
	free(map->used);
	map->keys = NULL;
	map->values = NULL;
	map->used = NULL;
	map->count = 0;
}

static bool find(const struct u64map *map, uint64_t key, size_t *slot)
{
	for (size_t i = slot_of(map, key);; i = (i + 1) & map->mask) {
		if (!map->used[i]) {
			*slot = i;
			return false;
		}
		if (map->keys[i] == key) {
			*slot = i;
			return true;
		}
	}
}

bool u64map_get(const struct u64map *map, uint64_t key, uint32_t *value)
{
	size_t slot;

	if (!find(map, key, &slot))
		return false;
	*value = map->values[slot];
	return true;
}

int u64map_put(struct u64map *map, uint64_t key, uint32_t value)
{
	size_t slot;

	if (!find(map, key, &slot)) {
		/* At most half full, so probe chains stay short and a free slot always exists. */
		if (map->count + 1 > (map->mask + 1) / 2)
			return -ENOSPC;
		map->used[slot] = true;
		map->keys[slot] = key;
		map->count++;
	}
	map->values[slot] = value;
	return 0;
}

void u64map_del(struct u64map *map, uint64_t key)
{
	size_t hole;

	if (!find(map, key, &hole))
		return;
	map->used[hole] = false;
	map->count--;
	/* Shift back every later entry of the chain that may not live past the hole. */
	for (size_t i = (hole + 1) & map->mask; map->used[i]; i = (i + 1) & map->mask) {
		size_t home = slot_of(map, map->keys[i]);

		if (((i - home) & map->mask) >= ((i - hole) & map->mask)) {
			map->keys[hole] = map->keys[i];
			map->values[hole] = map->values[i];
			map->used[hole] = true;
			map->used[i] = false;
			hole = i;
		}
	}
}

uint64_t u64map_hash_string(const char *text)
{
	uint64_t hash = 0xcbf29ce484222325ull;

	for (; *text; text++) {
		hash ^= (unsigned char)*text;
		hash *= 0x100000001b3ull;
	}
	return hash;
}
