// SPDX-License-Identifier: GPL-2.0
/* See dashboard.h. The assembler's .incbin copies the page in verbatim; the Makefile makes this
 * object depend on the page, and runs the compiler from the top of the tree. */
#include "dashboard.h"

__asm__(".section .rodata\n"
	".global dashboard_html\n"
	".type dashboard_html, @object\n"
	"dashboard_html:\n"
	".incbin \"userspace/dashboard.html\"\n"
	".byte 0\n"
	".size dashboard_html, . - dashboard_html\n"
	".previous\n");
