// SPDX-License-Identifier: GPL-2.0
/* See http.h. One thread per connection (capped), so a request that waits for the event loop
 * blocks only itself. */
#include <arpa/inet.h>
#include <errno.h>
#include <json-c/json.h>
#include <microhttpd.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <grp.h>
#include <strings.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bulk.h"
#include "clock.h"
#include "dashboard.h"
#include "events.h"
#include "http.h"
#include "lanes.h"
#include "log.h"
#include "metrics.h"
#include "paths.h"
#include "render.h"
#include "route.h"
#include "saver.h"
#include "u64map.h"
#include "systemd.h"


struct http_server;

/* One listening socket and its libmicrohttpd daemon: the TCP API, or the control socket. */
enum listener_kind {
	LISTENER_CONTROL, /* a pool that accepts from its own socket */
	LISTENER_POOL,	  /* a pool fed by lanes */
	LISTENER_EVENTS,  /* one thread fed by lanes: event streams only */
};

struct http_listener {
	struct http_server *server;
	struct MHD_Daemon *daemon;
	int fd;
	enum listener_kind kind;
};

struct http_server {
	/* TCP connections reach tcp (the pool) or events through lanes; see lanes.h. */
	struct http_listener tcp, events, control;
	struct lanes *lanes;
	struct cmdq *commands;
	unsigned int max_connections, per_client;
	pthread_t watchman;
	bool has_watchman;
	pthread_t renderer;
	bool has_renderer;
	_Atomic bool stopping;
	char where[96];
	char control_path[108];
	char token[HTTP_TOKEN_MAX + 1];
	size_t token_len; /* 0: no token, writes over TCP are refused */
	bool has_api_group;
	gid_t api_gid;
};

enum shared_view { SHARED_WORKERS, SHARED_HOST, SHARED_METRICS, SHARED__COUNT };

/* A reader of a shared view, waiting for the renderer (see renderer()). */
struct render_wait {
	struct MHD_Connection *connection;
	uint64_t arrived_ns, writes; /* when it came, and what it had seen answered */
	unsigned int waited; /* views (1 << view) a render ran for: answer with what there is */
	struct render_wait *next;
};

struct request {
	char *body;
	size_t len;
	bool too_large;
	bool holds_body_fd; /* its response sends a view body's memfd (body_fds_open) */
	struct render_wait wait;
};

/* Responses that hold a descriptor of a view body; past HTTP_BODY_FDS_MAX readers get a copy,
 * so readers never take the descriptors that pidfds are budgeted from (loop.c). */
static _Atomic int body_fds_open;

/* closing: the connection ends after this answer (an event lane's refusals: see lanes.h). */
static enum MHD_Result queue_json(struct MHD_Connection *connection, unsigned int status,
				  char *body, bool closing)
{
	struct MHD_Response *response;
	enum MHD_Result ret;

	if (!body) {
		static char oom[] = "{\"error\":\"out of memory\"}";

		response =
			MHD_create_response_from_buffer(strlen(oom), oom, MHD_RESPMEM_PERSISTENT);
		status = MHD_HTTP_INTERNAL_SERVER_ERROR;
	} else {
		response =
			MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
	}
	if (!response) {
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
	MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
		MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, POST, DELETE");
	if (status == MHD_HTTP_UNAUTHORIZED)
		MHD_add_response_header(response, MHD_HTTP_HEADER_WWW_AUTHENTICATE,
					"Bearer realm=\"liveprobe\"");
	if (closing)
		MHD_add_response_header(response, MHD_HTTP_HEADER_CONNECTION, "close");
	ret = MHD_queue_response(connection, status, response);
	MHD_destroy_response(response);
	return ret;
}

static enum MHD_Result send_json(struct MHD_Connection *connection, unsigned int status, char *body)
{
	return queue_json(connection, status, body, false);
}

static enum MHD_Result send_error(struct MHD_Connection *connection, unsigned int status,
				  const char *message)
{
	return send_json(connection, status, render_error(message));
}

/* A 200 with its type, never cached by anyone between us and the reader. */
static enum MHD_Result queue_ok(struct MHD_Connection *connection, struct MHD_Response *response,
				const char *type)
{
	enum MHD_Result ret;

	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = MHD_queue_response(connection, MHD_HTTP_OK, response);
	MHD_destroy_response(response);
	return ret;
}

static enum MHD_Result send_text(struct MHD_Connection *connection, const char *type, char *body,
				 enum MHD_ResponseMemoryMode mode)
{
	struct MHD_Response *response;

	if (!body)
		return send_error(connection, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory");
	response = MHD_create_response_from_buffer(strlen(body), body, mode);
	if (!response) {
		if (mode == MHD_RESPMEM_MUST_FREE)
			free(body);
		return MHD_NO;
	}
	return queue_ok(connection, response, type);
}

/*
 * The fleet-sized views (the worker list, the host, /metrics) are rendered once and shared:
 * concurrent readers cost one render and one copy of the body, held by reference until the
 * last of them is sent. One thread renders (the renderer, below), so at most one tree is
 * under construction, whatever the load. A body is reused for the snapshot it was rendered
 * from (up to HTTP_SHARE_MAX_AGE_NS, as its ages drift), and for newer snapshots only while it
 * is younger than HTTP_SHARE_FRESH_NS and no write was answered since (read-your-writes): under
 * a stream of changes, at most one body per view per HTTP_SHARE_FRESH_NS, however many read.
 * A body lives in a sealed memfd and goes out with sendfile(): the kernel sends its pages by
 * reference, so a reader costs no copy of a 5 MB list in this process (the buffer copy had held
 * the threads that also serve event streams, and limited readers to a third as many bodies).
 */
#define HTTP_SHARE_MAX_AGE_NS 1000000000ull
#define HTTP_SHARE_FRESH_NS   100000000ull

static _Atomic uint64_t writes_answered;

struct shared_body {
	_Atomic int refs;
	uint64_t tag; /* unique per render: the ETag */
	size_t len;
	int fd;	    /* a sealed memfd holding the body; -1 when text holds it */
	char *text; /* only when there is no memfd (memfd_create or its write failed) */
};

static struct shared_cache {
	_Atomic bool rendering;	   /* the renderer is at work on this view */
	pthread_mutex_t body_lock; /* guards body, writes: held for a pointer swap or a ref */
	struct shared_body *body;
	uint64_t sequence; /* of the snapshot it was rendered from */
	uint64_t writes;   /* writes_answered when it was rendered */
	uint64_t started_ns; /* when its render began */
} shared[SHARED__COUNT] = {
	{.body_lock = PTHREAD_MUTEX_INITIALIZER},
	{.body_lock = PTHREAD_MUTEX_INITIALIZER},
	{.body_lock = PTHREAD_MUTEX_INITIALIZER},
};

static void shared_release(void *cls)
{
	struct shared_body *body = cls;

	if (body && atomic_fetch_sub(&body->refs, 1) == 1) {
		if (body->fd >= 0)
			close(body->fd);
		free(body->text); /* a large one is a mapping of its own: see main()'s mallopt */
		free(body);
	}
}

#define BODY_WRITE_PIECE (64 * 1024)

/* A memfd holding text, sealed so that nothing can change a body after readers have it; -1. */
static int body_memfd(const char *text, size_t len)
{
	int fd = memfd_create("liveprobe-view", MFD_CLOEXEC | MFD_ALLOW_SEALING);

	if (fd < 0)
		return -1;
	/* Pieces with a pause after each: one 10 MB write is milliseconds in the kernel. */
	for (size_t done = 0; done < len;) {
		size_t piece = len - done < BODY_WRITE_PIECE ? len - done : BODY_WRITE_PIECE;
		ssize_t n = write(fd, text + done, piece);

		if (n <= 0) {
			close(fd);
			return -1;
		}
		done += n;
		bulk_pause();
	}
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_SEAL)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* A body's text read in place, for a page that embeds it: its sealed memfd mapped, or its
 * buffer; NULL on failure. Undone by body_unmap. */
static const char *body_map(const struct shared_body *body)
{
	void *text;

	if (body->fd < 0 || !body->len)
		return body->fd < 0 ? body->text : "";
	text = mmap(NULL, body->len, PROT_READ, MAP_SHARED, body->fd, 0);
	return text == MAP_FAILED ? NULL : text;
}

static void body_unmap(const struct shared_body *body, const char *text)
{
	if (text && body->fd >= 0 && body->len)
		munmap((void *)text, body->len);
}

/* A NUL-terminated copy of a body, for a response of its own; NULL on failure. */
static char *body_copy(const struct shared_body *body)
{
	const char *text = body_map(body);
	char *copy = text ? malloc(body->len + 1) : NULL;

	if (copy) {
		memcpy(copy, text, body->len);
		copy[body->len] = '\0';
	}
	body_unmap(body, text);
	return copy;
}

static char *render_shared_view(enum shared_view view_kind, const struct snapshot *snapshot,
				const struct render_view *view)
{
	switch (view_kind) {
	case SHARED_WORKERS:
		return render_workers(snapshot, view);
	case SHARED_HOST:
		return render_host(snapshot, view);
	default:
		return metrics_render(snapshot, view);
	}
}

static _Atomic uint64_t next_body_tag = 1;
/* Tags are per daemon: a restarted one must not answer 304 to its predecessor's ETag. */
static uint64_t started_tag;

/*
 * The cached body, with a reference, when it is as new as a reader who arrived at arrived_ns
 * (having seen `writes` answered) asked for: rendered after it arrived, or from the current
 * snapshot, or recent and with no write answered since. While a render of the view is under
 * way (rendering), any body under a second old with no write since will do: the next request
 * sees the new one.
 */
static struct shared_body *shared_cached(enum shared_view view_kind, uint64_t arrived_ns,
					 uint64_t writes, bool rendering)
{
	struct shared_cache *cache = &shared[view_kind];
	struct shared_body *body = NULL;
	uint64_t now_ns = clock_mono_ns(), sequence = snapshot_sequence();

	pthread_mutex_lock(&cache->body_lock);
	if (cache->body &&
	    (cache->started_ns >= arrived_ns ||
	     (cache->sequence == sequence && now_ns - cache->started_ns <= HTTP_SHARE_MAX_AGE_NS) ||
	     (cache->writes == writes &&
	      now_ns - cache->started_ns <=
		      (rendering ? HTTP_SHARE_MAX_AGE_NS : HTTP_SHARE_FRESH_NS)))) {
		body = cache->body;
		atomic_fetch_add(&body->refs, 1);
	}
	pthread_mutex_unlock(&cache->body_lock);
	return body;
}

/* Renders the view from the current snapshot into the cache: on the renderer's thread only. */
static void shared_render(enum shared_view view_kind)
{
	struct shared_cache *cache = &shared[view_kind];
	uint64_t writes = atomic_load(&writes_answered), started_ns = clock_mono_ns();
	struct snapshot *snapshot = snapshot_acquire();
	struct shared_body *body = NULL;
	struct render_view view;
	char *text;
	size_t len;

	if (!snapshot)
		return;
	render_view_init(&view, snapshot);
	text = render_shared_view(view_kind, snapshot, &view);
	len = text ? strlen(text) : 0;
	body = text ? calloc(1, sizeof(*body)) : NULL;
	if (body) {
		atomic_init(&body->refs, 1); /* the cache's own */
		body->tag = atomic_fetch_add(&next_body_tag, 1);
		body->len = len;
		body->fd = body_memfd(text, len);
		if (body->fd < 0) {
			body->text = text;
			text = NULL;
		}
		pthread_mutex_lock(&cache->body_lock);
		shared_release(cache->body);
		cache->body = body;
		cache->sequence = snapshot->sequence;
		cache->writes = writes;
		cache->started_ns = started_ns;
		pthread_mutex_unlock(&cache->body_lock);
	}
	free(text);
	snapshot_release(snapshot);
}

/*
 * The renderer: a reader of a shared view whose body is not new enough suspends its connection
 * and waits here, so that no HTTP thread renders a fleet-sized view. An HTTP thread serves many
 * connections, and one that rendered 10 MB held up every other reader and event stream it
 * serves, a reader of one worker after a death among them. One render answers every reader
 * that was waiting when it began; those who came during it wait for the next.
 */
static pthread_mutex_t renderer_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t renderer_wake = PTHREAD_COND_INITIALIZER;
static struct render_wait *render_waiting[SHARED__COUNT];
static bool renderer_stopping;

static void renderer_resume(struct render_wait *list, int view_kind)
{
	for (struct render_wait *wait = list, *next; wait; wait = next) {
		next = wait->next;
		wait->waited |= 1u << view_kind;
		MHD_resume_connection(wait->connection);
	}
}

static void *renderer(void *arg)
{
	int next = 0; /* views take turns: readers of one never starve readers of another */

	(void)arg;
	pthread_setname_np(pthread_self(), "lp-render");
	/* Renders are bulk work: a reader of one worker, an event stream and the loop go first.
	 * (who 0 is this thread; the sandbox allows nothing else.) */
	if (setpriority(PRIO_PROCESS, 0, HTTP_RENDERER_NICE))
		log_warn("HTTP renderer: cannot lower its priority: %s", strerror(errno));
	pthread_mutex_lock(&renderer_lock);
	while (!renderer_stopping) {
		struct render_wait *list = NULL;
		int view_kind = next;

		for (int tried = 0; tried < SHARED__COUNT && !list; tried++) {
			view_kind = (next + tried) % SHARED__COUNT;
			list = render_waiting[view_kind];
		}
		if (!list) {
			pthread_cond_wait(&renderer_wake, &renderer_lock);
			continue;
		}
		next = (view_kind + 1) % SHARED__COUNT;
		render_waiting[view_kind] = NULL;
		pthread_mutex_unlock(&renderer_lock);
		atomic_store(&shared[view_kind].rendering, true);
		shared_render(view_kind);
		atomic_store(&shared[view_kind].rendering, false);
		pthread_mutex_lock(&renderer_lock);
		renderer_resume(list, view_kind);
	}
	for (int view_kind = 0; view_kind < SHARED__COUNT; view_kind++) {
		renderer_resume(render_waiting[view_kind], view_kind);
		render_waiting[view_kind] = NULL;
	}
	pthread_mutex_unlock(&renderer_lock);
	return NULL;
}

/*
 * A body new enough for this request; or NULL with *suspended, its connection suspended until
 * one is rendered (the handler is called again then; *wait carries the request's arrival); or
 * NULL when there is none to be had (starting, stopping, out of memory). The renderer may have
 * resumed it already when this returns: only *suspended says it was suspended.
 */
static struct shared_body *shared_get_or_wait(struct MHD_Connection *connection,
					      struct render_wait *wait, enum shared_view view_kind,
					      bool *suspended)
{
	struct shared_body *body;

	*suspended = false;
	if (!wait->arrived_ns) {
		wait->arrived_ns = clock_mono_ns();
		wait->writes = atomic_load(&writes_answered);
	}
	body = shared_cached(view_kind, wait->arrived_ns, wait->writes,
			     atomic_load(&shared[view_kind].rendering));
	if (body || (wait->waited & (1u << view_kind)))
		return body;
	pthread_mutex_lock(&renderer_lock);
	if (renderer_stopping) {
		pthread_mutex_unlock(&renderer_lock);
		return NULL;
	}
	wait->connection = connection;
	wait->next = render_waiting[view_kind];
	render_waiting[view_kind] = wait;
	MHD_suspend_connection(connection);
	*suspended = true;
	pthread_cond_signal(&renderer_wake);
	pthread_mutex_unlock(&renderer_lock);
	return NULL;
}

/* A response that sends the body; the caller's reference goes with it. */
static struct MHD_Response *shared_response(struct request *request, struct shared_body *body)
{
	struct MHD_Response *response = NULL;
	char *copy;
	int fd = -1;

	if (body->fd < 0) {
		response = MHD_create_response_from_buffer_with_free_callback_cls(
			body->len, body->text, shared_release, body);
		if (!response)
			shared_release(body);
		return response;
	}
	/* MHD closes the descriptor it is given with the response: each response has its own. */
	if (atomic_fetch_add(&body_fds_open, 1) < HTTP_BODY_FDS_MAX)
		fd = fcntl(body->fd, F_DUPFD_CLOEXEC, 0);
	if (fd >= 0) {
		response = MHD_create_response_from_fd64(body->len, fd);
		if (!response)
			close(fd);
	}
	if (response) {
		request->holds_body_fd = true;
	} else {
		atomic_fetch_sub(&body_fds_open, 1);
		/* At the limit, or out of descriptors: this reader gets a copy. */
		copy = body_copy(body);
		response = copy ? MHD_create_response_from_buffer(body->len, copy,
								  MHD_RESPMEM_MUST_FREE)
				: NULL;
		if (!response)
			free(copy);
	}
	shared_release(body);
	return response;
}

static enum MHD_Result send_shared(struct MHD_Connection *connection, struct request *request,
				   enum shared_view view_kind, const char *type)
{
	struct render_wait *wait = &request->wait;
	const char *if_none_match;
	struct MHD_Response *response;
	struct shared_body *body;
	enum MHD_Result ret;
	bool suspended;
	char etag[40];

	body = shared_get_or_wait(connection, wait, view_kind, &suspended);
	if (suspended)
		return MHD_YES; /* answered when the renderer resumes it */
	if (!body)
		return send_error(connection, MHD_HTTP_SERVICE_UNAVAILABLE,
				  "daemon is starting, or out of memory");
	/* A poller that has this very body gets 304 and no bytes: a body is one render, shared
	 * by every reader until the snapshot moves on. */
	snprintf(etag, sizeof(etag), "\"lp-%llx-%llx\"", (unsigned long long)started_tag,
		 (unsigned long long)body->tag);
	if_none_match = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
						    MHD_HTTP_HEADER_IF_NONE_MATCH);
	if (if_none_match && strstr(if_none_match, etag)) {
		shared_release(body);
		response = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		if (!response)
			return MHD_NO;
		MHD_add_response_header(response, MHD_HTTP_HEADER_ETAG, etag);
		MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
		ret = MHD_queue_response(connection, MHD_HTTP_NOT_MODIFIED, response);
		MHD_destroy_response(response);
		return ret;
	}
	response = shared_response(request, body);
	if (!response)
		return MHD_NO;
	MHD_add_response_header(response, MHD_HTTP_HEADER_ETAG, etag);
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	/* Revalidate every time (the verdicts move), but a 304 costs nothing. */
	MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
	ret = MHD_queue_response(connection, MHD_HTTP_OK, response);
	MHD_destroy_response(response);
	return ret;
}

static enum MHD_Result get_metrics(struct MHD_Connection *connection, struct request *request)
{
	return send_shared(connection, request, SHARED_METRICS,
			   "text/plain; version=0.0.4; charset=utf-8");
}

/*
 * Request deadlines. An idle timeout alone lets a client that sends one byte every few seconds
 * hold a connection forever; so each request's headers and body must arrive within
 * HTTP_REQUEST_DEADLINE_S of the connection (or of the previous answer on it), or the
 * watchman shuts the socket down. Answered requests and event streams have no deadline.
 */
struct conn_watch {
	int fd;
	uint64_t deadline_ns; /* 0: none */
	struct conn_watch *prev, *next;
};

static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static struct conn_watch *watched;
static _Atomic uint64_t deadline_cuts;
/* TCP connections handed on by lanes and not yet started by their server: fd -> when it was
 * accepted, in ms modulo 2^32 (an entry lives for microseconds). Under watch_lock. */
static struct u64map handed_at_ms;

static void remember_accept(int fd, uint64_t accepted_ns)
{
	pthread_mutex_lock(&watch_lock);
	u64map_put(&handed_at_ms, fd, (uint32_t)(accepted_ns / 1000000));
	pthread_mutex_unlock(&watch_lock);
}

static void forget_accept(int fd)
{
	pthread_mutex_lock(&watch_lock);
	u64map_del(&handed_at_ms, fd);
	pthread_mutex_unlock(&watch_lock);
}

/* A request's headers and body are due HTTP_REQUEST_DEADLINE_S after its connection was
 * accepted: the time it waited in lanes counts. */
static uint64_t request_deadline(int fd, bool handed_on)
{
	uint64_t now_ns = clock_mono_ns(), waited_ns = 0;
	uint32_t accepted_ms;

	if (handed_on && u64map_get(&handed_at_ms, fd, &accepted_ms)) {
		waited_ns = (uint32_t)(now_ns / 1000000 - accepted_ms) * 1000000ull;
		u64map_del(&handed_at_ms, fd);
	}
	if (waited_ns > HTTP_REQUEST_DEADLINE_S * 1000000000ull)
		return now_ns;
	return now_ns + HTTP_REQUEST_DEADLINE_S * 1000000000ull - waited_ns;
}

static void notify_connection(void *cls, struct MHD_Connection *connection, void **socket_context,
			      enum MHD_ConnectionNotificationCode code)
{
	const struct http_listener *listener = cls;
	struct conn_watch *watch = *socket_context;

	if (code == MHD_CONNECTION_NOTIFY_STARTED) {
		const union MHD_ConnectionInfo *info =
			MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);

		watch = calloc(1, sizeof(*watch));
		if (!watch || !info) {
			free(watch);
			return;
		}
		watch->fd = info->connect_fd;
		/* One send to a fast reader must not copy megabytes while the other connections of
		 * its HTTP thread (an event stream, a one-worker read) wait their turn. */
		setsockopt(watch->fd, SOL_SOCKET, SO_SNDBUF, &(int){HTTP_SNDBUF_BYTES},
			   sizeof(int));
		pthread_mutex_lock(&watch_lock);
		watch->deadline_ns =
			request_deadline(watch->fd, listener->kind != LISTENER_CONTROL);
		watch->next = watched;
		if (watched)
			watched->prev = watch;
		watched = watch;
		pthread_mutex_unlock(&watch_lock);
		*socket_context = watch;
	} else if (code == MHD_CONNECTION_NOTIFY_CLOSED && watch) {
		/* Before MHD closes the socket: the watchman must never touch a reused fd. */
		pthread_mutex_lock(&watch_lock);
		if (watch->prev)
			watch->prev->next = watch->next;
		else
			watched = watch->next;
		if (watch->next)
			watch->next->prev = watch->prev;
		pthread_mutex_unlock(&watch_lock);
		free(watch);
		*socket_context = NULL;
	}
}

/* A request arrived whole (answered: no deadline), or was answered and the next may come. */
static void set_deadline(struct MHD_Connection *connection, bool none)
{
	const union MHD_ConnectionInfo *info =
		MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
	struct conn_watch *watch = info ? info->socket_context : NULL;

	if (!watch)
		return;
	pthread_mutex_lock(&watch_lock);
	watch->deadline_ns =
		none ? 0 : clock_mono_ns() + HTTP_REQUEST_DEADLINE_S * 1000000000ull;
	pthread_mutex_unlock(&watch_lock);
}

static void cut_late_requests(void)
{
	uint64_t now_ns = clock_mono_ns();

	pthread_mutex_lock(&watch_lock);
	for (struct conn_watch *watch = watched; watch; watch = watch->next) {
		if (watch->deadline_ns && now_ns > watch->deadline_ns) {
			shutdown(watch->fd, SHUT_RDWR);
			watch->deadline_ns = 0;
			atomic_fetch_add(&deadline_cuts, 1);
		}
	}
	pthread_mutex_unlock(&watch_lock);
}

/*
 * Server-Sent Events on a thread pool: a stream with nothing to send suspends its connection
 * (it costs no thread while it waits). A transition resumes every waiting stream on the
 * publisher's thread (events_set_listener), and the watchman does once a second, so that a
 * client that hung up is noticed and a keep-alive goes out. The suspend decision and the
 * resume pass hold sse_lock, and the stream looks at the newest id under it, so no transition
 * can slip in between unnoticed.
 */
struct sse_client {
	struct MHD_Connection *connection;
	int fd; /* the connection's socket, watched for a client that went away */
	uint64_t last_id;
	uint64_t last_sent_ns;
	bool suspended;
	struct sse_client *next;
	char pending[2 * FLEET_REASON_MAX + 512];
	size_t pending_len, pending_off;
};

static pthread_mutex_t sse_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sse_client *sse_clients;
static bool sse_stopping;

static bool client_hung_up(const struct sse_client *client)
{
	struct pollfd hangup = {.fd = client->fd, .events = POLLRDHUP};

	return client->fd >= 0 && poll(&hangup, 1, 0) > 0 &&
	       (hangup.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static ssize_t sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
	struct sse_client *client = cls;
	struct events_entry entry;
	size_t n;

	(void)pos;
	if (client->pending_off == client->pending_len) {
		int got = events_next(client->last_id, &entry, 0);

		if (got < 0 || sse_stopping)
			return MHD_CONTENT_READER_END_OF_STREAM;
		if (got == 0 && client_hung_up(client))
			return MHD_CONTENT_READER_END_WITH_ERROR;
		if (got > 0) {
			client->last_id = entry.id;
			client->pending_len =
				events_format(&entry, client->pending, sizeof(client->pending));
			if (client->pending_len >= sizeof(client->pending))
				client->pending_len = sizeof(client->pending) - 1;
		} else if (clock_mono_ns() - client->last_sent_ns >=
			   EVENTS_KEEPALIVE_MS * 1000000ull) {
			client->pending_len = snprintf(client->pending, sizeof(client->pending),
						       ": keep-alive\n\n");
		} else {
			pthread_mutex_lock(&sse_lock);
			if (events_last_id() == client->last_id ||
			    client->last_id > events_last_id()) {
				client->suspended = true;
				MHD_suspend_connection(client->connection);
			}
			pthread_mutex_unlock(&sse_lock);
			return 0; /* resumed by the next transition or the watchman */
		}
		client->pending_off = 0;
		client->last_sent_ns = clock_mono_ns();
	}
	n = client->pending_len - client->pending_off;
	if (n > max)
		n = max;
	memcpy(buf, client->pending + client->pending_off, n);
	client->pending_off += n;
	return n;
}

static void sse_done(void *cls)
{
	struct sse_client *client = cls;

	pthread_mutex_lock(&sse_lock);
	for (struct sse_client **at = &sse_clients; *at; at = &(*at)->next) {
		if (*at == client) {
			*at = client->next;
			break;
		}
	}
	pthread_mutex_unlock(&sse_lock);
	free(client);
	events_leave();
}

/* Resumes every waiting stream; each looks for its news, or suspends again. */
static void sse_resume_all(void)
{
	pthread_mutex_lock(&sse_lock);
	for (struct sse_client *client = sse_clients; client; client = client->next) {
		if (client->suspended) {
			client->suspended = false;
			MHD_resume_connection(client->connection);
		}
	}
	pthread_mutex_unlock(&sse_lock);
}

static enum MHD_Result get_events(struct MHD_Connection *connection, bool events_lane)
{
	const char *resume =
		MHD_lookup_connection_value(connection, MHD_HEADER_KIND, "Last-Event-ID");
	struct MHD_Response *response;
	struct sse_client *client;
	enum MHD_Result ret;

	if (!events_join())
		return queue_json(connection, MHD_HTTP_SERVICE_UNAVAILABLE,
				  render_error("too many event streams (--sse-clients)"),
				  events_lane);
	client = calloc(1, sizeof(*client));
	if (!client) {
		events_leave();
		return send_error(connection, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
	}
	{
		const union MHD_ConnectionInfo *info =
			MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);

		client->fd = info ? info->connect_fd : -1;
	}
	client->connection = connection;
	client->last_sent_ns = clock_mono_ns();
	/*
	 * Without Last-Event-ID a stream starts now; with it, right after that event. An id this
	 * daemon never gave (not a number, or from before a restart: ids start again at 1) would
	 * wait for events that never come; such a client gets every transition still kept.
	 */
	client->last_id = events_last_id();
	if (resume) {
		char *end;
		unsigned long long id = strtoull(resume, &end, 10);

		client->last_id = *end || id > client->last_id ? 0 : id;
	}
	client->pending_len = snprintf(client->pending, sizeof(client->pending),
				       ": liveprobe transitions\nretry: 2000\n\n");
	response = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 1024, sse_read, client,
						     sse_done);
	if (!response) {
		sse_done(client);
		return MHD_NO;
	}
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
	MHD_add_response_header(response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	ret = MHD_queue_response(connection, MHD_HTTP_OK, response);
	MHD_destroy_response(response);
	if (ret == MHD_YES) {
		pthread_mutex_lock(&sse_lock);
		client->next = sse_clients;
		sse_clients = client;
		pthread_mutex_unlock(&sse_lock);
		set_deadline(connection, true);
	}
	return ret;
}

/* Compares in time that depends only on the token's length, not on where a guess goes wrong. */
static bool token_matches(const struct http_server *server, const char *given)
{
	size_t given_len = strlen(given);
	unsigned char diff = given_len != server->token_len;

	for (size_t i = 0; i < server->token_len; i++)
		diff |= (unsigned char)server->token[i] ^
			(unsigned char)(i < given_len ? given[i] : 0);
	return diff == 0;
}

static bool in_api_group(const struct http_server *server, int fd, gid_t primary)
{
	gid_t groups[256];
	socklen_t len = sizeof(groups);

	if (!server->has_api_group)
		return false;
	if (primary == server->api_gid)
		return true;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len))
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++) {
		if (groups[i] == server->api_gid)
			return true;
	}
	return false;
}

/*
 * May this connection write? Over the control socket: root or an --api-group member, by the
 * kernel's word (SO_PEERCRED, SO_PEERGROUPS). Over TCP: the bearer token. REPORT_OK or the
 * reason for the refusal, which is answered and counted here.
 */
static enum report_error check_writer(const struct http_listener *listener,
				      struct MHD_Connection *connection, enum MHD_Result *answer)
{
	struct http_server *server = listener->server;
	enum report_error refused = REPORT_OK;
	unsigned int status = MHD_HTTP_FORBIDDEN;
	const char *message = NULL;

	if (listener->kind == LISTENER_CONTROL) {
		const union MHD_ConnectionInfo *info =
			MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
		struct ucred cred;
		socklen_t len = sizeof(cred);

		if (info && !getsockopt(info->connect_fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) &&
		    (cred.uid == 0 || in_api_group(server, info->connect_fd, cred.gid)))
			return REPORT_OK;
		refused = REPORT_ERR_WRITE_NOT_AUTHORISED;
		message = "writes through the control socket need root or --api-group membership";
	} else if (!server->token_len) {
		refused = REPORT_ERR_WRITE_NO_TOKEN;
		message = "writes need --api-token-file or the control socket";
	} else {
		const char *header = MHD_lookup_connection_value(connection, MHD_HEADER_KIND,
								 MHD_HTTP_HEADER_AUTHORIZATION);

		if (header && !strncasecmp(header, "Bearer ", 7) &&
		    token_matches(server, header + 7))
			return REPORT_OK;
		status = MHD_HTTP_UNAUTHORIZED;
		refused = header ? REPORT_ERR_WRITE_BAD_TOKEN : REPORT_ERR_WRITE_NO_TOKEN;
		message = header ? "wrong bearer token" : "writes need Authorization: Bearer TOKEN";
	}
	cmdq_count_refusal(server->commands, refused);
	log_limited(refused, "HTTP write refused: %s", message);
	*answer = send_error(connection, status, message);
	return refused;
}

static unsigned int status_of_error(int err)
{
	switch (err) {
	case -EEXIST:
		return MHD_HTTP_CONFLICT;
	case -ENOSPC:
		return MHD_HTTP_SERVICE_UNAVAILABLE;
	case -ENOENT:
		return MHD_HTTP_NOT_FOUND;
	default:
		return MHD_HTTP_BAD_REQUEST;
	}
}

/* The new worker as readers see it: the loop published a snapshot holding it before answering. */
static char *render_registered(const char *name)
{
	struct snapshot *snapshot = snapshot_acquire();
	const struct worker *worker = snapshot ? snapshot_find_name(snapshot, name) : NULL;
	struct render_view view;
	char *body;

	if (!worker) {
		/* Forgotten again between the answer and this read: say what was done. */
		json_object *root = json_object_new_object();

		json_object_object_add(root, "name", json_object_new_string(name));
		body = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
		json_object_put(root);
	} else {
		render_view_init(&view, snapshot);
		body = render_worker(worker, snapshot_conns_of(snapshot, worker), &view);
	}
	if (snapshot)
		snapshot_release(snapshot);
	return body;
}

/* Queues a write for the loop and answers with its result. */
static enum MHD_Result run_command(struct http_server *server, struct MHD_Connection *connection,
				   struct cmd *cmd)
{
	if (cmdq_submit(server->commands, cmd))
		return send_error(connection, MHD_HTTP_SERVICE_UNAVAILABLE, "daemon is stopping");
	/* Durable before it is answered; a save that fails shows in /api/v1/host, as always. */
	if (cmd->durable_after)
		saver_wait(cmd->durable_after);
	atomic_fetch_add(&writes_answered, 1); /* shared bodies from before it are stale now */
	if (cmd->result)
		return send_error(connection, status_of_error(cmd->result), cmd->error);
	switch (cmd->kind) {
	case CMD_ADD_WORKER:
		return send_json(connection, MHD_HTTP_CREATED, render_registered(cmd->name));
	case CMD_FORGET_WORKER:
		return send_json(connection, MHD_HTTP_OK, strdup("{\"forgotten\":true}"));
	case CMD_REPORTS:
		break;
	}
	return send_json(connection, MHD_HTTP_OK, render_batch_answer(cmd->accepted, cmd->dropped));
}

/* The body parsed as JSON; NULL once *answer is queued: 413 past the limit, 400 with usage. */
static json_object *json_body(struct MHD_Connection *connection, const struct request *request,
			      const char *usage, enum MHD_Result *answer)
{
	json_object *root;

	if (request->too_large) {
		*answer = send_error(connection, MHD_HTTP_CONTENT_TOO_LARGE,
				     "request body over 65536 bytes");
		return NULL;
	}
	root = request->body ? json_tokener_parse(request->body) : NULL;
	if (!root)
		*answer = send_error(connection, MHD_HTTP_BAD_REQUEST, usage);
	return root;
}

static enum MHD_Result add_worker(struct http_server *server, struct MHD_Connection *connection,
				  struct request *request)
{
	static const char usage[] = "body must be a JSON object like {\"name\":\"a\",\"pid\":123}";
	struct cmd cmd = {.kind = CMD_ADD_WORKER, .expects_output = -1};
	json_object *root, *name, *pid, *expects;
	enum MHD_Result ret;
	int64_t pid_value;

	root = json_body(connection, request, usage, &ret);
	if (!root)
		return ret;
	if (!json_object_is_type(root, json_type_object)) {
		json_object_put(root);
		return send_error(connection, MHD_HTTP_BAD_REQUEST, usage);
	}
	if (!json_object_object_get_ex(root, "pid", &pid) ||
	    !json_object_is_type(pid, json_type_int)) {
		ret = send_error(connection, MHD_HTTP_BAD_REQUEST, "\"pid\" must be an integer");
		goto cleanup;
	}
	pid_value = json_object_get_int64(pid);
	if (pid_value <= 0 || pid_value > 4194304) {
		ret = send_error(connection, MHD_HTTP_BAD_REQUEST, "\"pid\" must be in 1..4194304");
		goto cleanup;
	}
	cmd.pid = pid_value;
	if (json_object_object_get_ex(root, "name", &name) &&
	    !json_object_is_type(name, json_type_null)) {
		const char *text = json_object_get_string(name);

		if (!json_object_is_type(name, json_type_string) ||
		    strlen(text) >= sizeof(cmd.name)) {
			ret = send_error(
				connection, MHD_HTTP_BAD_REQUEST,
				"\"name\" must be a string of 1..63 letters, digits and ._-:@[]+");
			goto cleanup;
		}
		strcpy(cmd.name, text);
	}
	if (json_object_object_get_ex(root, "expects_output", &expects) &&
	    !json_object_is_type(expects, json_type_null)) {
		if (!json_object_is_type(expects, json_type_boolean)) {
			ret = send_error(connection, MHD_HTTP_BAD_REQUEST,
					 "\"expects_output\" must be true or false");
			goto cleanup;
		}
		cmd.expects_output = json_object_get_boolean(expects);
	}
	ret = run_command(server, connection, &cmd);
cleanup:
	json_object_put(root);
	return ret;
}

static enum MHD_Result post_episodes(struct http_server *server, struct MHD_Connection *connection,
				     struct request *request)
{
	static const char usage[] = "body must be a JSON array like [{\"worker\":\"a\"}]";
	struct cmd cmd = {.kind = CMD_REPORTS};
	json_object *root;
	enum MHD_Result ret;
	size_t n;

	root = json_body(connection, request, usage, &ret);
	if (!root)
		return ret;
	if (json_object_is_type(root, json_type_object)) {
		json_object *list = json_object_new_array();

		/* One object is a batch of one. */
		json_object_array_add(list, root);
		root = list;
	}
	if (!json_object_is_type(root, json_type_array)) {
		json_object_put(root);
		return send_error(connection, MHD_HTTP_BAD_REQUEST, usage);
	}
	n = json_object_array_length(root);
	cmd.reports = calloc(n ?: 1, sizeof(*cmd.reports));
	if (!cmd.reports) {
		json_object_put(root);
		return send_error(connection, MHD_HTTP_SERVICE_UNAVAILABLE, "out of memory");
	}
	for (size_t i = 0; i < n; i++) {
		enum report_error err = report_from_json(json_object_array_get_idx(root, i),
							 &cmd.reports[cmd.n_reports]);

		if (err)
			cmd.dropped[err]++;
		else
			cmd.n_reports++;
	}
	json_object_put(root);
	ret = run_command(server, connection, &cmd);
	free(cmd.reports);
	return ret;
}

static enum MHD_Result forget_worker(struct http_server *server, struct MHD_Connection *connection,
				     const char *name)
{
	struct cmd cmd = {.kind = CMD_FORGET_WORKER};

	if (strlen(name) >= sizeof(cmd.name))
		return send_error(connection, MHD_HTTP_NOT_FOUND, "no such worker");
	strcpy(cmd.name, name);
	return run_command(server, connection, &cmd);
}

/* ?stale_after=SECONDS applies another staleness threshold to this response only. */
static bool view_from_query(struct MHD_Connection *connection, const struct snapshot *snapshot,
			    struct render_view *view)
{
	const char *text =
		MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "stale_after");
	const char *state = MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "state");
	const char *health =
		MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "health");
	const char *limit = MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "limit");
	static const char *const health_names[] = {"green", "amber", "red", "grey"};
	const char *state_names[WS__COUNT];
	double seconds;
	int index;

	render_view_init(view, snapshot);
	if (text) {
		if (route_parse_stale_after(text, &seconds))
			return false;
		view->policy.stale_after_s = seconds;
	}
	for (int i = 0; i < WS__COUNT; i++)
		state_names[i] = fleet_state_name(i);
	if (state) {
		if ((index = route_parse_name(state, state_names, WS__COUNT)) < 0)
			return false;
		view->state_filter = index + 1;
	}
	if (health) {
		if ((index = route_parse_name(health, health_names, 4)) < 0)
			return false;
		view->health_filter = index + 1;
	}
	if (limit && route_parse_limit(limit, &view->limit))
		return false;
	return true;
}

/* The page with the shared host and workers bodies inline; the bare page before the first
 * snapshot (it then fetches them itself). Its bodies are waited for like any reader's: no HTTP
 * thread renders a fleet-sized view for it. */
static enum MHD_Result get_dashboard(struct MHD_Connection *connection, struct request *request)
{
	struct shared_body *host, *workers = NULL;
	const char *host_text = NULL, *workers_text = NULL;
	char *page = NULL;
	bool suspended;
	size_t len = 0;

	host = shared_get_or_wait(connection, &request->wait, SHARED_HOST, &suspended);
	if (suspended)
		return MHD_YES; /* called again once the renderer resumes it */
	if (host) {
		workers = shared_get_or_wait(connection, &request->wait, SHARED_WORKERS,
					     &suspended);
		if (suspended) {
			shared_release(host);
			return MHD_YES;
		}
	}
	if (host && workers) {
		host_text = body_map(host);
		workers_text = body_map(workers);
	}
	if (host_text && workers_text)
		page = dashboard_page(host_text, host->len, workers_text, workers->len, &len);
	body_unmap(host, host_text);
	body_unmap(workers, workers_text);
	shared_release(host);
	shared_release(workers);
	(void)len;
	if (!page)
		return send_text(connection, "text/html; charset=utf-8", (char *)dashboard_html,
				 MHD_RESPMEM_PERSISTENT);
	return send_text(connection, "text/html; charset=utf-8", page, MHD_RESPMEM_MUST_FREE);
}

static enum MHD_Result get_view(struct MHD_Connection *connection, struct request *request,
				const char *url)
{
	struct snapshot *snapshot;
	unsigned int status = MHD_HTTP_OK;
	struct render_view view;
	char *body = NULL;

	/* The default views of the whole fleet are shared; a view with a query is the reader's. */
	if (!MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "stale_after") &&
	    !MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "state") &&
	    !MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "health") &&
	    !MHD_lookup_connection_value(connection, MHD_GET_ARGUMENT_KIND, "limit")) {
		if (!strcmp(url, "/api/v1/host"))
			return send_shared(connection, request, SHARED_HOST,
					   "application/json");
		if (!strcmp(url, ROUTE_WORKERS_PATH))
			return send_shared(connection, request, SHARED_WORKERS,
					   "application/json");
	}
	snapshot = snapshot_acquire();
	if (!snapshot)
		return send_error(connection, MHD_HTTP_SERVICE_UNAVAILABLE, "daemon is starting");
	if (!view_from_query(connection, snapshot, &view)) {
		snapshot_release(snapshot);
		return send_error(connection, MHD_HTTP_BAD_REQUEST,
				  "bad query: stale_after is seconds in (0, 86400], state a state "
				  "name, health green|amber|red|grey, limit 1..1048576");
	}
	if (!strcmp(url, "/healthz")) {
		int healthy;

		body = render_healthz(snapshot, &healthy);
		status = healthy ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE;
	} else if (!strcmp(url, "/api/v1/host")) {
		body = render_host(snapshot, &view);
	} else if (!strcmp(url, ROUTE_WORKERS_PATH)) {
		body = render_workers(snapshot, &view);
	} else {
		const char *name = url + strlen(ROUTE_WORKERS_PATH "/");

		const struct worker *worker = snapshot_find_name(snapshot, name);

		if (worker) {
			body = render_worker(worker, snapshot_conns_of(snapshot, worker), &view);
		} else {
			status = MHD_HTTP_NOT_FOUND;
			body = render_error("no such worker");
		}
	}
	snapshot_release(snapshot);
	return send_json(connection, status, body);
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *connection, const char *url,
			      const char *method, const char *version, const char *upload_data,
			      size_t *upload_data_size, void **con_cls)
{
	struct http_listener *listener = cls;
	struct http_server *server = listener->server;
	struct request *request = *con_cls;
	enum MHD_Result answer;
	enum route route = route_of(url);
	bool is_get = !strcmp(method, MHD_HTTP_METHOD_GET) || !strcmp(method, MHD_HTTP_METHOD_HEAD);
	bool is_post = !strcmp(method, MHD_HTTP_METHOD_POST);
	bool is_delete = !strcmp(method, MHD_HTTP_METHOD_DELETE);

	(void)version;
	if (!request) {
		request = calloc(1, sizeof(*request));
		if (!request)
			return MHD_NO;
		*con_cls = request;
		return MHD_YES;
	}
	if (*upload_data_size) {
		if (!request->too_large &&
		    request->len + *upload_data_size <= HTTP_MAX_BODY_BYTES) {
			char *grown = realloc(request->body, request->len + *upload_data_size + 1);

			if (!grown)
				return MHD_NO;
			request->body = grown;
			memcpy(request->body + request->len, upload_data, *upload_data_size);
			request->len += *upload_data_size;
			request->body[request->len] = '\0';
		} else {
			request->too_large = true;
		}
		*upload_data_size = 0;
		return MHD_YES;
	}

	set_deadline(connection, true); /* the whole request is here: it is answered now */
	/* Only a later request on an event lane's connection can get here (lanes.h): it would
	 * put a body on the thread kept for streams, so it goes to a new connection. */
	if (listener->kind == LISTENER_EVENTS && (route != ROUTE_EVENTS || !is_get))
		return queue_json(connection, MHD_HTTP_MISDIRECTED_REQUEST,
				  render_error("this connection serves only GET /api/v1/events; "
					       "ask again on a new one"),
				  true);
	if ((is_post || is_delete) &&
	    (route == ROUTE_WORKERS || route == ROUTE_WORKER_ONE || route == ROUTE_EPISODES) &&
	    check_writer(listener, connection, &answer) != REPORT_OK)
		return answer;
	switch (route) {
	case ROUTE_NONE:
		return send_error(connection, MHD_HTTP_NOT_FOUND, "no such path");
	case ROUTE_READ:
		if (is_get)
			return get_view(connection, request, url);
		break;
	case ROUTE_WORKERS:
		if (is_get)
			return get_view(connection, request, url);
		if (is_post)
			return add_worker(server, connection, request);
		break;
	case ROUTE_WORKER_ONE:
		if (is_get)
			return get_view(connection, request, url);
		if (is_delete)
			return forget_worker(server, connection,
					     url + strlen(ROUTE_WORKERS_PATH "/"));
		break;
	case ROUTE_EPISODES:
		if (is_post)
			return post_episodes(server, connection, request);
		break;
	case ROUTE_METRICS:
		if (is_get)
			return get_metrics(connection, request);
		break;
	case ROUTE_EVENTS:
		if (is_get)
			return get_events(connection, listener->kind == LISTENER_EVENTS);
		break;
	case ROUTE_DASHBOARD:
		if (is_get)
			return get_dashboard(connection, request);
		break;
	}
	return send_error(connection, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed here");
}

static void request_completed(void *cls, struct MHD_Connection *connection, void **con_cls,
			      enum MHD_RequestTerminationCode code)
{
	struct request *request = *con_cls;

	(void)cls, (void)code;
	set_deadline(connection, false); /* the next request on this connection has its own */
	if (request) {
		if (request->holds_body_fd)
			atomic_fetch_sub(&body_fds_open, 1);
		free(request->body);
		free(request);
		*con_cls = NULL;
	}
}

static bool is_loopback(const struct sockaddr *addr)
{
	if (addr->sa_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)addr)->sin_addr.s_addr) >> 24) == 127;
	if (addr->sa_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)addr)->sin6_addr);
	return false;
}

static int open_listener(const char *host, uint16_t port, bool writes_allowed)
{
	struct addrinfo hints = {.ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE};
	struct addrinfo *info = NULL;
	char port_text[8];
	int fd = -1, one = 1, err;

	fd = systemd_listen_fd(SOCK_STREAM, NULL, port);
	if (fd >= 0)
		return fd; /* passed by systemd: connections wait in its backlog across restarts */
	snprintf(port_text, sizeof(port_text), "%u", port);
	err = getaddrinfo(host, port_text, &hints, &info);
	if (err) {
		log_error("cannot resolve listen address %s: %s", host, gai_strerror(err));
		return -EINVAL;
	}
	fd = socket(info->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(fd, info->ai_addr, info->ai_addrlen) || listen(fd, 128)) {
		err = -errno;
		log_error("cannot listen on %s:%u: %s", host, port, strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(info);
		return err;
	}
	if (!is_loopback(info->ai_addr))
		log_warn("HTTP API bound to %s:%u, beyond loopback: anyone who reaches it can read "
			 "every worker's state%s",
			 host, port,
			 writes_allowed ? ", and the token is sent in clear text (put TLS in front)"
					: "");
	freeaddrinfo(info);
	return fd;
}

/* The token: a root-owned regular file nobody else may write or read (0600, 0640 or less). */
static int load_token(struct http_server *server, const char *path)
{
	struct stat st;
	ssize_t len;
	int fd, err = 0;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		err = -errno;
		log_error("--api-token-file %s: %s", path, strerror(errno));
		return err;
	}
	if (fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		log_error("--api-token-file %s: not a regular file", path);
		err = -EINVAL;
	} else if (st.st_uid != 0 || (st.st_mode & 0137)) {
		log_error(
			"--api-token-file %s: must be owned by root with mode 0600 or 0640 (it is "
			"uid %u, mode %04o)",
			path, (unsigned int)st.st_uid, (unsigned int)(st.st_mode & 07777));
		err = -EPERM;
	}
	len = err ? 0 : read(fd, server->token, sizeof(server->token) - 1);
	close(fd);
	if (err)
		return err;
	while (len > 0 && (server->token[len - 1] == '\n' || server->token[len - 1] == '\r'))
		len--;
	server->token[len > 0 ? len : 0] = '\0';
	if (len < HTTP_TOKEN_MIN || len >= HTTP_TOKEN_MAX ||
	    strspn(server->token, "!\"#$%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				  "[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~") != (size_t)len) {
		log_error("--api-token-file %s: the token must be %d..%d printable characters "
			  "without spaces, on one line",
			  path, HTTP_TOKEN_MIN, HTTP_TOKEN_MAX - 1);
		return -EINVAL;
	}
	server->token_len = len;
	return 0;
}

/* The control socket: mode 0660, owned by root and --api-group. */
static int open_control(struct http_server *server, const char *path, const char *group_name)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct group *group = NULL;
	int fd, err;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		log_error("--api-socket %s: longer than %zu bytes", path,
			  sizeof(addr.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	if (group_name[0]) {
		group = getgrnam(group_name);
		if (!group) {
			log_error("--api-group %s: no such group", group_name);
			return -ENOENT;
		}
		server->has_api_group = true;
		server->api_gid = group->gr_gid;
	}
	strcpy(addr.sun_path, path);
	fd = systemd_listen_fd(SOCK_STREAM, path, 0);
	if (fd >= 0)
		return fd; /* passed by systemd, with the socket unit's mode and group */
	{
		char why[320];

		err = paths_prepare_socket(path, SOCK_STREAM, why, sizeof(why));
		if (err) {
			log_error("--api-socket: %s%s", why,
				  err == -EADDRINUSE
					  ? " (another liveprobed serves it; use --api-socket)"
					  : "");
			return err;
		}
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof(addr)) ||
	    chmod(path, 0660) || chown(path, 0, group ? group->gr_gid : 0) || listen(fd, 128)) {
		err = -errno;
		log_error("--api-socket %s: %s", path, strerror(errno));
		if (fd >= 0) {
			close(fd);
			unlink(path);
		}
		return err;
	}
	snprintf(server->control_path, sizeof(server->control_path), "%s", path);
	return fd;
}

/*
 * libmicrohttpd's epoll threads: thousands of idle connections cost a few KiB each, not a
 * thread each. A handler never blocks for long: reads render from the snapshot, writes wait
 * for the event loop's answer (sub-millisecond), event streams suspend while idle.
 */
static int start_listener(struct http_server *server, struct http_listener *listener, int fd,
			  enum listener_kind kind, unsigned int max_connections)
{
	unsigned int flags = MHD_USE_EPOLL_INTERNAL_THREAD | MHD_ALLOW_SUSPEND_RESUME;
	struct MHD_OptionItem by_kind[3] = {{MHD_OPTION_END, 0, NULL}};
	int n = 0;

	if (log_is_verbose())
		flags |= MHD_USE_ERROR_LOG;
	if (kind == LISTENER_CONTROL)
		by_kind[n++] = (struct MHD_OptionItem){MHD_OPTION_LISTEN_SOCKET, fd, NULL};
	else
		flags |= MHD_USE_NO_LISTEN_SOCKET;
	if (kind != LISTENER_EVENTS)
		by_kind[n++] =
			(struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, HTTP_THREADS, NULL};
	by_kind[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
	listener->server = server;
	listener->fd = fd;
	listener->kind = kind;
	listener->daemon = MHD_start_daemon(
		flags, 0, NULL, NULL, handle, listener, MHD_OPTION_ARRAY, by_kind,
		MHD_OPTION_CONNECTION_LIMIT, max_connections,
		/* Per client address; the control socket's peers all share one. */
		MHD_OPTION_PER_IP_CONNECTION_LIMIT,
		kind == LISTENER_CONTROL ? 0u : server->per_client,
		MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)HTTP_TIMEOUT_S,
		MHD_OPTION_NOTIFY_COMPLETED, request_completed, NULL,
		MHD_OPTION_NOTIFY_CONNECTION, notify_connection, listener, MHD_OPTION_END);
	return listener->daemon ? 0 : -EIO;
}

/* lanes_hand_fn: libmicrohttpd closes fd when it cannot take it. */
static bool hand_connection(void *ctx, enum route_lane lane, int fd, const struct sockaddr *addr,
			    socklen_t addr_len, uint64_t accepted_ns)
{
	struct http_server *server = ctx;
	/* Both servers run before lanes starts (http_serve_events, then http_serve). */
	struct MHD_Daemon *daemon =
		lane == ROUTE_LANE_EVENTS ? server->events.daemon : server->tcp.daemon;

	remember_accept(fd, accepted_ns);
	if (MHD_add_connection(daemon, fd, addr, addr_len) == MHD_YES)
		return true;
	forget_accept(fd); /* closed unstarted: the number is free for another socket */
	return false;
}

/* Wakes the watchman early: the server is stopping. */
static pthread_mutex_t watchman_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t watchman_wake = PTHREAD_COND_INITIALIZER;

/* Once a second: event streams are resumed (a keep-alive, a client that hung up) and late
 * requests cut. Transitions resume the streams themselves. */
static void *watchman(void *arg)
{
	struct http_server *server = arg;

	pthread_setname_np(pthread_self(), "lp-watchman");
	pthread_mutex_lock(&watchman_lock);
	while (!atomic_load(&server->stopping)) {
		struct timespec deadline;

		clock_gettime(CLOCK_MONOTONIC, &deadline);
		deadline.tv_sec++;
		pthread_cond_clockwait(&watchman_wake, &watchman_lock, CLOCK_MONOTONIC, &deadline);
		if (atomic_load(&server->stopping))
			break;
		pthread_mutex_unlock(&watchman_lock);
		sse_resume_all();
		cut_late_requests();
		pthread_mutex_lock(&watchman_lock);
	}
	pthread_mutex_unlock(&watchman_lock);
	return NULL;
}

int http_open(const struct http_config *config, struct http_server **out)
{
	struct http_server *server;
	int fd, err;

	*out = NULL;
	started_tag = (uint64_t)time(NULL);
	server = calloc(1, sizeof(*server));
	if (!server)
		return -ENOMEM;
	server->commands = config->commands;
	server->max_connections = config->max_connections;
	server->per_client = config->per_client;
	server->tcp.fd = server->events.fd = server->control.fd = -1;
	/* Twice the limit: each lane's server applies it on its own. */
	if (u64map_init(&handed_at_ms, 2 * (size_t)config->max_connections)) {
		log_error("no memory for %u HTTP connections", config->max_connections);
		free(server);
		return -ENOMEM;
	}
	snprintf(server->where, sizeof(server->where), "%s:%u", config->host, config->port);
	if (config->token_file && config->token_file[0]) {
		err = load_token(server, config->token_file);
		if (err)
			goto cleanup;
	}
	fd = open_listener(config->host, config->port, server->token_len > 0);
	if (fd < 0) {
		err = fd;
		goto cleanup;
	}
	server->tcp.fd = fd;
	if (config->api_socket && config->api_socket[0]) {
		fd = open_control(server, config->api_socket, config->api_group ?: "");
		if (fd < 0) {
			err = fd;
			goto cleanup;
		}
		server->control.fd = fd;
	}
	*out = server;
	return 0;

cleanup:
	http_stop(server);
	return err;
}

int http_serve_events(struct http_server *server)
{
	if (start_listener(server, &server->events, -1, LISTENER_EVENTS, server->max_connections)) {
		log_error("cannot start the HTTP event-stream thread");
		return -EIO;
	}
	return 0;
}

int http_serve(struct http_server *server)
{
	struct lanes_config lanes = {
		.listen_fd = server->tcp.fd,
		.max_waiting = server->max_connections,
		.per_client = server->per_client,
		.deadline_s = HTTP_REQUEST_DEADLINE_S,
		.hand = hand_connection,
		.ctx = server,
	};
	int err = pthread_create(&server->watchman, NULL, watchman, server);

	if (err) {
		log_error("cannot start the HTTP watchman thread: %s", strerror(err));
		return -err;
	}
	server->has_watchman = true;
	err = pthread_create(&server->renderer, NULL, renderer, NULL);
	if (err) {
		log_error("cannot start the HTTP renderer thread: %s", strerror(err));
		return -err;
	}
	server->has_renderer = true;
	/* A transition resumes the streams waiting for it on the loop's own thread. */
	events_set_listener(sse_resume_all);
	if (start_listener(server, &server->tcp, server->tcp.fd, LISTENER_POOL,
			   server->max_connections)) {
		log_error("cannot start the HTTP server on %s", server->where);
		return -EIO;
	}
	if (server->control.fd >= 0 && start_listener(server, &server->control, server->control.fd,
						      LISTENER_CONTROL, HTTP_CONTROL_CONNECTIONS)) {
		log_error("cannot serve the control socket %s", server->control_path);
		return -EIO;
	}
	return lanes_start(&lanes, &server->lanes); /* last: it hands to both lanes */
}

static void stop_listener(struct http_listener *listener)
{
	if (listener->daemon)
		MHD_stop_daemon(listener->daemon);
	if (listener->fd >= 0)
		close(listener->fd);
	listener->daemon = NULL;
	listener->fd = -1;
}

void http_stop(struct http_server *server)
{
	if (!server)
		return;
	/* No connection is handed on once its lane may be stopping. */
	lanes_stop(server->lanes);
	/* Suspended streams must be resumed to end before their daemon stops. */
	atomic_store(&server->stopping, true);
	pthread_mutex_lock(&watchman_lock);
	pthread_cond_signal(&watchman_wake);
	pthread_mutex_unlock(&watchman_lock);
	events_set_listener(NULL);
	pthread_mutex_lock(&sse_lock);
	sse_stopping = true;
	pthread_mutex_unlock(&sse_lock);
	if (server->has_watchman)
		pthread_join(server->watchman, NULL);
	sse_resume_all();
	/* Readers waiting for a render are resumed too, and answered 503. */
	pthread_mutex_lock(&renderer_lock);
	renderer_stopping = true;
	pthread_cond_signal(&renderer_wake);
	pthread_mutex_unlock(&renderer_lock);
	if (server->has_renderer)
		pthread_join(server->renderer, NULL);
	stop_listener(&server->events);
	stop_listener(&server->tcp);
	stop_listener(&server->control);
	if (server->control_path[0])
		unlink(server->control_path);
	for (int view = 0; view < SHARED__COUNT; view++) {
		pthread_mutex_lock(&shared[view].body_lock);
		shared_release(shared[view].body);
		shared[view].body = NULL;
		pthread_mutex_unlock(&shared[view].body_lock);
	}
	u64map_free(&handed_at_ms);
	explicit_bzero(server->token, sizeof(server->token));
	free(server);
}
