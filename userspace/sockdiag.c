// SPDX-License-Identifier: GPL-2.0
/* See sockdiag.h. */
#include <errno.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "sockdiag.h"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

/* include/net/tcp_states.h */
enum { TCP_LISTEN_ = 10, TCP_TIME_WAIT_ = 6, TCP_NEW_SYN_RECV_ = 12 };

int sockdiag_open(void)
{
	int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);

	return fd < 0 ? -errno : fd;
}

static void normalise(struct sockdiag_conn *conn)
{
	static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

	if (conn->family != AF_INET6 || memcmp(conn->local_addr, mapped, 12) ||
	    memcmp(conn->peer_addr, mapped, 12))
		return;
	memmove(conn->local_addr, conn->local_addr + 12, 4);
	memmove(conn->peer_addr, conn->peer_addr + 12, 4);
	memset(conn->local_addr + 4, 0, 12);
	memset(conn->peer_addr + 4, 0, 12);
	conn->family = AF_INET;
}

static void parse_message(const struct nlmsghdr *header, sockdiag_fn fn, void *ctx)
{
	const struct inet_diag_msg *msg = NLMSG_DATA(header);
	int attr_len = header->nlmsg_len - NLMSG_LENGTH(sizeof(*msg));
	const struct rtattr *attr = (const struct rtattr *)(msg + 1);
	struct sockdiag_conn conn = {};
	size_t addr_len = msg->idiag_family == AF_INET ? 4 : 16;

	if (attr_len < 0)
		return;
	conn.cookie = (uint64_t)msg->id.idiag_cookie[1] << 32 | msg->id.idiag_cookie[0];
	conn.inode = msg->idiag_inode;
	conn.family = msg->idiag_family;
	conn.state = msg->idiag_state;
	conn.local_port = ntohs(msg->id.idiag_sport);
	conn.peer_port = ntohs(msg->id.idiag_dport);
	memcpy(conn.local_addr, msg->id.idiag_src, addr_len);
	memcpy(conn.peer_addr, msg->id.idiag_dst, addr_len);
	normalise(&conn);
	for (; RTA_OK(attr, attr_len); attr = RTA_NEXT(attr, attr_len)) {
		struct tcp_info info = {};
		size_t payload = RTA_PAYLOAD(attr);

		if (attr->rta_type != INET_DIAG_INFO)
			continue;
		/* Older kernels send a shorter tcp_info; missing fields stay zero. */
		memcpy(&info, RTA_DATA(attr), payload < sizeof(info) ? payload : sizeof(info));
		conn.has_info = true;
		conn.retransmits = info.tcpi_retransmits;
		conn.backoff = info.tcpi_backoff;
		conn.probes = info.tcpi_probes;
		conn.unacked = info.tcpi_unacked;
		conn.last_data_recv_ms = info.tcpi_last_data_recv;
	}
	fn(ctx, &conn);
}

/*
 * inet_diag bytecode for "local or remote port is one of these", so the kernel sends only worker
 * connections, not every socket of a busy host. Each test is three ops: the comparison (its
 * second op holds the port), then a JMP to the end, which accepts. A miss skips to the next
 * test; the last miss jumps past the end, which rejects. (A comparison's own "yes" offset is a
 * byte, too short to reach the end of a long program; JMP's offset is 16 bits.)
 */
static size_t port_filter(const uint16_t *ports, int n_ports, struct inet_diag_bc_op *ops)
{
	const size_t test_len = 3 * sizeof(*ops);
	size_t total = (size_t)n_ports * 2 * test_len, at = 0;

	for (int i = 0; i < n_ports; i++) {
		for (int side = 0; side < 2; side++) {
			struct inet_diag_bc_op *op = &ops[at / sizeof(*op)];
			bool last = i == n_ports - 1 && side == 1;

			op[0].code = side ? INET_DIAG_BC_D_EQ : INET_DIAG_BC_S_EQ;
			op[0].yes = 2 * sizeof(*op);
			op[0].no = last ? total - at + 4 : test_len;
			op[1].code = INET_DIAG_BC_NOP;
			op[1].yes = sizeof(*op);
			op[1].no = ports[i];
			op[2].code = INET_DIAG_BC_JMP;
			op[2].yes = sizeof(*op);
			op[2].no = total - at - 2 * sizeof(*op);
			at += test_len;
		}
	}
	return total;
}

static int dump_family(int fd, int family, const uint16_t *ports, int n_ports, sockdiag_fn fn,
		       sockdiag_between_fn between, void *ctx)
{
	struct {
		struct nlmsghdr header;
		struct inet_diag_req_v2 req;
		struct rtattr filter;
		struct inet_diag_bc_op ops[SOCKDIAG_MAX_PORTS * 6];
	} request = {
		.header =
			{
				.nlmsg_len = NLMSG_LENGTH(sizeof(struct inet_diag_req_v2)),
				.nlmsg_type = SOCK_DIAG_BY_FAMILY,
				.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			},
		.req =
			{
				.sdiag_family = family,
				.sdiag_protocol = IPPROTO_TCP,
				.idiag_ext = 1 << (INET_DIAG_INFO - 1),
				.idiag_states = ~((1u << TCP_LISTEN_) | (1u << TCP_TIME_WAIT_) |
						  (1u << TCP_NEW_SYN_RECV_)),
			},
	};
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	static char buffer[32768] __attribute__((aligned(NLMSG_ALIGNTO)));

	if (n_ports > SOCKDIAG_MAX_PORTS)
		return -E2BIG;
	if (n_ports) {
		size_t filter_len = port_filter(ports, n_ports, request.ops);

		request.filter.rta_type = INET_DIAG_REQ_BYTECODE;
		request.filter.rta_len = RTA_LENGTH(filter_len);
		request.header.nlmsg_len += RTA_ALIGN(request.filter.rta_len);
	}
	if (sendto(fd, &request, request.header.nlmsg_len, 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0)
		return -errno;
	for (;;) {
		ssize_t len = recv(fd, buffer, sizeof(buffer), 0);
		const struct nlmsghdr *header = (const struct nlmsghdr *)buffer;

		if (len < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		for (; NLMSG_OK(header, (size_t)len); header = NLMSG_NEXT(header, len)) {
			if (header->nlmsg_type == NLMSG_DONE)
				return 0;
			if (header->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *error = NLMSG_DATA(header);

				return error->error ? error->error : -EIO;
			}
			if (header->nlmsg_type == SOCK_DIAG_BY_FAMILY)
				parse_message(header, fn, ctx);
		}
		if (between)
			between(ctx);
	}
}

int sockdiag_dump(int fd, const uint16_t *ports, int n_ports, sockdiag_fn fn,
		  sockdiag_between_fn between, void *ctx)
{
	int err = dump_family(fd, AF_INET, ports, n_ports, fn, between, ctx);

	/* A kernel without IPv6 answers ENOENT for AF_INET6: that is no connections, not a fault.
	 */
	if (!err) {
		err = dump_family(fd, AF_INET6, ports, n_ports, fn, between, ctx);
		if (err == -ENOENT)
			err = 0;
	}
	return err;
}

uint64_t sockdiag_netns_cookie(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	uint64_t cookie = 0;
	socklen_t len = sizeof(cookie);

	if (fd < 0)
		return 0;
	if (getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len))
		cookie = 0;
	close(fd);
	return cookie;
}
