/* SPDX-License-Identifier: GPL-2.0 */
/*
 * A small test harness in the style of the kernel's test_progs: each test is a function, ASSERT_*
 * macros print the failed comparison with its values and mark the current test failed, and the
 * runner prints one "PASS: name", "FAIL: name" or "SKIP: name (why)" line per test for
 * tests/run.sh to count. A test that cannot run here calls test__skip() with the reason and
 * returns: it is counted as skipped, never as passed.
 * Include it in exactly one file per test binary, after defining the test table.
 */
#ifndef LP_HARNESS_H
#define LP_HARNESS_H

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

struct harness_test {
	const char *name;
	void (*fn)(void);
};

static bool harness_failed;
static char harness_skip_reason[160];

/* The current test cannot run on this machine; why is shown beside its name. */
#define test__skip(why) snprintf(harness_skip_reason, sizeof(harness_skip_reason), "%s", why)

#define HARNESS_FAIL(fmt, ...)                                                                     \
	do {                                                                                       \
		harness_failed = true;                                                             \
		fprintf(stderr, "    %s:%d: " fmt "\n", __FILE__, __LINE__, ##__VA_ARGS__);        \
	} while (0)

#define ASSERT_TRUE(cond, what)                                                                    \
	({                                                                                         \
		bool ___ok = (cond);                                                               \
		if (!___ok)                                                                        \
			HARNESS_FAIL("%s: expected true: %s", what, #cond);                        \
		___ok;                                                                             \
	})

#define ASSERT_EQ(actual, expected, what)                                                          \
	({                                                                                         \
		long long ___a = (long long)(actual), ___e = (long long)(expected);                \
		bool ___ok = ___a == ___e;                                                         \
		if (!___ok)                                                                        \
			HARNESS_FAIL("%s: %s = %lld, expected %lld", what, #actual, ___a, ___e);   \
		___ok;                                                                             \
	})

/* 0 is success, anything else (a -errno) is the failure shown. */
#define ASSERT_OK(res, what)                                                                       \
	({                                                                                         \
		long long ___r = (long long)(res);                                                 \
		bool ___ok = ___r == 0;                                                            \
		if (!___ok)                                                                        \
			HARNESS_FAIL("%s: %s = %lld (%s), expected 0", what, #res, ___r,           \
				     ___r < 0 ? strerror((int)-___r) : "not an errno");            \
		___ok;                                                                             \
	})

#define ASSERT_OK_PTR(ptr, what)                                                                   \
	({                                                                                         \
		const void *___p = (ptr);                                                          \
		bool ___ok = ___p != NULL;                                                         \
		if (!___ok)                                                                        \
			HARNESS_FAIL("%s: %s is NULL", what, #ptr);                                \
		___ok;                                                                             \
	})

#define ASSERT_GE(actual, bound, what)                                                             \
	({                                                                                         \
		long long ___a = (long long)(actual), ___b = (long long)(bound);                   \
		bool ___ok = ___a >= ___b;                                                         \
		if (!___ok)                                                                        \
			HARNESS_FAIL("%s: %s = %lld, expected >= %lld", what, #actual, ___a,       \
				     ___b);                                                        \
		___ok;                                                                             \
	})

#define ASSERT_STREQ(actual, expected, what)                                                       \
	({                                                                                         \
		const char *___a = (actual), *___e = (expected);                                   \
		bool ___ok = ___a && ___e && !strcmp(___a, ___e);                                  \
		if (!___ok)                                                                        \
			HARNESS_FAIL("%s: %s = \"%s\", expected \"%s\"", what, #actual,            \
				     ___a ? ___a : "(null)", ___e ? ___e : "(null)");              \
		___ok;                                                                             \
	})

/* Runs the tests whose name contains filter (all when NULL); returns the number failed. */
static inline int harness_run(const struct harness_test *tests, int n_tests, const char *filter)
{
	int failed = 0;

	for (int i = 0; i < n_tests; i++) {
		if (filter && !strstr(tests[i].name, filter))
			continue;
		harness_failed = false;
		harness_skip_reason[0] = '\0';
		tests[i].fn();
		if (!harness_failed && harness_skip_reason[0])
			printf("SKIP: %s (%s)\n", tests[i].name, harness_skip_reason);
		else
			printf("%s: %s\n", harness_failed ? "FAIL" : "PASS", tests[i].name);
		fflush(stdout);
		failed += harness_failed;
	}
	return failed;
}

#endif
