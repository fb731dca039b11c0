/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Text from outside (a process's comm, a killer's comm, an sd_notify STATUS) made safe where it
 * enters the daemon, so that every JSON body is valid UTF-8 and no terminal or page can be
 * driven by it: valid UTF-8 is kept, and every invalid byte, control character (C0, DEL, C1)
 * and truncated sequence becomes '?'. No errors: the result is always a valid string.
 */
#ifndef LP_TEXT_H
#define LP_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* The length of the valid, printable UTF-8 sequence at s (at most n bytes), or 0. */
static inline size_t text_sequence_len(const unsigned char *s, size_t n)
{
	uint32_t cp;
	size_t len;

	if (s[0] >= 0x20 && s[0] < 0x7f)
		return 1;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		len = 2, cp = s[0] & 0x1f;
	else if (s[0] >= 0xe0 && s[0] <= 0xef)
		len = 3, cp = s[0] & 0x0f;
	else if (s[0] >= 0xf0 && s[0] <= 0xf4)
		len = 4, cp = s[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (s[i] & 0x3f);
	}
	/* Overlong forms, surrogates, past U+10FFFF, and the C1 controls are not text. */
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10ffff ||
	    (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0x80 && cp <= 0x9f))
		return 0;
	return len;
}

/* Copies src (src_len bytes, or up to a NUL) into dst (dst_size > 0), cleaned; returns dst. */
static inline char *text_clean(char *dst, size_t dst_size, const char *src, size_t src_len)
{
	const unsigned char *in = (const unsigned char *)src;
	size_t used = 0, i = 0;

	while (i < src_len && in[i] && used + 1 < dst_size) {
		size_t len = text_sequence_len(in + i, src_len - i);

		if (len == 0) {
			dst[used++] = '?';
			i++;
			continue;
		}
		if (used + len >= dst_size)
			break; /* never half a character */
		for (size_t k = 0; k < len; k++)
			dst[used++] = (char)in[i + k];
		i += len;
	}
	dst[used] = '\0';
	return dst;
}

#endif
