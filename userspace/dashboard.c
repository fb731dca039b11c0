// SPDX-License-Identifier: GPL-2.0
/* See dashboard.h. The assembler's .incbin copies the page in verbatim; the Makefile makes this
 * object depend on the page, and runs the compiler from the top of the tree. */
#include <stdlib.h>
#include <string.h>

#include "dashboard.h"

#define INITIAL_MARKER "/*LIVEPROBE-INITIAL-DATA*/null"

__asm__(".section .rodata\n"
	".global dashboard_html\n"
	".type dashboard_html, @object\n"
	"dashboard_html:\n"
	".incbin \"userspace/dashboard.html\"\n"
	".byte 0\n"
	".size dashboard_html, . - dashboard_html\n"
	".previous\n");

static size_t put_json(char *out, const char *json, size_t len)
{
	size_t used = 0;

	for (size_t i = 0; i < len; i++) {
		if (json[i] == '<') {
			memcpy(out + used, "\\u003c", 6);
			used += 6;
		} else {
			out[used++] = json[i];
		}
	}
	return used;
}

char *dashboard_page(const char *host, size_t host_len, const char *workers, size_t workers_len,
		     size_t *len)
{
	const char *marker = strstr(dashboard_html, INITIAL_MARKER);
	size_t page_len = strlen(dashboard_html), head, used;
	char *page;

	if (!marker)
		return NULL;
	head = marker - dashboard_html;
	/* At worst every byte of the JSON is a '<', six bytes each. */
	page = malloc(page_len + 6 * (host_len + workers_len) + 32);
	if (!page)
		return NULL;
	memcpy(page, dashboard_html, head);
	used = head;
	memcpy(page + used, "{\"host\":", 8);
	used += 8;
	used += put_json(page + used, host, host_len);
	memcpy(page + used, ",\"workers\":", 11);
	used += 11;
	used += put_json(page + used, workers, workers_len);
	page[used++] = '}';
	memcpy(page + used, marker + strlen(INITIAL_MARKER),
	       page_len - head - strlen(INITIAL_MARKER) + 1);
	used += page_len - head - strlen(INITIAL_MARKER);
	*len = used;
	return page;
}
