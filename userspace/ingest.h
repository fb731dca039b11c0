/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Where worker reports come in: the Unix datagram socket (--ingest; SO_PASSCRED, so each
 * datagram carries its sender's kernel-verified pid) and, when asked, a UDP socket
 * (--ingest-udp) for reporters elsewhere. Owns both sockets and the per-reason counts of what
 * was dropped; reads a bounded number of datagrams per wake-up so a flood never starves the
 * event loop, and never blocks. What a report means is the loop's business.
 *
 * Errors: ingest_open returns -errno after one logged line; at run time a bad datagram is
 * counted under its reason, never logged per datagram.
 */
#ifndef LP_INGEST_H
#define LP_INGEST_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "report.h"

#define INGEST_DATAGRAM_MAX (64 * 1024)
#define INGEST_BATCH	    64	 /* datagrams per recvmmsg */
/* Datagrams per wake-up, then the loop (and the ring buffer) gets a turn. */
#define INGEST_PER_WAKE	    256
#define INGEST_QUEUE_MIN    4096 /* net.unix.max_dgram_qlen the daemon raises to, if lower */

enum ingest_via {
	INGEST_UNIX,
	INGEST_UDP,
	INGEST_HTTP,
};

#define INGEST_NO_UID ((uid_t)-1)

/* Who sent a report, as far as the kernel (or the HTTP layer's authorisation) can vouch. */
struct ingest_sender {
	enum ingest_via via;
	pid_t pid; /* kernel-verified over the Unix socket (SO_PASSCRED), else 0 */
	uid_t uid; /* likewise, else INGEST_NO_UID */
	bool admin; /* root over the Unix socket, or an authorised HTTP writer */
	/*
	 * With ingest_want_pidfds: the sender's pidfd (SCM_PIDFD), open while fn runs. It names
	 * the sender's cgroup even after the sender exited, or its pid went to another process.
	 */
	bool has_pidfd;
	int pidfd;
	/* Pidfds were asked for and this datagram brought none (its sender filled the control
	 * space with descriptors of its own, or an older kernel had none for a sender already
	 * reaped): its pid proves no cgroup. */
	bool pidfd_lost;
	/* CLOCK_MONOTONIC when its datagram (or HTTP batch) was taken: the time of each report in
	 * it, so a flood reads the clock once a datagram, not twice a report. */
	uint64_t received_ns;
};

typedef void (*ingest_fn)(void *ctx, const struct report *report,
			  const struct ingest_sender *sender);
/* Called between two datagrams, so that a flood never holds up what else the caller does. */
typedef void (*ingest_between_fn)(void *ctx);

struct ingest_stats {
	uint64_t datagrams;
	uint64_t reports; /* well-formed lines (and sd_notify messages) */
	uint64_t dropped[REPORT_ERR__COUNT];
};

struct ingest {
	int unix_fd;
	int udp_fd;
	char path[108];
	bool unlink_on_close;
	bool from_systemd; /* socket activation: systemd owns the path, its mode and group */
	bool pidfds;	   /* SO_PASSPIDFD is on */
	struct ingest_stats stats;
	char *buffers; /* INGEST_BATCH datagrams */
};

/*
 * Binds the sockets; 0 or -errno after one logged line. group empty: the daemon's own group owns
 * the Unix socket; udp_host empty: no UDP.
 */
int ingest_open(struct ingest *ingest, const char *path, const char *group, const char *udp_host,
		uint16_t udp_port);
/*
 * Asks the kernel for each Unix datagram's sender pidfd too (SO_PASSPIDFD, Linux 6.5), for
 * what the sender's cgroup decides: a descriptor per datagram, so only when cgroups are
 * watched. false when the kernel cannot (then /proc, which a sender that exits at once beats).
 */
bool ingest_want_pidfds(struct ingest *ingest);
void ingest_close(struct ingest *ingest);
/* Reads what is waiting on fd (one of ours), hands each report to fn, and calls between (if
 * not NULL) after each datagram; returns datagrams read. */
int ingest_drain(struct ingest *ingest, int fd, ingest_fn fn, ingest_between_fn between,
		 void *ctx);

#endif
