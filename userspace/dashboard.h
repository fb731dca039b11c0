/* SPDX-License-Identifier: GPL-2.0 */
/*
 * GET /: the dashboard, one self-contained page (userspace/dashboard.html, no external scripts
 * or fonts: these machines may have no internet), linked into the binary as it is.
 */
#ifndef LP_DASHBOARD_H
#define LP_DASHBOARD_H

extern const char dashboard_html[];

#endif
