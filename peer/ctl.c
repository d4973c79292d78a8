/* SPDX-License-Identifier: ISC */
/*
 * ctl: Unix-socket control channel. The server reads at most CTL_MAX_LINE
 * bytes of one request line (the read stops there: a high watermark, so a
 * longer line is refused whole, never parsed); anything longer or not a
 * JSON object gets an error reply and changes nothing. At most
 * CTL_MAX_OPEN connections at once (common/listener.h), each with an
 * absolute 5 s deadline until its request is read and answered at once
 * (a deferred answer has none), and at most CTL_MAX_DEFERRED answers
 * pending (each is a heal worker: revive, revive --dry-run).
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "peer/ctl.h"
#include "common/listener.h"

#define CTL_MAX_OPEN 16

struct ctl_req {
	struct bufferevent *bev;     /* NULL once the client is gone */
	struct ctl *ctl;             /* NULL once the ctl is gone */
	LIST_ENTRY(ctl_req) pending; /* in ctl->pending until answered */
	int answered;
};

struct ctl {
	struct listener *lis;
	char *path;
	ctl_handler_cb cb;
	void *arg;
	LIST_HEAD(, ctl_conn) conns;
	LIST_HEAD(, ctl_req) pending; /* deferred answers not yet given */
	unsigned npending;
};

struct ctl_conn {
	struct bufferevent *bev;
	struct event *deadline; /* the request must be in by then */
	struct ctl *ctl;
	struct ctl_req *req; /* set while a deferred answer is pending */
	LIST_ENTRY(ctl_conn) entry;
};

/* SOCK_CLOEXEC is Linux and the newer BSDs; macOS has only the fcntl */
static int
ctl_unix_socket(void)
{
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd != -1 && evutil_make_socket_closeonexec(fd) == -1) {
		close(fd);
		return -1;
	}
	return fd;
}

static int
ctl_sockaddr(
    const char *state_dir, struct sockaddr_un *sun, char *err, size_t errlen)
{
	memset(sun, 0, sizeof(*sun));
	sun->sun_family = AF_UNIX;
	if ((size_t)snprintf(sun->sun_path, sizeof(sun->sun_path), "%s/%s",
	        state_dir, CTL_SOCKET_NAME) >= sizeof(sun->sun_path)) {
		snprintf(err, errlen, "%s/%s: path too long", state_dir,
		    CTL_SOCKET_NAME);
		return -1;
	}
	return 0;
}

static void
ctl_send(struct bufferevent *bev, json_t *reply)
{
	char *s = reply ? json_dumps(reply, JSON_COMPACT | JSON_PRESERVE_ORDER)
	                : NULL;

	/* never leave a client hanging: an unencodable reply is an error */
	if (s == NULL)
		s = strdup(
		    "{\"error\":\"internal error: reply not encodable\"}");
	if (s) {
		bufferevent_write(bev, s, strlen(s));
		bufferevent_write(bev, "\n", 1);
		free(s);
	}
	json_decref(reply);
	/* close once the reply has been flushed */
	bufferevent_disable(bev, EV_READ);
}

static void
ctl_pend(struct ctl *c, struct ctl_req *r)
{
	r->ctl = c;
	LIST_INSERT_HEAD(&c->pending, r, pending);
	c->npending++;
}

static void
ctl_unpend(struct ctl_req *r)
{
	if (r->ctl == NULL)
		return;
	LIST_REMOVE(r, pending);
	r->ctl->npending--;
	r->ctl = NULL;
}

static void
ctl_on_read(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *cc = arg;
	struct ctl *c = cc->ctl;
	struct evbuffer *in = bufferevent_get_input(bev);
	json_error_t jerr;
	json_t *req, *reply;
	size_t n;
	char *line;

	line = evbuffer_readln(in, &n, EVBUFFER_EOL_LF);
	if (line == NULL ? evbuffer_get_length(in) > CTL_MAX_LINE
	                 : n > CTL_MAX_LINE) {
		free(line);
		ctl_send(bev, json_pack("{ss}", "error", "request too long"));
		return;
	}
	if (line == NULL)
		return;
	req = json_loadb(line, n, 0, &jerr);
	free(line);
	if (!json_is_object(req) ||
	    !json_is_string(json_object_get(req, "cmd")))
		reply = json_pack("{ss}", "error",
		    "want a JSON object with "
		    "\"cmd\"");
	else if (c->npending >= CTL_MAX_DEFERRED)
		reply = c->cb(req, NULL, c->arg); /* it must answer now */
	else {
		cc->req = xcalloc(1, sizeof(*cc->req));
		cc->req->bev = bev;
		reply = c->cb(req, cc->req, c->arg);
		if (reply == NULL) { /* answered later */
			ctl_pend(c, cc->req);
			json_decref(req);
			bufferevent_disable(bev, EV_READ);
			bufferevent_set_timeouts(bev, NULL, NULL);
			evtimer_del(cc->deadline);
			return;
		}
		free(cc->req);
		cc->req = NULL;
	}
	json_decref(req);
	ctl_send(bev, reply);
}

void
ctl_reply(struct ctl_req *r, json_t *reply)
{
	ctl_unpend(r);
	if (r->bev == NULL) { /* the client left */
		json_decref(reply);
		free(r);
		return;
	}
	r->answered = 1;
	ctl_send(r->bev, reply);
}

static void
ctl_conn_free(struct ctl_conn *cc)
{
	struct ctl *c = cc->ctl;

	if (cc->req) {
		if (cc->req->answered)
			free(cc->req);
		else
			cc->req->bev = NULL; /* ctl_reply frees it */
	}
	LIST_REMOVE(cc, entry);
	event_free(cc->deadline);
	bufferevent_free(cc->bev);
	free(cc);
	listener_closed(c->lis);
}

/* the idle timeout restarts with every byte; this one does not */
static void
ctl_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	ctl_conn_free(arg);
}

static void
ctl_on_write(struct bufferevent *bev, void *arg)
{
	struct ctl_conn *cc = arg;

	if (!(bufferevent_get_enabled(bev) & EV_READ) &&
	    (cc->req == NULL || cc->req->answered))
		ctl_conn_free(cc);
}

static void
ctl_on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		ctl_conn_free(arg);
}

static void
ctl_on_conn(struct bufferevent *bev, void *arg)
{
	struct ctl *c = arg;
	struct ctl_conn *cc = xcalloc(1, sizeof(*cc));
	struct timeval tv = {5, 0};

	cc->bev = bev;
	cc->ctl = c;
	cc->deadline =
	    evtimer_new(bufferevent_get_base(bev), ctl_on_deadline, cc);
	evtimer_add(cc->deadline, &tv);
	LIST_INSERT_HEAD(&c->conns, cc, entry);
	bufferevent_setcb(bev, ctl_on_read, ctl_on_write, ctl_on_event, cc);
	bufferevent_set_timeouts(bev, &tv, &tv);
	/* read no further than one line too many */
	bufferevent_setwatermark(bev, EV_READ, 0, CTL_MAX_LINE + 1);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
}

struct ctl *
ctl_new(struct event_base *base, const char *state_dir, ctl_handler_cb cb,
    void *arg, char *err, size_t errlen)
{
	struct ctl *c = xcalloc(1, sizeof(*c));
	struct evconnlistener *lev;
	struct sockaddr_un sun;
	mode_t old;

	LIST_INIT(&c->conns);
	LIST_INIT(&c->pending);
	c->cb = cb;
	c->arg = arg;
	if (ctl_sockaddr(state_dir, &sun, err, errlen) == -1)
		goto fail;
	c->path = xstrdup(sun.sun_path);
	/* a stale socket from a crash: remove it only if nobody answers */
	if (access(c->path, F_OK) == 0) {
		int fd = ctl_unix_socket();
		if (fd != -1 &&
		    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
			close(fd);
			snprintf(err, errlen,
			    "%s: another peerwatch is "
			    "running with this state_dir",
			    c->path);
			goto fail;
		}
		if (fd != -1)
			close(fd);
		unlink(c->path);
	}
	old = umask(0177);
	lev = evconnlistener_new_bind(base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_DISABLED,
	    16, (struct sockaddr *)&sun, sizeof(sun));
	umask(old);
	if (lev == NULL) {
		snprintf(err, errlen, "%s: %s", c->path, strerror(errno));
		goto fail;
	}
	c->lis = listener_new(lev, c->path, CTL_MAX_OPEN, ctl_on_conn, c);
	chmod(c->path, 0600);
	return c;
fail:
	free(c->path);
	c->path = NULL;
	ctl_free(c);
	return NULL;
}

void
ctl_free(struct ctl *c)
{
	struct ctl_req *r;

	if (c == NULL)
		return;
	while (!LIST_EMPTY(&c->conns))
		ctl_conn_free(LIST_FIRST(&c->conns));
	/* answers still owed go nowhere now */
	while ((r = LIST_FIRST(&c->pending)) != NULL) {
		LIST_REMOVE(r, pending);
		r->ctl = NULL;
	}
	if (c->lis) {
		listener_free(c->lis);
		unlink(c->path);
	}
	free(c->path);
	free(c);
}

static int
ctl_wait(int fd, short events, uint64_t deadline)
{
	struct pollfd pfd = {fd, events, 0};
	uint64_t now = clock_mono_ms();

	if (now >= deadline)
		return -1;
	return poll(&pfd, 1, (int)(deadline - now)) == 1 ? 0 : -1;
}

int
ctl_request(const char *state_dir, const json_t *req, json_t **reply,
    int timeout_ms, char *err, size_t errlen)
{
	struct sockaddr_un sun;
	uint64_t deadline = clock_mono_ms() + (uint64_t)timeout_ms;
	char buf[65536], *s = NULL;
	size_t len = 0;
	ssize_t n;
	int fd = -1;

	*reply = NULL;
	if (ctl_sockaddr(state_dir, &sun, err, errlen) == -1)
		return -1;
	if ((fd = ctl_unix_socket()) == -1 ||
	    connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == -1) {
		snprintf(err, errlen, "%s: %s (is peerwatch running?)",
		    sun.sun_path, strerror(errno));
		goto fail;
	}
	s = json_dumps(req, JSON_COMPACT);
	if (s == NULL || write(fd, s, strlen(s)) == -1 ||
	    write(fd, "\n", 1) != 1)
		goto io;
	while (len < sizeof(buf) - 1 && memchr(buf, '\n', len) == NULL) {
		if (ctl_wait(fd, POLLIN, deadline) == -1) {
			snprintf(err, errlen, "%s: no reply in %d ms",
			    sun.sun_path, timeout_ms);
			goto fail;
		}
		if ((n = read(fd, buf + len, sizeof(buf) - 1 - len)) <= 0)
			break;
		len += (size_t)n;
	}
	if ((*reply = json_loadb(buf, len, JSON_DISABLE_EOF_CHECK, NULL)) ==
	    NULL) {
		snprintf(err, errlen, "%s: bad reply", sun.sun_path);
		goto fail;
	}
	free(s);
	close(fd);
	return 0;
io:
	snprintf(err, errlen, "%s: %s", sun.sun_path, strerror(errno));
fail:
	free(s);
	if (fd != -1)
		close(fd);
	return -1;
}
