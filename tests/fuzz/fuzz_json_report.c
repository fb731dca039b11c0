// SPDX-License-Identifier: GPL-2.0
/* libFuzzer: a POST /api/v1/episodes body, as json-c parses it and report_from_json reads it. */
#include <json-c/json.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

static void check(json_object *obj)
{
	struct report report;

	if (report_from_json(obj, &report) == REPORT_OK && !worker_name_valid(report.worker))
		__builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_tokener *tokener = json_tokener_new();
	json_object *root;

	if (!tokener)
		return 0;
	root = json_tokener_parse_ex(tokener, (const char *)data, (int)size);
	if (root && json_object_is_type(root, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(root); i++)
			check(json_object_array_get_idx(root, i));
	} else if (root) {
		check(root);
	}
	json_object_put(root);
	json_tokener_free(tokener);
	return 0;
}
