/* SPDX-License-Identifier: GPL-2.0 */
/* The version both binaries print, and /metrics' liveprobe_build_info carries. */
#ifndef LP_VERSION_H
#define LP_VERSION_H

#define LP_VERSION "0.7.0"
/* The git commit, from the generated lp_commit.h (the Makefile rewrites it when HEAD moves). */
#if __has_include("lp_commit.h")
#include "lp_commit.h"
#endif
#ifndef LP_COMMIT
#define LP_COMMIT "unknown"
#endif

#endif
