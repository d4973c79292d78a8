/* SPDX-License-Identifier: ISC */
/*
 * curlev: curl multi on libevent. curl tells us which sockets to watch
 * (curlev_on_socket) and when to call it back (curlev_on_timer); libevent
 * tells curl what happened (curl_multi_socket_action), after which every
 * finished transfer is handed to its owner. Each easy handle carries a
 * struct curlev_xfer in CURLOPT_PRIVATE with its completion callback.
 */
#include <sys/socket.h>

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <jansson.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "heal/curlev.h"

#define CURLEV_POOL 64 /* idle easy handles kept for reuse */

struct curlev {
	struct event_base *base;
	CURLM *multi;
	struct event *timer;
	CURL *pool[CURLEV_POOL]; /* a handle costs kilobytes to set up */
	size_t npool;
	struct curlev_sock **socks; /* by descriptor */
	size_t nsocks;
};

struct curlev_xfer {
	curlev_done_cb cb;
	void *arg;
};

/*
 * One per socket curl opened through us (curlev_on_open) or asked us to
 * watch. A connection goes back to curl's cache after each transfer and
 * curl stops watching it; the next transfer on it watches it again. Its
 * event stays registered meanwhile ("parked"), which spares two epoll_ctl
 * per request; it is dropped for good when curl closes the socket
 * (curlev_on_close), or unregistered if the socket turns readable while
 * parked (the server closed it; curl finds that out at reuse). Only
 * sockets we saw opened are parked: only their closing is reported.
 */
struct curlev_sock {
	struct curlev *cv;
	curl_socket_t fd;
	struct event ev;
	short kind;  /* EV_READ|EV_WRITE registered, 0 = none */
	int owned;   /* opened by curlev_on_open: its close is reported */
	int watched; /* curl wants it watched now */
};

static void curlev_on_event(evutil_socket_t, short, void *);

static void
curlev_finished(struct curlev *cv)
{
	struct curlev_xfer *x;
	CURLMsg *msg;
	CURLcode rc;
	CURL *easy;
	int left;

	while ((msg = curl_multi_info_read(cv->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		easy = msg->easy_handle;
		rc = msg->data.result;
		x = NULL;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
		curl_multi_remove_handle(cv->multi, easy);
		curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
		if (x == NULL)
			continue;
		/* the callback may add or remove other transfers */
		x->cb(easy, rc, x->arg);
		free(x);
	}
}

static void
curlev_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct curlev *cv = arg;
	int running;

	(void)fd;
	(void)what;
	curl_multi_socket_action(cv->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	curlev_finished(cv);
}

/* CURLMOPT_TIMERFUNCTION: -1 stops the timer, 0 means "soon" (never call
 * socket_action from inside this callback) */
static int
curlev_on_timer(CURLM *multi, long timeout_ms, void *arg)
{
	struct curlev *cv = arg;
	struct timeval tv;

	(void)multi;
	if (timeout_ms < 0) {
		evtimer_del(cv->timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	evtimer_add(cv->timer, &tv);
	return 0;
}

static struct curlev_sock *
curlev_sock_get(struct curlev *cv, curl_socket_t s, int create)
{
	size_t n;

	if (s < 0)
		return NULL;
	if ((size_t)s < cv->nsocks && cv->socks[s] != NULL)
		return cv->socks[s];
	if (!create)
		return NULL;
	if ((size_t)s >= cv->nsocks) {
		n = (size_t)s + 64;
		cv->socks = xreallocarray(cv->socks, n, sizeof(*cv->socks));
		memset(cv->socks + cv->nsocks, 0,
		    (n - cv->nsocks) * sizeof(*cv->socks));
		cv->nsocks = n;
	}
	cv->socks[s] = xcalloc(1, sizeof(**cv->socks));
	cv->socks[s]->cv = cv;
	cv->socks[s]->fd = s;
	return cv->socks[s];
}

static void
curlev_sock_unregister(struct curlev_sock *cs)
{
	if (cs->kind != 0)
		event_del(&cs->ev);
	cs->kind = 0;
}

static void
curlev_sock_free(struct curlev *cv, struct curlev_sock *cs)
{
	curlev_sock_unregister(cs);
	cv->socks[cs->fd] = NULL;
	free(cs);
}

static void
curlev_on_event(evutil_socket_t fd, short what, void *arg)
{
	struct curlev_sock *cs = arg;
	struct curlev *cv = cs->cv;
	int flags = 0, running;

	if (!cs->watched) {
		/* parked and readable: closed by the server, or junk */
		curlev_sock_unregister(cs);
		return;
	}
	if (what & EV_READ)
		flags |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(cv->multi, fd, flags, &running);
	curlev_finished(cv);
}

/* CURLMOPT_SOCKETFUNCTION: watch, re-watch or forget one socket */
static int
curlev_on_socket(CURL *easy, curl_socket_t s, int what, void *arg, void *sp)
{
	struct curlev *cv = arg;
	struct curlev_sock *cs;
	short kind = 0;

	(void)easy;
	(void)sp;
	if (what == CURL_POLL_REMOVE) {
		if ((cs = curlev_sock_get(cv, s, 0)) == NULL)
			return 0;
		cs->watched = 0;
		if (!cs->owned)
			curlev_sock_free(cv, cs);
		else if (cs->kind & EV_WRITE)
			curlev_sock_unregister(cs); /* would fire at once */
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	cs = curlev_sock_get(cv, s, 1);
	cs->watched = 1;
	if (cs->kind == kind)
		return 0;
	curlev_sock_unregister(cs);
	event_assign(
	    &cs->ev, cv->base, s, kind | EV_PERSIST, curlev_on_event, cs);
	event_add(&cs->ev, NULL);
	cs->kind = kind;
	return 0;
}

/* CURLOPT_OPENSOCKETFUNCTION: what curl would do, and we know of it */
static curl_socket_t
curlev_on_open(void *arg, curlsocktype purpose, struct curl_sockaddr *addr)
{
	struct curlev *cv = arg;
	struct curlev_sock *cs;
	curl_socket_t s;

	(void)purpose;
	if ((s = socket(addr->family, addr->socktype, addr->protocol)) == -1)
		return CURL_SOCKET_BAD;
	(void)fcntl(s, F_SETFD, FD_CLOEXEC);
	/* a stale entry cannot be: its close would have removed it */
	if ((cs = curlev_sock_get(cv, s, 0)) != NULL)
		curlev_sock_free(cv, cs);
	curlev_sock_get(cv, s, 1)->owned = 1;
	return s;
}

/* CURLOPT_CLOSESOCKETFUNCTION: curl kept with the connection */
static int
curlev_on_close(void *arg, curl_socket_t s)
{
	struct curlev *cv = arg;
	struct curlev_sock *cs;

	if ((cs = curlev_sock_get(cv, s, 0)) != NULL)
		curlev_sock_free(cv, cs);
	return close(s);
}

struct curlev *
curlev_new(struct event_base *base)
{
	struct curlev *cv = xcalloc(1, sizeof(*cv));

	cv->base = base;
	if ((cv->multi = curl_multi_init()) == NULL)
		fatalx("curl_multi_init");
	cv->timer = evtimer_new(base, curlev_on_timeout, cv);
	curl_multi_setopt(cv->multi, CURLMOPT_SOCKETFUNCTION, curlev_on_socket);
	curl_multi_setopt(cv->multi, CURLMOPT_SOCKETDATA, cv);
	curl_multi_setopt(cv->multi, CURLMOPT_TIMERFUNCTION, curlev_on_timer);
	curl_multi_setopt(cv->multi, CURLMOPT_TIMERDATA, cv);
	/* the default (4x the transfers running) shrinks between bursts and
	 * closes connections a moment later wanted again */
	curl_multi_setopt(cv->multi, CURLMOPT_MAXCONNECTS, 256L);
	return cv;
}

int
curlev_add(struct curlev *cv, CURL *easy, curlev_done_cb cb, void *arg)
{
	struct curlev_xfer *x = xcalloc(1, sizeof(*x));

	x->cb = cb;
	x->arg = arg;
	curl_easy_setopt(easy, CURLOPT_PRIVATE, x);
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETFUNCTION, curlev_on_open);
	curl_easy_setopt(easy, CURLOPT_OPENSOCKETDATA, cv);
	curl_easy_setopt(easy, CURLOPT_CLOSESOCKETFUNCTION, curlev_on_close);
	curl_easy_setopt(easy, CURLOPT_CLOSESOCKETDATA, cv);
	if (curl_multi_add_handle(cv->multi, easy) != CURLM_OK) {
		curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
		free(x);
		return -1;
	}
	return 0;
}

void
curlev_remove(struct curlev *cv, CURL *easy)
{
	struct curlev_xfer *x = NULL;

	curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&x);
	if (x == NULL)
		return;
	curl_multi_remove_handle(cv->multi, easy);
	curl_easy_setopt(easy, CURLOPT_PRIVATE, NULL);
	free(x);
}

CURL *
curlev_easy(struct curlev *cv)
{
	if (cv->npool > 0)
		return cv->pool[--cv->npool];
	return curl_easy_init();
}

void
curlev_release(struct curlev *cv, CURL *easy)
{
	if (easy == NULL)
		return;
	curlev_remove(cv, easy);
	if (cv->npool < CURLEV_POOL) {
		curl_easy_reset(easy);
		cv->pool[cv->npool++] = easy;
	} else
		curl_easy_cleanup(easy);
}

void
curlev_free(struct curlev *cv)
{
	if (cv == NULL)
		return;
	while (cv->npool > 0)
		curl_easy_cleanup(cv->pool[--cv->npool]);
	curl_multi_cleanup(cv->multi); /* closes the cached connections */
	for (size_t i = 0; i < cv->nsocks; i++)
		if (cv->socks[i] != NULL)
			curlev_sock_free(cv, cv->socks[i]);
	free(cv->socks);
	event_free(cv->timer);
	free(cv);
}

/* --- one JSON document by GET -------------------------------------------- */

#define CURLEV_GET_MAX (4 * 1024 * 1024)

struct curlev_get {
	CURL *easy;
	char *buf;
	size_t len;
	curlev_json_cb cb;
	curlev_post_cb post_cb; /* a POST: this instead of cb */
	char *body;
	struct curl_slist *hdrs;
	char errbuf[CURL_ERROR_SIZE];
	void *arg;
};

static size_t
curlev_get_on_body(char *data, size_t size, size_t n, void *arg)
{
	struct curlev_get *g = arg;
	size_t len = size * n;

	if (g->len + len > CURLEV_GET_MAX)
		return 0; /* too large to be what we asked for */
	g->buf = xreallocarray(g->buf, g->len + len + 1, 1);
	memcpy(g->buf + g->len, data, len);
	g->len += len;
	return len;
}

static void
curlev_get_free(struct curlev_get *g)
{
	curl_easy_cleanup(g->easy);
	curl_slist_free_all(g->hdrs);
	free(g->body);
	free(g->buf);
	free(g);
}

static void
curlev_get_on_done(CURL *easy, CURLcode rc, void *arg)
{
	struct curlev_get *g = arg;
	json_t *o = NULL;
	long code = 0;

	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
	if (g->post_cb != NULL) {
		if (rc == CURLE_OK && g->buf != NULL)
			o = json_loadb(g->buf, g->len, 0, NULL);
		g->post_cb(rc, code, o,
		    g->errbuf[0]
		        ? g->errbuf
		        : (rc != CURLE_OK ? curl_easy_strerror(rc) : ""),
		    g->arg);
		json_decref(o);
		curlev_get_free(g);
		return;
	}
	if (rc == CURLE_OK && code == 200 && g->buf != NULL)
		o = json_loadb(g->buf, g->len, 0, NULL);
	g->cb(o, g->arg);
	json_decref(o);
	curlev_get_free(g);
}

/* a transfer of url collecting its answer, not yet started */
static struct curlev_get *
curlev_get_prepare(const char *url, long timeout_ms, void *arg)
{
	struct curlev_get *g = xcalloc(1, sizeof(*g));

	if ((g->easy = curl_easy_init()) == NULL) {
		free(g);
		return NULL;
	}
	g->arg = arg;
	curl_easy_setopt(g->easy, CURLOPT_URL, url);
	curl_easy_setopt(g->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(g->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(g->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(g->easy, CURLOPT_WRITEFUNCTION, curlev_get_on_body);
	curl_easy_setopt(g->easy, CURLOPT_WRITEDATA, g);
	curl_easy_setopt(g->easy, CURLOPT_ERRORBUFFER, g->errbuf);
	return g;
}

static struct curlev_get *
curlev_get_start(struct curlev *cv, struct curlev_get *g)
{
	if (curlev_add(cv, g->easy, curlev_get_on_done, g) == -1) {
		curlev_get_free(g);
		return NULL;
	}
	return g;
}

struct curlev_get *
curlev_get_json(struct curlev *cv, const char *url, long timeout_ms,
    curlev_json_cb cb, void *arg)
{
	struct curlev_get *g = curlev_get_prepare(url, timeout_ms, arg);

	if (g == NULL)
		return NULL;
	g->cb = cb;
	return curlev_get_start(cv, g);
}

struct curlev_get *
curlev_post_json(struct curlev *cv, const char *url, const char *body,
    long timeout_ms, curlev_post_cb cb, void *arg)
{
	struct curlev_get *g = curlev_get_prepare(url, timeout_ms, arg);

	if (g == NULL)
		return NULL;
	g->post_cb = cb;
	g->body = xstrdup(body);
	g->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(g->easy, CURLOPT_HTTPHEADER, g->hdrs);
	curl_easy_setopt(g->easy, CURLOPT_POSTFIELDS, g->body);
	curl_easy_setopt(g->easy, CURLOPT_POSTFIELDSIZE, (long)strlen(g->body));
	return curlev_get_start(cv, g);
}

void
curlev_get_cancel(struct curlev *cv, struct curlev_get *g)
{
	if (g == NULL)
		return;
	curlev_remove(cv, g->easy);
	curlev_get_free(g);
}
