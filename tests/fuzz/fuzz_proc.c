// SPDX-License-Identifier: GPL-2.0
/* libFuzzer: /proc/PID/stat and /proc/PID/status text (a comm is any bytes a process chose),
 * and the text cleaning every outside string goes through. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proc.h"
#include "text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proc_identity id;
	char *text = malloc(size + 1);
	char clean[64];

	if (!text)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	if (proc_parse_stat(text, &id) == 0 && strlen(id.comm) >= sizeof(id.comm))
		__builtin_trap();
	proc_parse_status_uid(text);
	text_clean(clean, sizeof(clean), (const char *)data, size);
	for (size_t i = 0; clean[i]; i++) {
		if ((unsigned char)clean[i] < 0x20 || clean[i] == 0x7f)
			__builtin_trap(); /* nothing a terminal would obey */
	}
	free(text);
	return 0;
}
