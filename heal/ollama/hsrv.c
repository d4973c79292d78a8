/* SPDX-License-Identifier: ISC */
/*
 * hsrv: see hsrv.h. One struct hconn per client connection, with its one
 * request embedded: the head is copied out of the input buffer and parsed
 * in place, the body moved (not copied) into the request's own buffer.
 * While a request is live the connection goes on reading, so a client's
 * close is seen at once; a pipelined request stays in the input buffer
 * (reading stops at HSRV_READ_HIGH) until the answer before it is out.
 * A connection that closes after an answer half-closes first and reads
 * on for a moment (a lingering close), so a client still sending a body
 * we refused gets our answer rather than a reset.
 */
#include <sys/queue.h>
#include <sys/socket.h>
#include <sys/types.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/listener.h>

#include "common/clock.h"
#include "common/listener.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "heal/ollama/hsrv.h"

#define HSRV_MAX_HEADERS 100
#define HSRV_RETRY(e) ((e) == EAGAIN || (e) == EWOULDBLOCK || (e) == EINTR)
#define HSRV_READ_HIGH (256 * 1024) /* input held while a request is live */
#define HSRV_READ_SIZE 16384        /* one read() at most */
#define HSRV_CHUNK_LINE 1024        /* a chunk-size line, extensions too */
#define HSRV_LINGER_MS 2000         /* reading on after our last answer */
#define HSRV_LINGER_MAX (1024 * 1024)
#define HSRV_OUT_HIGH (256 * 1024) /* queued: the next request waits */
#define HSRV_BODY_MS 60000         /* a body's grace, then at least... */
#define HSRV_BODY_RATE 16384       /* ...this many bytes a second */
#define HSRV_STREAM_HIGH                                                       \
	(1024 * 1024) /* a streamed body held for the taker                    \
	               */

enum hconn_state {
	HC_HEAD,   /* reading a request's head (or idle between requests) */
	HC_BODY,   /* reading its body */
	HC_ACTIVE, /* the request is the caller's */
	HC_CLOSING /* the last answer goes out, then a lingering close */
};

enum hconn_chunk { CK_SIZE, CK_DATA, CK_DATA_END, CK_TRAILER };

struct hreq {
	struct hconn *c;
	const char *method, *uri; /* in c->head */
	size_t nh;
	const char *hk[HSRV_MAX_HEADERS], *hv[HSRV_MAX_HEADERS];
	struct evbuffer *body;
	struct evbuffer *hdrs; /* the answer's, "Name: value\r\n" each */
	int http11, keep, head_only, expect;
	int64_t clen;  /* as announced; -1 chunked */
	int streaming; /* the body is handed over as it comes... */
	int body_more; /* ...and this much is still to come */
	hreq_body_cb on_body;
	int started, nobody, chunked_out, close_out;
	hreq_gone_cb gone;
	hreq_drained_cb drained;
	void *arg;
};

struct hconn {
	struct hsrv *s;
	evutil_socket_t fd;
	struct evbuffer *in, *out;
	struct event rev, wev;
	struct event nev;     /* runs a pipelined request from the loop */
	int reading, writing; /* rev, wev added */
	int lingering, dead;  /* dead: a write failed */
	struct listener *lis; /* counts this connection; NULL if none */
	LIST_ENTRY(hconn) entry;
	enum hconn_state state;
	char *head;
	size_t headcap;
	uint64_t left; /* body bytes to read: all, or of this chunk */
	int chunked_in;
	enum hconn_chunk ck;
	int body_news; /* a streamed body grew or ended: tell the taker */
	size_t lingered;
	uint64_t linger_ms; /* when the lingering close began */
	size_t scanned;     /* of a head not whole yet, looked at so far */
	size_t trailer;     /* bytes of a chunked body's trailer */
	uint64_t body_ms;   /* when the body began (mono ms) */
	uint64_t body_got;  /* its bytes read so far */
	uint64_t paused;    /* ms it waited for a slow taker (streamed) */
	int out_wait;       /* the next request waits for the output */
	uint64_t paused_ms; /* a streamed body waits for its taker since */
	uint64_t idle_ms;   /* since when it waits for a request */
	uint64_t head_ms;   /* when the head's first byte came; 0 none yet */
	struct hreq rq;
};

struct hsrv {
	struct event_base *base;
	struct hsrv_limits lim;
	hsrv_request_cb on_request;
	hsrv_reject_cb on_reject;
	hsrv_stream_cb stream;
	void *arg;
	struct listener *lis;
	LIST_HEAD(, hconn) conns;
	struct hsrv_stats st; /* of listeners gone, and our own counts */
	time_t date_t;
	char date[40];
};

static void hsrv_on_read(evutil_socket_t, short, void *);
static void hsrv_on_write(evutil_socket_t, short, void *);
static void hsrv_on_next(evutil_socket_t, short, void *);

static const char *
hsrv_reason(int code)
{
	switch (code) {
	case 100:
		return "Continue";
	case 200:
		return "OK";
	case 201:
		return "Created";
	case 204:
		return "No Content";
	case 206:
		return "Partial Content";
	case 301:
		return "Moved Permanently";
	case 302:
		return "Found";
	case 304:
		return "Not Modified";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 403:
		return "Forbidden";
	case 404:
		return "Not Found";
	case 405:
		return "Method Not Allowed";
	case 408:
		return "Request Timeout";
	case 409:
		return "Conflict";
	case 413:
		return "Content Too Large";
	case 417:
		return "Expectation Failed";
	case 429:
		return "Too Many Requests";
	case 431:
		return "Request Header Fields Too Large";
	case 500:
		return "Internal Server Error";
	case 501:
		return "Not Implemented";
	case 502:
		return "Bad Gateway";
	case 503:
		return "Service Unavailable";
	case 504:
		return "Gateway Timeout";
	case 505:
		return "HTTP Version Not Supported";
	default:
		return code < 300   ? "OK"
		       : code < 500 ? "Error"
		                    : "Server Error";
	}
}

/* --- connections --------------------------------------------------------- */

static void
hconn_tv(const struct hconn *c, struct timeval *tv)
{
	tv->tv_sec = (time_t)(c->s->lim.timeout_ms / 1000);
	tv->tv_usec = (suseconds_t)(c->s->lim.timeout_ms % 1000) * 1000;
}

/* read on, with the idle timeout while a request is read (a live
 * request's client may rightly say nothing for long: a model loads) */
static void
hconn_reading(struct hconn *c, int timed)
{
	struct timeval tv;

	hconn_tv(c, &tv);
	c->reading = 1;
	event_add(&c->rev, timed ? &tv : NULL);
	if (!timed)
		event_remove_timer(&c->rev);
}

static void
hconn_free(struct hconn *c)
{
	LIST_REMOVE(c, entry);
	event_del(&c->rev);
	event_del(&c->wev);
	event_del(&c->nev);
	evutil_closesocket(c->fd);
	evbuffer_free(c->in);
	evbuffer_free(c->out);
	evbuffer_free(c->rq.body);
	evbuffer_free(c->rq.hdrs);
	free(c->head);
	if (c->lis != NULL)
		listener_closed(c->lis);
	free(c);
}

/* ready for the next request on this connection */
static void
hconn_reset(struct hconn *c)
{
	struct hreq *r = &c->rq;
	struct evbuffer *body = r->body, *hdrs = r->hdrs;

	evbuffer_drain(body, evbuffer_get_length(body));
	evbuffer_drain(hdrs, evbuffer_get_length(hdrs));
	memset(r, 0, sizeof(*r));
	r->c = c;
	r->body = body;
	r->hdrs = hdrs;
	c->state = HC_HEAD;
	c->left = 0;
	c->chunked_in = 0;
	c->ck = CK_SIZE;
	c->body_news = 0;
	c->idle_ms = clock_mono_ms();
	c->head_ms = 0;
	c->scanned = 0;
	c->trailer = 0;
	hconn_reading(c, 1);
}

/* our last answer is out: half-close, and read on for a moment */
static void
hconn_linger(struct hconn *c)
{
	struct timeval tv = {HSRV_LINGER_MS / 1000, 0};

	if (c->lingering)
		return;
	c->lingering = 1;
	c->linger_ms = clock_mono_ms();
	shutdown(c->fd, SHUT_WR);
	c->reading = 1;
	event_add(&c->rev, &tv);
}

/*
 * Write what is queued now; what the socket does not take waits for it
 * (the write event, with the stall timeout). A failed write is handled
 * from the loop, never inside the caller's own call.
 */
static void
hconn_flush(struct hconn *c)
{
	struct timeval tv;
	int n;

	if (c->dead || evbuffer_get_length(c->out) == 0)
		return;
	n = evbuffer_write(c->out, c->fd);
	if (n < 0 && !HSRV_RETRY(errno)) {
		c->dead = 1;
		event_active(&c->wev, EV_WRITE, 0);
		return;
	}
	if (evbuffer_get_length(c->out) > 0 && !c->writing) {
		hconn_tv(c, &tv);
		c->writing = 1;
		event_add(&c->wev, &tv);
	}
}

/* no more requests here: the answer goes out, then the connection */
static void
hconn_close(struct hconn *c)
{
	c->state = HC_CLOSING;
	c->rq.gone = NULL;
	c->rq.drained = NULL;
	hconn_flush(c);
	if (!c->dead && evbuffer_get_length(c->out) == 0)
		hconn_linger(c);
}

static struct hconn *
hconn_new(struct hsrv *s, int fd, struct listener *lis)
{
	struct hconn *c = xcalloc(1, sizeof(*c));

	c->s = s;
	c->fd = fd;
	c->lis = lis;
	c->in = evbuffer_new();
	c->out = evbuffer_new();
	c->rq.body = evbuffer_new();
	c->rq.hdrs = evbuffer_new();
	event_assign(
	    &c->rev, s->base, fd, EV_READ | EV_PERSIST, hsrv_on_read, c);
	event_assign(
	    &c->wev, s->base, fd, EV_WRITE | EV_PERSIST, hsrv_on_write, c);
	event_assign(&c->nev, s->base, -1, 0, hsrv_on_next, c);
	LIST_INSERT_HEAD(&s->conns, c, entry);
	hconn_reset(c);
	return c;
}

/* the server refuses the request itself; the connection ends after it */
static void hconn_gone(struct hconn *);

static void
hconn_reject(struct hconn *c, int code, const char *msg)
{
	if (c->rq.streaming) {
		/* the body went bad under a live request: a client gone */
		log_debug("ollama_listen: %s in a streamed body", msg);
		hconn_gone(c);
		return;
	}
	c->s->st.refused++;
	c->rq.keep = 0;
	c->state = HC_ACTIVE;
	hconn_reading(c, 0);
	c->s->on_reject(&c->rq, code, msg, c->s->arg);
}

/* --- parsing ------------------------------------------------------------- */

/* the end of the head: after "\n\n" or "\n\r\n"; 0 if not there yet */
static size_t
hsrv_head_end(const char *buf, size_t len)
{
	const char *p = buf, *end = buf + len;

	while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		if (p + 1 < end && p[1] == '\n')
			return (size_t)(p + 2 - buf);
		if (p + 2 < end && p[1] == '\r' && p[2] == '\n')
			return (size_t)(p + 3 - buf);
		p++;
	}
	return 0;
}

static int
hsrv_tchar(int ch)
{
	return isalnum(ch) || (ch != 0 && strchr("!#$%&'*+-.^_`|~", ch));
}

/* a comma-separated header value holds this token (any case) */
static int
hsrv_has_token(const char *v, const char *tok)
{
	size_t n = strlen(tok);

	while (*v != '\0') {
		v += strspn(v, " \t,");
		if (strncasecmp(v, tok, n) == 0 &&
		    (v[n] == '\0' || v[n] == ',' || v[n] == ' ' ||
		        v[n] == '\t'))
			return 1;
		v += strcspn(v, ",");
	}
	return 0;
}

/* a Content-Length: digits only; -1 if not */
static int
hsrv_parse_length(const char *v, uint64_t *out)
{
	uint64_t n = 0;

	if (*v == '\0' || strlen(v) > 18)
		return -1;
	for (; *v != '\0'; v++) {
		if (*v < '0' || *v > '9')
			return -1;
		n = n * 10 + (uint64_t)(*v - '0');
	}
	*out = n;
	return 0;
}

/* the request line and headers of c->head; 0, or an error code and why */
static int
hconn_parse(struct hconn *c, const char **why)
{
	struct hreq *r = &c->rq;
	char *line = c->head, *next, *sp, *colon, *v, *e;
	const char *te = NULL;
	uint64_t clen = 0, n;
	int have_clen = 0;
	size_t i;

	/* the request line */
	next = strchr(line, '\n');
	*next++ = '\0';
	e = line + strcspn(line, "\r");
	*why = "malformed request line";
	if (*e != '\0' && e[1] != '\0')
		return 400; /* a CR inside */
	*e = '\0';
	if ((sp = strchr(line, ' ')) == NULL)
		return 400;
	*sp++ = '\0';
	r->method = line;
	for (v = line; *v != '\0'; v++)
		if (!hsrv_tchar((unsigned char)*v))
			return 400;
	if (line[0] == '\0' || (v = strchr(sp, ' ')) == NULL)
		return 400;
	*v++ = '\0';
	if (*sp != '/')
		return 400;
	for (e = sp; *e != '\0'; e++)
		if ((unsigned char)*e <= 0x20 || *e == 0x7f)
			return 400;
	r->uri = sp;
	if (strcmp(v, "HTTP/1.1") == 0)
		r->http11 = 1;
	else if (strcmp(v, "HTTP/1.0") != 0) {
		*why = "HTTP/1.0 and HTTP/1.1 only";
		return strncmp(v, "HTTP/", 5) == 0 ? 505 : 400;
	}
	r->keep = r->http11;

	/* the headers, up to the empty line (a line of a lone CR is not) */
	for (line = next; *line != '\n' && strncmp(line, "\r\n", 2) != 0;
	     line = next) {
		next = strchr(line, '\n');
		*next++ = '\0';
		e = line + strcspn(line, "\r");
		*why = "malformed header";
		if (*e != '\0' && e[1] != '\0')
			return 400; /* a CR inside */
		*e = '\0';
		if ((colon = strchr(line, ':')) == NULL || colon == line)
			return 400; /* obsolete folding too: no tchar first */
		for (v = line; v < colon; v++)
			if (!hsrv_tchar((unsigned char)*v))
				return 400;
		*colon = '\0';
		v = colon + 1 + strspn(colon + 1, " \t");
		while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (r->nh == HSRV_MAX_HEADERS) {
			*why = "too many headers";
			return 431;
		}
		r->hk[r->nh] = line;
		r->hv[r->nh++] = v;
	}

	for (i = 0; i < r->nh; i++) {
		const char *k = r->hk[i], *hv = r->hv[i];
		if (strcasecmp(k, "content-length") == 0) {
			*why = "bad Content-Length";
			if (hsrv_parse_length(hv, &n) == -1 ||
			    (have_clen && n != clen))
				return 400;
			clen = n;
			have_clen = 1;
		} else if (strcasecmp(k, "transfer-encoding") == 0) {
			if (te != NULL) {
				*why = "more than one Transfer-Encoding";
				return 400;
			}
			te = hv;
		} else if (strcasecmp(k, "connection") == 0) {
			if (hsrv_has_token(hv, "close"))
				r->keep = 0;
			else if (!r->http11 && hsrv_has_token(hv, "keep-alive"))
				r->keep = 1;
		} else if (strcasecmp(k, "expect") == 0) {
			*why = "only \"Expect: 100-continue\" is understood";
			if (strcasecmp(hv, "100-continue") != 0)
				return 417;
			r->expect = r->http11;
		}
	}
	if (te != NULL) {
		*why = "both Transfer-Encoding and Content-Length";
		if (have_clen)
			return 400;
		*why = "Transfer-Encoding other than chunked";
		if (strcasecmp(te, "chunked") != 0 || !r->http11)
			return 501;
		c->chunked_in = 1;
	}
	*why = "method not supported";
	if (strcmp(r->method, "GET") != 0 && strcmp(r->method, "HEAD") != 0 &&
	    strcmp(r->method, "POST") != 0 && strcmp(r->method, "PUT") != 0 &&
	    strcmp(r->method, "DELETE") != 0 &&
	    strcmp(r->method, "OPTIONS") != 0 &&
	    strcmp(r->method, "PATCH") != 0) {
		hreq_add_header(
		    r, "Allow", "GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH");
		return 405;
	}
	r->head_only = strcmp(r->method, "HEAD") == 0;
	r->clen = c->chunked_in ? -1 : (int64_t)clen;
	c->left = clen;
	return 0;
}

/* --- reading ------------------------------------------------------------- */

/* the request is whole: it is the caller's now */
static void
hconn_dispatch(struct hconn *c)
{
	c->state = HC_ACTIVE;
	hconn_reading(c, 0);
	c->s->on_request(&c->rq, c->s->arg);
}

/* a head in the input: 1 read on, 0 wait for more, -1 rejected */
static int
hconn_read_head(struct hconn *c, struct evbuffer *in)
{
	size_t len = evbuffer_get_length(in), end, want;
	const char *why;
	char *buf;
	int code;

	/* a client may be slow, but not drip a head for ever (the idle
	 * timeout alone restarts with every byte) */
	if (len > 0 && c->head_ms == 0)
		c->head_ms = clock_mono_ms();
	else if (len > 0 && clock_mono_ms() - c->head_ms > c->s->lim.head_ms) {
		hconn_reject(c, 408, "request head too slow");
		return -1;
	}
	/* empty lines before a request line are allowed (RFC 9112 2.2) */
	while (len > 0) {
		buf =
		    (char *)evbuffer_pullup(in, len < 2 ? (ev_ssize_t)len : 2);
		if (buf[0] == '\n')
			evbuffer_drain(in, 1);
		else if (buf[0] == '\r' && len >= 2 && buf[1] == '\n')
			evbuffer_drain(in, 2);
		else
			break;
		len = evbuffer_get_length(in);
	}
	if (len == 0)
		return 0;
	want = len > c->s->lim.max_head + 3 ? c->s->lim.max_head + 3 : len;
	buf = (char *)evbuffer_pullup(in, (ev_ssize_t)want);
	/* from where the last look ended (less the 2 bytes a terminator
	 * may have begun with): a head that comes in drips costs no more */
	end = c->scanned > 2 && c->scanned - 2 < want ? c->scanned - 2 : 0;
	if ((end = hsrv_head_end(buf + end, want - end)) != 0)
		end += c->scanned > 2 && c->scanned - 2 < want ? c->scanned - 2
		                                               : 0;
	c->scanned = want;
	if (end == 0 || end > c->s->lim.max_head) {
		if (want > c->s->lim.max_head) {
			hconn_reject(c, 431, "request head too large");
			return -1;
		}
		return 0;
	}
	if (c->headcap < end + 1) {
		free(c->head);
		c->headcap = end + 1 < 1024 ? 1024 : end + 1;
		c->head = xmalloc(c->headcap);
	}
	memcpy(c->head, buf, end);
	c->head[end] = '\0';
	evbuffer_drain(in, end);
	if (memchr(c->head, '\0', end) != NULL) {
		hconn_reject(c, 400, "NUL in the request head");
		return -1;
	}
	if ((code = hconn_parse(c, &why)) != 0) {
		hconn_reject(c, code, why);
		return -1;
	}
	if (!c->chunked_in && c->left == 0) {
		hconn_dispatch(c);
		return -1;
	}
	c->state = HC_BODY;
	c->body_ms = clock_mono_ms();
	c->body_got = 0;
	c->paused = 0;
	if (c->s->stream != NULL && c->s->stream(&c->rq, c->s->arg)) {
		/* the caller has it now and the body follows as it comes:
		 * what is in the input already is read from the loop */
		c->rq.streaming = 1;
		c->rq.body_more = 1;
		if (c->rq.expect) {
			evbuffer_add(
			    c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
			hconn_flush(c);
		}
		if (evbuffer_get_length(in) > 0)
			event_active(&c->nev, EV_TIMEOUT, 1);
		c->s->on_request(&c->rq, c->s->arg);
		return -1;
	}
	if (c->rq.clen > 0 && (uint64_t)c->rq.clen > c->s->lim.max_body) {
		hconn_reject(c, 413, "request body too large");
		return -1;
	}
	if (c->rq.expect &&
	    (c->chunked_in || evbuffer_get_length(in) < c->left)) {
		evbuffer_add(c->out, "HTTP/1.1 100 Continue\r\n\r\n", 25);
		hconn_flush(c);
	}
	return 1;
}

/* the body is whole: the request is the caller's now, or (streamed) the
 * caller hears of it; 0 read on, -1 done */
static int
hconn_body_whole(struct hconn *c)
{
	if (!c->rq.streaming) {
		hconn_dispatch(c);
		return -1;
	}
	c->rq.body_more = 0;
	c->body_news = 1;
	c->state = HC_ACTIVE;
	hconn_reading(c, 0);
	return 0;
}

/* body bytes: 1 read on, 0 wait for more, -1 done (dispatched or not) */
static int
hconn_read_body(struct hconn *c, struct evbuffer *in)
{
	size_t avail = evbuffer_get_length(in), n, d;
	char *line, *e;
	uint64_t size;

	/* slow is fine, a drip is not: the idle timeout alone restarts
	 * with every byte */
	if (clock_mono_ms() > c->body_ms + HSRV_BODY_MS + c->paused +
	                          c->body_got * 1000 / HSRV_BODY_RATE) {
		hconn_reject(c, 408, "request body too slow");
		return -1;
	}
	if (!c->chunked_in || c->ck == CK_DATA) {
		n = avail < c->left ? avail : (size_t)c->left;
		if (c->rq.streaming) {
			size_t held = evbuffer_get_length(c->rq.body);
			if (held >= HSRV_STREAM_HIGH) {
				/* the taker is behind: the client waits */
				event_del(&c->rev);
				c->reading = 0;
				c->paused_ms = clock_mono_ms();
				return 0;
			}
			if (n > HSRV_STREAM_HIGH - held)
				n = HSRV_STREAM_HIGH - held;
			c->body_news |= n > 0;
		}
		evbuffer_remove_buffer(in, c->rq.body, n);
		c->left -= n;
		c->body_got += n;
		if (c->left > 0)
			return n > 0 && evbuffer_get_length(in) > 0 ? 1 : 0;
		if (!c->chunked_in)
			return hconn_body_whole(c);
		c->ck = CK_DATA_END;
		return 1;
	}
	if ((line = evbuffer_readln(in, &n, EVBUFFER_EOL_CRLF)) == NULL) {
		if (avail > HSRV_CHUNK_LINE) {
			hconn_reject(c, 400, "bad chunked body");
			return -1;
		}
		return 0;
	}
	switch (c->ck) {
	case CK_SIZE:
		/* hex digits only (no "0x", no sign), at most 15 of them,
		 * then only white space before an extension */
		d = strspn(line, "0123456789abcdefABCDEF");
		e = line + d + strspn(line + d, " \t");
		if (d == 0 || d > 15 || (*e != '\0' && *e != ';')) {
			free(line);
			hconn_reject(c, 400, "bad chunk size");
			return -1;
		}
		line[d] = '\0';
		size = strtoull(line, NULL, 16);
		free(line);
		if (!c->rq.streaming &&
		    (size > c->s->lim.max_body ||
		        evbuffer_get_length(c->rq.body) + size >
		            c->s->lim.max_body)) {
			hconn_reject(c, 413, "request body too large");
			return -1;
		}
		c->left = size;
		c->ck = size == 0 ? CK_TRAILER : CK_DATA;
		return 1;
	case CK_DATA_END:
		c->ck = CK_SIZE;
		if (n != 0) {
			free(line);
			hconn_reject(c, 400, "bad chunked body");
			return -1;
		}
		free(line);
		return 1;
	default: /* CK_TRAILER: read and dropped up to the empty line */
		free(line);
		if (n == 0)
			return hconn_body_whole(c);
		if ((c->trailer += n + 2) > c->s->lim.max_head) {
			hconn_reject(c, 431, "chunked trailer too large");
			return -1;
		}
		return 1;
	}
}

/* what the input holds, as far as it goes */
static void
hconn_process(struct hconn *c)
{
	struct evbuffer *in = c->in;
	int more = 1;

	while (more == 1) {
		switch (c->state) {
		case HC_HEAD:
			if (evbuffer_get_length(c->out) > HSRV_OUT_HIGH) {
				/* a client that sends but does not read:
				 * its answers are not queued without end */
				c->out_wait = 1;
				event_del(&c->rev);
				c->reading = 0;
				return;
			}
			more = hconn_read_head(c, in);
			break;
		case HC_BODY:
			more = hconn_read_body(c, in);
			break;
		case HC_ACTIVE:
			/* a pipelined request waits its turn; past
			 * HSRV_READ_HIGH it waits in the socket */
			if (evbuffer_get_length(in) >= HSRV_READ_HIGH) {
				event_del(&c->rev);
				c->reading = 0;
			}
			more = 0;
			break;
		case HC_CLOSING:
			c->lingered += evbuffer_get_length(in);
			evbuffer_drain(in, evbuffer_get_length(in));
			/* the timeout restarts with each read: a deadline */
			if (c->lingered > HSRV_LINGER_MAX ||
			    (c->lingering && clock_mono_ms() - c->linger_ms >
			                         HSRV_LINGER_MS))
				hconn_free(c);
			return;
		}
	}
	/* last, for the taker may end the request (and the connection) */
	if (more == 0 && c->body_news) {
		c->body_news = 0;
		if (c->rq.on_body != NULL)
			c->rq.on_body(&c->rq, c->rq.arg);
	}
}

/* the client closed, failed or stalled: a live request hears of it */
static void
hconn_gone(struct hconn *c)
{
	if ((c->state == HC_ACTIVE ||
	        (c->state == HC_BODY && c->rq.streaming)) &&
	    c->rq.gone != NULL)
		c->rq.gone(&c->rq, c->rq.arg);
	hconn_free(c);
}

static void
hsrv_on_read(evutil_socket_t fd, short what, void *arg)
{
	static char buf[HSRV_READ_SIZE];
	struct hconn *c = arg;
	ssize_t n;

	if (what & EV_TIMEOUT) {
		hconn_gone(c);
		return;
	}
	/*
	 * One read() (no FIONREAD first) into one buffer for all, then
	 * copied: a request is a few hundred bytes, and a 16 KiB chain per
	 * read, freed once drained, cost more in malloc than the copy.
	 */
	n = recv(fd, buf, sizeof(buf), 0);
	if (n < 0 && HSRV_RETRY(errno))
		return;
	if (n <= 0 || evbuffer_add(c->in, buf, (size_t)n) == -1) {
		hconn_gone(c);
		return;
	}
	hconn_process(c);
}

static void
hsrv_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct hconn *c = arg;
	int n;

	if (c->dead || (what & EV_TIMEOUT)) {
		hconn_gone(c);
		return;
	}
	n = evbuffer_write(c->out, fd);
	if (n < 0 && !HSRV_RETRY(errno)) {
		hconn_gone(c);
		return;
	}
	if (c->out_wait && evbuffer_get_length(c->out) <= HSRV_OUT_HIGH / 2) {
		/* the client reads again: its next request's turn */
		c->out_wait = 0;
		hconn_reading(c, 1);
		event_active(&c->nev, EV_TIMEOUT, 1);
	}
	if (evbuffer_get_length(c->out) != 0)
		return;
	event_del(&c->wev);
	c->writing = 0;
	if (c->state == HC_CLOSING)
		hconn_linger(c);
	else if ((c->state == HC_ACTIVE ||
	             (c->state == HC_BODY && c->rq.streaming)) &&
	         c->rq.drained != NULL)
		c->rq.drained(&c->rq, c->rq.arg);
}

/* a pipelined request read from the loop, not from the caller's call */
static void
hsrv_on_next(evutil_socket_t fd, short what, void *arg)
{
	struct hconn *c = arg;

	(void)fd;
	(void)what;
	if (c->state == HC_HEAD || c->state == HC_BODY)
		hconn_process(c);
}

/* --- accepting ----------------------------------------------------------- */

static void
hsrv_on_conn(evutil_socket_t fd, void *arg)
{
	struct hsrv *s = arg;
	struct listener_stats ls;
	struct hconn *c, *idle = NULL, *nc;
	int one = 1;

	/* answers are often small writes (a token): no Nagle delay */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	nc = hconn_new(s, fd, s->lis);
	listener_stats(s->lis, &ls);
	if (ls.open < s->lim.max_conns)
		return;
	/* at the cap: one closing after its last answer, or else the
	 * longest idle one (nothing read, nothing left to send) makes
	 * room, if any; accepting waits otherwise (common/listener.h) */
	LIST_FOREACH(c, &s->conns, entry) {
		if (c == nc || c->lis != s->lis)
			continue;
		if (c->lingering) {
			idle = c;
			break;
		}
		if (c->state == HC_HEAD && !c->writing && !c->out_wait &&
		    evbuffer_get_length(c->in) == 0 &&
		    evbuffer_get_length(c->out) == 0 &&
		    (idle == NULL || c->idle_ms < idle->idle_ms))
			idle = c;
	}
	if (idle != NULL) {
		s->st.idle_closed++;
		hconn_free(idle);
	}
}

struct hsrv *
hsrv_new(struct event_base *base, const struct hsrv_limits *lim,
    hsrv_request_cb on_request, hsrv_reject_cb on_reject, void *arg)
{
	struct hsrv *s = xcalloc(1, sizeof(*s));

	s->base = base;
	s->lim = *lim;
	s->on_request = on_request;
	s->on_reject = on_reject;
	s->arg = arg;
	LIST_INIT(&s->conns);
	return s;
}

static void
hsrv_drop_listener(struct hsrv *s)
{
	struct listener_stats ls;
	struct hconn *c;

	if (s->lis == NULL)
		return;
	listener_stats(s->lis, &ls);
	s->st.accepted += ls.accepted;
	s->st.at_cap += ls.at_cap;
	s->st.accept_failures += ls.failures;
	LIST_FOREACH(c, &s->conns, entry)
		if (c->lis == s->lis)
			c->lis = NULL;
	listener_free(s->lis);
	s->lis = NULL;
}

int
hsrv_listen(struct hsrv *s, int fd, const char *what)
{
	struct evconnlistener *lev;
	struct listener *lis;
	struct hconn *c;
	unsigned n = 0;
	int saved;

	lev = evconnlistener_new(s->base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE |
	        LEV_OPT_DISABLED,
	    0, fd);
	if (lev == NULL) {
		saved = errno;
		evutil_closesocket(fd);
		errno = saved;
		return -1;
	}
	lis = listener_new_fd(lev, what, s->lim.max_conns, hsrv_on_conn, s);
	/* the old socket's connections go on and still count toward the
	 * cap: a move must not let twice the cap in */
	LIST_FOREACH(c, &s->conns, entry)
		if (c->lis != NULL && c->lis == s->lis) {
			c->lis = lis;
			n++;
		}
	listener_adopted(lis, n);
	hsrv_drop_listener(s);
	s->lis = lis;
	return 0;
}

int
hsrv_adopt(struct hsrv *s, int fd)
{
	if (evutil_make_socket_nonblocking(fd) == -1)
		return -1;
	hconn_new(s, fd, NULL);
	return 0;
}

void
hsrv_set_stream_cb(struct hsrv *s, hsrv_stream_cb cb)
{
	s->stream = cb;
}

void
hsrv_set_max_body(struct hsrv *s, size_t max)
{
	s->lim.max_body = max;
}

void
hsrv_stats(const struct hsrv *s, struct hsrv_stats *st)
{
	struct listener_stats ls;

	*st = s->st;
	st->open = 0;
	if (s->lis != NULL) {
		listener_stats(s->lis, &ls);
		st->accepted += ls.accepted;
		st->at_cap += ls.at_cap;
		st->accept_failures += ls.failures;
	}
	/* connections from a socket before a move count too */
	for (struct hconn *c = LIST_FIRST(&s->conns); c != NULL;
	     c = LIST_NEXT(c, entry))
		st->open++;
}

void
hsrv_free(struct hsrv *s)
{
	if (s == NULL)
		return;
	while (!LIST_EMPTY(&s->conns))
		hconn_free(LIST_FIRST(&s->conns));
	hsrv_drop_listener(s);
	free(s);
}

/* --- requests ------------------------------------------------------------ */

const char *
hreq_method(const struct hreq *r)
{
	return r->method;
}

const char *
hreq_uri(const struct hreq *r)
{
	return r->uri;
}

int
hreq_header_at(
    const struct hreq *r, size_t i, const char **name, const char **value)
{
	if (i >= r->nh)
		return 0;
	*name = r->hk[i];
	*value = r->hv[i];
	return 1;
}

const char *
hreq_header(const struct hreq *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->nh; i++)
		if (strcasecmp(r->hk[i], name) == 0)
			return r->hv[i];
	return NULL;
}

struct evbuffer *
hreq_body(struct hreq *r)
{
	return r->body;
}

int64_t
hreq_body_length(const struct hreq *r)
{
	return r->clen;
}

int
hreq_streaming(const struct hreq *r)
{
	return r->body_more;
}

void
hreq_set_body_cb(struct hreq *r, hreq_body_cb cb)
{
	r->on_body = cb;
}

void
hreq_body_taken(struct hreq *r)
{
	struct hconn *c = r->c;

	/* reading stopped at HSRV_STREAM_HIGH: on again, and what waits
	 * in the input is read from the loop */
	if (c->state != HC_BODY || c->reading ||
	    evbuffer_get_length(r->body) >= HSRV_STREAM_HIGH)
		return;
	/* the time we kept the client waiting is not its delay */
	c->paused += clock_mono_ms() - c->paused_ms;
	hconn_reading(c, 1);
	event_active(&c->nev, EV_TIMEOUT, 1);
}

void
hreq_set_cbs(
    struct hreq *r, hreq_gone_cb gone, hreq_drained_cb drained, void *arg)
{
	r->gone = gone;
	r->drained = drained;
	r->arg = arg;
}

int
hreq_add_header(struct hreq *r, const char *name, const char *value)
{
	if (strpbrk(name, "\r\n:") != NULL || strpbrk(value, "\r\n") != NULL)
		return -1;
	/* pieces, not a printf: a reply has several of these */
	if (evbuffer_add(r->hdrs, name, strlen(name)) == -1 ||
	    evbuffer_add(r->hdrs, ": ", 2) == -1 ||
	    evbuffer_add(r->hdrs, value, strlen(value)) == -1 ||
	    evbuffer_add(r->hdrs, "\r\n", 2) == -1)
		return -1;
	return 0;
}

void
hreq_clear_headers(struct hreq *r)
{
	evbuffer_drain(r->hdrs, evbuffer_get_length(r->hdrs));
}

void
hreq_start(struct hreq *r, int code, int64_t clen)
{
	struct hsrv *s = r->c->s;
	struct evbuffer *out = r->c->out;
	time_t now = time(NULL);
	struct tm tm;

	if (r->started)
		return;
	r->started = 1;
	if (r->c->state == HC_BODY)
		r->keep = 0; /* the rest of a streamed body is not read */
	if (now != s->date_t && gmtime_r(&now, &tm) != NULL) {
		strftime(
		    s->date, sizeof(s->date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
		s->date_t = now;
	}
	r->nobody = r->head_only || code == 204 || code == 304;
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\n", code,
	    hsrv_reason(code), s->date);
	evbuffer_add_buffer(out, r->hdrs);
	if (clen >= 0) {
		if (code != 204 && code != 304)
			evbuffer_add_printf(
			    out, "Content-Length: %" PRId64 "\r\n", clen);
	} else if (!r->nobody) {
		if (r->http11) {
			r->chunked_out = 1;
			evbuffer_add(out, "Transfer-Encoding: chunked\r\n", 28);
		} else
			r->close_out = 1; /* the close ends the body */
	}
	if (!r->keep || r->close_out) {
		r->close_out = 1;
		evbuffer_add(out, "Connection: close\r\n", 19);
	} else if (!r->http11)
		evbuffer_add(out, "Connection: keep-alive\r\n", 24);
	evbuffer_add(out, "\r\n", 2);
}

void
hreq_chunk(struct hreq *r, const void *data, size_t len)
{
	struct hconn *c = r->c;
	struct evbuffer *out = c->out;
	char sz[24];
	int n;

	if (!r->started || r->nobody || len == 0)
		return;
	if (r->chunked_out) {
		n = snprintf(sz, sizeof(sz), "%zx\r\n", len);
		evbuffer_add(out, sz, (size_t)n);
		evbuffer_add(out, data, len);
		evbuffer_add(out, "\r\n", 2);
	} else
		evbuffer_add(out, data, len);
	hconn_flush(c);
}

size_t
hreq_pending(const struct hreq *r)
{
	return evbuffer_get_length(r->c->out);
}

void
hreq_end(struct hreq *r)
{
	struct hconn *c = r->c;

	if (!r->started)
		hreq_start(r, 500, 0);
	if (c->state == HC_BODY)
		r->keep = 0; /* the rest of a streamed body is not read */
	if (r->chunked_out)
		evbuffer_add(c->out, "0\r\n\r\n", 5);
	if (!r->keep || r->close_out) {
		hconn_close(c);
		return;
	}
	hconn_flush(c);
	hconn_reset(c);
	/* a pipelined request waits in the input: read it from the loop,
	 * not from inside the caller's callback */
	if (evbuffer_get_length(c->in) > 0)
		event_active(&c->nev, EV_TIMEOUT, 1);
}

void
hreq_reply(struct hreq *r, int code, const void *body, size_t len)
{
	hreq_start(r, code, (int64_t)len);
	hreq_chunk(r, body, len);
	hreq_end(r);
}

void
hreq_abort(struct hreq *r)
{
	hconn_free(r->c);
}
