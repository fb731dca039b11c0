/* SPDX-License-Identifier: GPL-2.0 */
/*
 * GET /: the dashboard, one self-contained page (userspace/dashboard.html, no external scripts
 * or fonts: these machines may have no internet), linked into the binary as it is, and served
 * with the current host and workers views inline, so its first paint is never empty.
 */
#ifndef LP_DASHBOARD_H
#define LP_DASHBOARD_H

#include <stddef.h>

extern const char dashboard_html[];

/*
 * The page with {"host": HOST, "workers": WORKERS} (two JSON texts) in place of its INITIAL
 * value; every '<' in them written as \u003c, so no text can close the script. Malloc'd, or
 * NULL when out of memory.
 */
char *dashboard_page(const char *host, size_t host_len, const char *workers, size_t workers_len,
		     size_t *len);

#endif
