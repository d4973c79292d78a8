/* SPDX-License-Identifier: ISC */
/*
 * status: a small HTTP/1.x server for /status, /metrics, /events and the
 * status page (/, /app.css, /app.js, embedded in the binary) on
 * status_listen, answering from callbacks into the loop's state. Read-only
 * by construction: there is no handler that changes anything.
 *
 * It is our own, on bufferevents, rather than evhttp, because libevent
 * 2.1's evhttp can neither cap its connections nor bound a request's
 * total time (its timeout restarts with every byte). Here every connection
 * gets one request: the head (at most STATUS_MAX_HEAD bytes) is read, one
 * answer written with Connection: close, and the connection ends, all
 * within STATUS_DEADLINE_MS of accept() or it is cut. At most
 * STATUS_MAX_OPEN are open at once (common/listener.h). The Host header must
 * name this host (an IP literal, localhost, or a name from peers.conf), so
 * a web page cannot read /status through DNS rebinding. Every answer
 * carries a Content-Security-Policy that lets the page load only its own
 * script and style and fetch only from this origin.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <jansson.h>

#include "common/evlog.h"
#include "common/log.h"
#include "common/tcplisten.h"
#include "common/xmalloc.h"
#include "config/conf.h"
#include "common/listener.h"
#include "peer/status.h"
#include "peer/status_assets.h"

/* GET /events without n */
#define STATUS_EVENTS_DEFAULT 50

/* the page may load its own script and style, fetch this origin, no more */
#define STATUS_CSP                                                             \
	"default-src 'none'; script-src 'self'; style-src 'self'; "            \
	"connect-src 'self'; img-src 'self' data:; base-uri 'none'; "          \
	"form-action 'none'; frame-ancestors 'none'"

struct status_conn {
	struct status *st;
	struct bufferevent *bev;
	struct event *deadline;
	LIST_ENTRY(status_conn) entry;
};

struct status {
	struct event_base *base;
	struct listener *lis;
	LIST_HEAD(, status_conn) conns;
	char **names; /* host names accepted in Host, lower case */
	size_t nnames;
	status_json_cb json_cb;
	status_metrics_cb metrics_cb;
	status_events_cb events_cb;
	void *arg;
};

/* one parsed request head */
struct status_req {
	char *method;
	char *path;
	const char *query; /* after '?', or NULL */
	const char *host;  /* NULL: no Host header */
	int http11;
};

static void status_conn_free(struct status_conn *);

static const char *
status_reason(int code)
{
	switch (code) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 431:
		return "Request Header Fields Too Large";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return "Error";
	}
}

/* the one answer of this connection; it ends once the answer is out */
static void
status_send(struct status_conn *c, int code, const char *ctype,
    const void *body, size_t len, int head_only)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);

	bufferevent_disable(c->bev, EV_READ);
	evbuffer_add_printf(out,
	    "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
	    "Cache-Control: no-store\r\nConnection: close\r\n"
	    "Content-Security-Policy: " STATUS_CSP "\r\n"
	    "X-Content-Type-Options: nosniff\r\n"
	    "Referrer-Policy: no-referrer\r\n%s\r\n",
	    code, status_reason(code), ctype, len,
	    code == 405 ? "Allow: GET, HEAD\r\n" : "");
	if (!head_only)
		evbuffer_add(out, body, len);
	bufferevent_enable(c->bev, EV_WRITE);
}

static void
status_error(struct status_conn *c, int code, const char *msg, int head_only)
{
	char body[256];

	snprintf(body, sizeof(body), "%s\n", msg);
	status_send(c, code, "text/plain", body, strlen(body), head_only);
}

/*
 * n from the query "n=N" (other parameters ignored): absent is
 * STATUS_EVENTS_DEFAULT, more than EVLOG_RECENT_MAX is EVLOG_RECENT_MAX;
 * -1 if n is there but not a whole number.
 */
static long
status_events_n(const char *query)
{
	const char *p = query;
	long n = -1;

	while (p != NULL && *p != '\0') {
		if (strncmp(p, "n=", 2) == 0) {
			for (p += 2, n = 0; *p >= '0' && *p <= '9'; p++)
				if ((n = n * 10 + (*p - '0')) >
				    EVLOG_RECENT_MAX)
					n = EVLOG_RECENT_MAX;
			if (*p != '\0' && *p != '&')
				return -1;
			if (p[-1] == '=')
				return -1;
		}
		if ((p = strchr(p, '&')) != NULL)
			p++;
	}
	return n == -1 ? STATUS_EVENTS_DEFAULT : n;
}

static void
status_events(struct status_conn *c, const char *query, int head_only)
{
	long n = status_events_n(query);
	char *body;

	if (n < 0) {
		status_error(c, 400,
		    "n: want a whole number (at most 200 are "
		    "kept)",
		    head_only);
		return;
	}
	body = c->st->events_cb((size_t)n, c->st->arg);
	status_send(c, 200, "application/json", body, strlen(body), head_only);
	free(body);
}

/* the page's own files; 0 if path is none of them */
static int
status_asset(struct status_conn *c, const char *path, int head_only)
{
	static const struct {
		const char *path;
		const char *ctype;
		const unsigned char *data;
		const size_t *len;
	} a[] = {
	    {"/", "text/html; charset=utf-8", status_page_html,
	        &status_page_html_len},
	    {"/app.css", "text/css; charset=utf-8", status_page_css,
	        &status_page_css_len},
	    {"/app.js", "text/javascript; charset=utf-8", status_page_js,
	        &status_page_js_len},
	};
	size_t i;

	for (i = 0; i < sizeof(a) / sizeof(a[0]); i++)
		if (strcmp(path, a[i].path) == 0) {
			status_send(c, 200, a[i].ctype, a[i].data, *a[i].len,
			    head_only);
			return 1;
		}
	return 0;
}

static void
status_route(struct status_conn *c, const struct status_req *r, int head_only)
{
	struct status *st = c->st;
	char *body = NULL;
	const char *ctype = "text/plain; version=0.0.4";
	json_t *o;

	if (status_asset(c, r->path, head_only))
		return;
	if (strcmp(r->path, "/events") == 0) {
		status_events(c, r->query, head_only);
		return;
	}
	if (strcmp(r->path, "/status") == 0) {
		o = st->json_cb(st->arg);
		body = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		json_decref(o);
		ctype = "application/json";
		if (body == NULL)
			body = xstrdup("{}");
	} else if (strcmp(r->path, "/metrics") == 0)
		body = st->metrics_cb(st->arg);
	if (body == NULL) {
		status_error(c, 404, "not found", head_only);
		return;
	}
	status_send(c, 200, ctype, body, strlen(body), head_only);
	free(body);
}

/*
 * Host may be an IP literal (a DNS-rebinding page cannot make a browser
 * send one for its own name), localhost, or a name from peers.conf; any
 * port.
 */
static int
status_host_ok(const struct status *st, const char *host)
{
	unsigned char addr[16];
	char name[256];
	const char *end;
	size_t i, len;

	if (*host == '[') {
		if ((end = strchr(host, ']')) == NULL ||
		    (end[1] != '\0' && end[1] != ':') ||
		    (len = (size_t)(end - host - 1)) >= sizeof(name))
			return 0;
		memcpy(name, host + 1, len);
		name[len] = '\0';
		return inet_pton(AF_INET6, name, addr) == 1;
	}
	len = strcspn(host, ":");
	if (len == 0 || len >= sizeof(name) ||
	    (host[len] == ':' && strchr(host + len + 1, ':') != NULL))
		return 0;
	for (i = 0; i < len; i++)
		name[i] = (char)tolower((unsigned char)host[i]);
	if (name[len - 1] == '.') /* the root's dot: "localhost." */
		len--;
	name[len] = '\0';
	if (inet_pton(AF_INET, name, addr) == 1 ||
	    strcmp(name, "localhost") == 0)
		return 1;
	for (i = 0; i < st->nnames; i++)
		if (strcmp(name, st->names[i]) == 0)
			return 1;
	return 0;
}

/* the request line and the headers we read; 0 or an HTTP error code */
static int
status_parse(char *head, struct status_req *r)
{
	char *line, *next, *colon, *version, *q;

	memset(r, 0, sizeof(*r));
	for (line = head; line != NULL; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		line[strcspn(line, "\r")] = '\0';
		if (r->method == NULL) {
			r->method = line;
			if ((r->path = strchr(line, ' ')) == NULL)
				return 400;
			*r->path++ = '\0';
			if ((version = strchr(r->path, ' ')) == NULL)
				return 400;
			*version++ = '\0';
			if (strncmp(version, "HTTP/1.", 7) != 0)
				return strncmp(version, "HTTP/", 5) == 0 ? 505
				                                         : 400;
			r->http11 = strcmp(version, "HTTP/1.0") != 0;
			continue;
		}
		if (*line == '\0')
			break;
		if ((colon = strchr(line, ':')) == NULL || colon == line ||
		    isspace((unsigned char)*line))
			return 400;
		*colon++ = '\0';
		if (strcasecmp(line, "host") != 0)
			continue;
		if (r->host != NULL)
			return 400;
		while (*colon == ' ' || *colon == '\t')
			colon++;
		colon[strcspn(colon, " \t")] = '\0';
		r->host = colon;
	}
	if (r->method == NULL || *r->path != '/')
		return 400;
	r->path[strcspn(r->path, "#")] = '\0';
	if ((q = strchr(r->path, '?')) != NULL) {
		*q++ = '\0';
		r->query = q;
	}
	return 0;
}

static void
status_handle(struct status_conn *c, char *head)
{
	struct status_req r;
	int code, head_only;

	if ((code = status_parse(head, &r)) != 0) {
		status_error(c, code, "bad request", 0);
		return;
	}
	head_only = strcmp(r.method, "HEAD") == 0;
	if (r.host == NULL ? r.http11 : !status_host_ok(c->st, r.host)) {
		status_error(c, r.host == NULL ? 400 : 403,
		    r.host == NULL ? "Host header required"
		                   : "unknown Host: use this host's address, "
		                     "localhost or a name from peers.conf",
		    head_only);
		return;
	}
	if (!head_only && strcmp(r.method, "GET") != 0) {
		status_error(c, 405, "read-only: GET and HEAD only", 0);
		return;
	}
	status_route(c, &r, head_only);
}

/* the end of the head: after "\n\n" or "\n\r\n"; 0 if not there yet */
static size_t
status_head_end(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i + 1 < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (buf[i + 1] == '\n')
			return i + 2;
		if (buf[i + 1] == '\r' && i + 2 < len && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static void
status_on_read(struct bufferevent *bev, void *arg)
{
	struct status_conn *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t len = evbuffer_get_length(in), end;
	char *buf, *head;

	if (len > STATUS_MAX_HEAD + 3)
		len = STATUS_MAX_HEAD + 3;
	buf = (char *)evbuffer_pullup(in, (ev_ssize_t)len);
	if ((end = status_head_end(buf, len)) == 0) {
		if (len > STATUS_MAX_HEAD)
			status_error(c, 431, "request head too large", 0);
		return;
	}
	head = xstrndup(buf, end);
	status_handle(c, head);
	free(head);
}

static void
status_on_written(struct bufferevent *bev, void *arg)
{
	(void)bev;
	status_conn_free(arg);
}

static void
status_on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		status_conn_free(arg);
}

/* the absolute deadline: whatever the client has or has not sent */
static void
status_on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	status_conn_free(arg);
}

static void
status_on_conn(struct bufferevent *bev, void *arg)
{
	struct status *st = arg;
	struct status_conn *c = xcalloc(1, sizeof(*c));
	struct timeval tv = {
	    STATUS_DEADLINE_MS / 1000, (STATUS_DEADLINE_MS % 1000) * 1000};

	c->st = st;
	c->bev = bev;
	c->deadline = evtimer_new(st->base, status_on_deadline, c);
	evtimer_add(c->deadline, &tv);
	LIST_INSERT_HEAD(&st->conns, c, entry);
	bufferevent_setcb(
	    bev, status_on_read, status_on_written, status_on_event, c);
	bufferevent_enable(bev, EV_READ);
}

static void
status_conn_free(struct status_conn *c)
{
	struct status *st = c->st;

	LIST_REMOVE(c, entry);
	event_free(c->deadline);
	bufferevent_free(c->bev);
	free(c);
	listener_closed(st->lis);
}

static void
status_add_name(struct status *st, const char *name)
{
	char *s = xstrdup(name);
	size_t i, len = strlen(s);

	for (i = 0; i < len; i++)
		s[i] = (char)tolower((unsigned char)s[i]);
	if (len > 0 && s[len - 1] == '.')
		s[len - 1] = '\0';
	st->names = xreallocarray(st->names, st->nnames + 1, sizeof(char *));
	st->names[st->nnames++] = s;
}

static void
status_clear_names(struct status *st)
{
	size_t i;

	for (i = 0; i < st->nnames; i++)
		free(st->names[i]);
	free(st->names);
	st->names = NULL;
	st->nnames = 0;
}

void
status_reconf(struct status *st, const struct conf *conf, size_t self)
{
	char *host = NULL;
	uint16_t port;
	size_t i;

	status_clear_names(st);
	if (conf_parse_hostport(conf_status_listen(conf, self), &host, &port) ==
	    0)
		status_add_name(st, host);
	free(host);
	for (i = 0; i < conf->npeers; i++) {
		status_add_name(st, conf->peers[i].name);
		status_add_name(st, conf->peers[i].address);
	}
}

struct status *
status_new(struct event_base *base, const struct conf *conf, size_t self,
    status_json_cb jcb, status_metrics_cb mcb, status_events_cb ecb, void *arg,
    char *err, size_t errlen)
{
	struct status *st = xcalloc(1, sizeof(*st));
	const char *listen = conf_status_listen(conf, self);

	LIST_INIT(&st->conns);
	struct evconnlistener *lev;
	char *host = NULL, what[300];
	uint16_t port = 0;
	evutil_socket_t fd = -1;

	st->base = base;
	st->json_cb = jcb;
	st->metrics_cb = mcb;
	st->events_cb = ecb;
	st->arg = arg;
	if (conf_parse_hostport(listen, &host, &port) == -1 || port == 0) {
		snprintf(
		    err, errlen, "status_listen %s: want host:port", listen);
		goto fail;
	}
	if ((fd = tcplisten(host, port, 64)) == -1 ||
	    (lev = evconnlistener_new(base, NULL, NULL,
	         LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC |
	             LEV_OPT_DISABLED,
	         -1, fd)) == NULL) {
		snprintf(err, errlen, "status_listen %s: cannot listen: %s",
		    listen, strerror(errno));
		if (fd != -1)
			evutil_closesocket(fd);
		goto fail;
	}
	snprintf(what, sizeof(what), "status_listen %s", listen);
	st->lis = listener_new(lev, what, STATUS_MAX_OPEN, status_on_conn, st);
	status_reconf(st, conf, self);
	free(host);
	return st;
fail:
	free(host);
	status_free(st);
	return NULL;
}

void
status_free(struct status *st)
{
	if (st == NULL)
		return;
	while (!LIST_EMPTY(&st->conns))
		status_conn_free(LIST_FIRST(&st->conns));
	listener_free(st->lis);
	status_clear_names(st);
	free(st);
}
