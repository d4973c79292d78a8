/* SPDX-License-Identifier: ISC */
/*
 * proxy: ollama_listen. One struct proxy_req per client request lives from
 * the server's callback (heal/ollama/hsrv.h) to the end of the reply (or
 * the client's going).
 * Each attempt on a backend is one curl easy handle on the shared multi:
 * its header callback collects the status and headers, its write callback
 * starts the client's reply at the first body byte and passes every chunk
 * on as it arrives. Until that first byte nothing has reached the client,
 * so a refused connection, a 502/503 or a first-byte timeout moves on to
 * the next candidate; after it, a failure is told to the client in the
 * stream's own format and never papered over.
 */
#include <sys/resource.h>
#include <sys/types.h>

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <jansson.h>

#include "common/clock.h"
#include "common/evlog.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/tcplisten.h"
#include "common/xmalloc.h"
#include "config/conf.h"
#include "heal/curlev.h"
#include "heal/ollama/hsrv.h"
#include "heal/ollama/ollama_report.h"
#include "heal/ollama/ollama_route.h"
#include "heal/ollama/proxy.h"

#define PROXY_MAX_ACTIVE 512        /* concurrent requests; more get 503 */
#define PROXY_MAX_CONNS 1024        /* client connections open at once */
#define PROXY_CONNECT_MS 3000       /* connect to a backend */
#define PROXY_HEADERS_MAX 65536     /* request headers from a client */
#define PROXY_CLIENT_TIMEOUT 120000 /* ms: a client stalled, or idle */
#define PROXY_HEAD_TIMEOUT 30000    /* ms: a request head, from its start */
#define PROXY_REPORT_STALE_MS 30000
#define PROXY_TRIED_LEN 512
#define PROXY_OUT_MAX (1024 * 1024) /* queued for a client: pause above */
#define PROXY_SPARE 32      /* finished requests' structs kept for the next */
#define PROXY_SMALL_MESH 16 /* backends routed without an allocation */

enum proxy_fail {
	PROXY_F_CONNECT,    /* refused, reset, unreachable, DNS */
	PROXY_F_TIMEOUT,    /* no first byte in time */
	PROXY_F_BUSY,       /* 503 before the first byte */
	PROXY_F_BADGW,      /* 502 before the first byte */
	PROXY_F_MIDSTREAM,  /* died after the reply began */
	PROXY_F_CLIENTGONE, /* the client left; transfer cancelled */
	PROXY_F_N
};

static const char *const proxy_fail_names[PROXY_F_N] = {"connect",
    "first_byte_timeout", "busy_503", "bad_gateway_502", "mid_stream",
    "client_gone"};

/* upper bounds (s) of the time-to-first-byte histogram, then +Inf */
static const double proxy_buckets[] = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60};
#define PROXY_NBUCKETS (sizeof(proxy_buckets) / sizeof(proxy_buckets[0]))

struct proxy_backend {
	char name[CONF_NAME_MAX + 1];
	size_t peer;
	char *url; /* base URL without a trailing "/" */
	int local;
	unsigned priority;
	struct ollama_report rep;
	uint64_t rep_ms;  /* when rep arrived (mono) */
	uint64_t down_ms; /* marked down by us until then (mono); 0 = not */
	char last_error[160];
	int unreachable;          /* its owner says up, we cannot connect */
	struct curlev_get *fetch; /* /api/tags when only a digest is known */
	uint64_t requests, ok, fails[PROXY_F_N];
	uint64_t hist[PROXY_NBUCKETS + 1], hist_count;
	double hist_sum;
};

struct proxy {
	struct event_base *base;
	struct curlev *cv;
	struct evlog *ev;
	struct hsrv *srv;
	char *listen; /* what srv accepts on */
	const struct conf *conf;
	size_t self;
	struct proxy_backend *be;
	size_t nbe;
	size_t active;
	uint64_t requests, rejected[4]; /* 400, 404/503 no route, cap, 413 */
	uint64_t pauses;                /* a backend held for a slow client */
	struct proxy_req *reqs;         /* every live request */
	struct proxy_req *spare;        /* kept for reuse, by next */
	size_t nspare;
	CURL *easy[PROXY_SPARE]; /* transfer handles kept (proxy_easy_get) */
	size_t neasy;
	int reload; /* backends to rebuild when idle */
};

struct proxy_req {
	struct proxy *px;
	struct proxy_req *next, *prev;
	struct hreq *req;
	const char *uri;    /* path and query, owned by req */
	const char *method; /* owned by req */
	const char *body;   /* in req's body buffer */
	size_t bodylen;
	char model[OLLAMA_NAME_MAX + 1]; /* normalised, for routing */
	char asked[OLLAMA_NAME_MAX + 1]; /* as the client wrote it */
	size_t *order;                   /* order_buf in a small mesh */
	size_t order_buf[PROXY_SMALL_MESH];
	size_t ncand, next_cand;
	size_t cur; /* backend index of the attempt */
	CURL *easy;
	struct curl_slist *req_hdrs;
	long code;
	int started;       /* the client's reply began */
	int paused;        /* the backend waits for a slow client */
	int streaming;     /* the body comes as the client sends it (hsrv.h) */
	int upload_paused; /* the backend waits for more of it */
	uint64_t sent;     /* of it, gone to the backend */
	int stream;        /* 0 other, 1 NDJSON, 2 SSE */
	char clen[24];     /* the backend's Content-Length, "" if none */
	int chunked;       /* the backend sent a Transfer-Encoding */
	char last[2];      /* the last two bytes passed on */
	int all_busy;      /* every failure so far was a 503 */
	uint64_t t0_ms, attempt_ms;
	struct event fb_timer; /* embedded: one allocation fewer */
	char tried[PROXY_TRIED_LEN];
	struct proxy_tags *tags; /* GET /api/tags: one part per backend */
	size_t tags_left;
};

/* GET /api/tags asked of one backend, for the union */
struct proxy_tags {
	struct proxy_req *r;
	size_t be;
	struct curlev_get *get;
	json_t *models; /* its "models" array, or NULL */
};

static void proxy_attempt(struct proxy_req *);
static void proxy_easy_put(struct proxy *, CURL *);

/* --- backends ------------------------------------------------------------ */

static struct proxy_backend *
proxy_backend_of(struct proxy *px, size_t peer)
{
	size_t i;

	for (i = 0; i < px->nbe; i++)
		if (px->be[i].peer == peer)
			return &px->be[i];
	return NULL;
}

static void
proxy_backends_free(struct proxy *px)
{
	size_t i;

	for (i = 0; i < px->nbe; i++) {
		curlev_get_cancel(px->cv, px->be[i].fetch);
		free(px->be[i].url);
		ollama_report_clear(&px->be[i].rep);
	}
	free(px->be);
	px->be = NULL;
	px->nbe = 0;
}

/* the backends of a config, keeping what we knew of peers that stay */
static void
proxy_backends_load(struct proxy *px, const struct conf *c, size_t self)
{
	struct proxy_backend *nb = xcalloc(c->npeers + 1, sizeof(*nb)), *old;
	size_t i, n = 0, len;

	for (i = 0; i < c->npeers; i++) {
		const struct conf_peer *pe = &c->peers[i];
		struct proxy_backend *b = &nb[n];
		if (pe->ollama == NULL)
			continue;
		snprintf(b->name, sizeof(b->name), "%s", pe->name);
		b->peer = i;
		b->url = xstrdup(pe->ollama);
		len = strlen(b->url);
		while (len > 0 && b->url[len - 1] == '/')
			b->url[--len] = '\0';
		b->local = i == self;
		b->priority = pe->ollama_priority;
		old = NULL;
		for (size_t j = 0; j < px->nbe; j++)
			if (strcmp(px->be[j].name, b->name) == 0)
				old = &px->be[j];
		if (old != NULL) {
			ollama_report_copy(&b->rep, &old->rep);
			b->rep_ms = old->rep_ms;
			b->down_ms = old->down_ms;
			b->requests = old->requests;
			b->ok = old->ok;
			memcpy(b->fails, old->fails, sizeof(b->fails));
			memcpy(b->hist, old->hist, sizeof(b->hist));
			b->hist_count = old->hist_count;
			b->hist_sum = old->hist_sum;
		}
		n++;
	}
	proxy_backends_free(px);
	px->be = nb;
	px->nbe = n;
}

/* the seeds' classic: an Ollama up but bound to 127.0.0.1 only. Said
 * once per episode, in the event log, the log and /status. */
static void
proxy_unreachable(struct proxy *px, struct proxy_backend *b, const char *why)
{
	if (b->local || b->unreachable)
		return;
	b->unreachable = 1;
	evlog_writef(px->ev, "ollama_unreachable", b->name, NULL,
	    "%s reports its Ollama up but %s cannot reach it at %s (%s); is "
	    "it bound to 127.0.0.1 only? Set OLLAMA_HOST=0.0.0.0 in its "
	    "service definition",
	    b->name, px->conf->peers[px->self].name, b->url, why);
	log_warnx("ollama backend=%s unreachable at %s though its owner "
	          "reports it up (%s); OLLAMA_HOST=0.0.0.0?",
	    b->name, b->url, why);
}

static void
proxy_mark_down(struct proxy *px, struct proxy_backend *b, enum proxy_fail f,
    const char *why)
{
	uint64_t now = clock_mono_ms();
	int was = b->down_ms > now;

	b->fails[f]++;
	snprintf(b->last_error, sizeof(b->last_error), "%s", why);
	if (f == PROXY_F_BUSY)
		return; /* a full queue is not a dead backend */
	b->down_ms = now + px->conf->mesh.ollama_backoff_ms;
	if (f == PROXY_F_CONNECT && b->rep.known && b->rep.up)
		proxy_unreachable(px, b, why);
	if (!was) {
		evlog_writef(px->ev, "ollama_backend_down", b->name, NULL,
		    "%s: %s", proxy_fail_names[f], why);
		log_info("ollama backend=%s state=up->down (%s: %s)", b->name,
		    proxy_fail_names[f], why);
	}
}

static void
proxy_observe(struct proxy_backend *b, uint64_t ms)
{
	double s = (double)ms / 1000.0;
	size_t i;

	for (i = 0; i < PROXY_NBUCKETS && s > proxy_buckets[i]; i++)
		;
	b->hist[i]++;
	b->hist_count++;
	b->hist_sum += s;
}

/* --- client replies ------------------------------------------------------ */

/*
 * An error in the shape the client expects: Ollama's {"error":"..."}, or
 * on the OpenAI-compatible /v1/ paths what Ollama answers there,
 * {"error":{"message","type","param","code"}} with the type from the
 * status. New reference.
 */
static json_t *
proxy_error_json(const char *uri, int code, const char *msg)
{
	const char *type = code == 400   ? "invalid_request_error"
	                   : code == 404 ? "not_found_error"
	                                 : "api_error";

	if (uri != NULL && strncmp(uri, "/v1/", 4) == 0)
		return json_pack("{s{sssssnsn}}", "error", "message", msg,
		    "type", type, "param", "code");
	return json_pack("{ss}", "error", msg);
}

static void proxy_reply_error(struct hreq *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* the whole answer; the request is gone after it */
static void
proxy_reply_error(struct hreq *req, int code, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	json_t *o;
	char *s;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	o = proxy_error_json(hreq_uri(req), code, msg);
	s = json_dumps(o, JSON_COMPACT);
	hreq_add_header(req, "Content-Type", "application/json; charset=utf-8");
	if (s != NULL)
		hreq_reply(req, code, s, strlen(s));
	else
		hreq_reply(req, code, "{\"error\":\"error\"}", 17);
	free(s);
	json_decref(o);
}

/* the reply to a client is over (or the client gone): forget it all */
static void
proxy_req_free(struct proxy_req *r)
{
	struct proxy *px = r->px;

	proxy_easy_put(px, r->easy);
	evtimer_del(&r->fb_timer);
	for (size_t i = 0; r->tags != NULL && i < r->ncand; i++) {
		curlev_get_cancel(px->cv, r->tags[i].get);
		json_decref(r->tags[i].models);
	}
	free(r->tags);
	curl_slist_free_all(r->req_hdrs);
	if (r->prev != NULL)
		r->prev->next = r->next;
	else
		px->reqs = r->next;
	if (r->next != NULL)
		r->next->prev = r->prev;
	px->active--;
	if (px->active == 0 && px->reload) {
		px->reload = 0;
		proxy_backends_load(px, px->conf, px->self);
	}
	if (r->order != r->order_buf)
		free(r->order);
	/* a request struct is over a kilobyte: malloc's large-chunk path,
	 * which consolidates its small free chunks each time */
	if (px->nspare < PROXY_SPARE) {
		r->next = px->spare;
		px->spare = r;
		px->nspare++;
		return;
	}
	free(r);
}

/* a zeroed request struct, a spare one if there is */
static struct proxy_req *
proxy_req_new(struct proxy *px)
{
	struct proxy_req *r = px->spare;

	if (r == NULL)
		return xcalloc(1, sizeof(*r));
	px->spare = r->next;
	px->nspare--;
	memset(r, 0, sizeof(*r));
	return r;
}

static int
proxy_hop_header(const char *name)
{
	static const char *const hop[] = {"connection", "keep-alive",
	    "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
	    "content-length", "expect", "host", "date", "x-peerwatch-backend",
	    NULL};
	size_t i;

	for (i = 0; hop[i] != NULL; i++)
		if (strcasecmp(name, hop[i]) == 0)
			return 1;
	return 0;
}

/* ollama_first_byte_timeout from now: for the first byte, and then for
 * each next piece (a backend that stalls mid-stream is a dead one) */
static void
proxy_arm_timer(struct proxy_req *r)
{
	uint64_t ms = r->px->conf->mesh.ollama_first_byte_timeout_ms;
	struct timeval tv;

	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(&r->fb_timer, &tv);
}

/* the backend's status and headers go out: the point of no retry */
static void
proxy_start_reply(struct proxy_req *r)
{
	int64_t clen = -1;

	/* a body of known length goes out as it came, not chunked: less
	 * work on both ends. Never on a stream, whose death mid-way adds
	 * an error line; a plain body cut short gets a cut connection */
	if (r->stream == 0 && r->clen[0] != '\0')
		clen = (int64_t)strtoll(r->clen, NULL, 10);
	hreq_add_header(r->req, "X-Peerwatch-Backend", r->px->be[r->cur].name);
	hreq_start(r->req, (int)r->code, clen);
	r->started = 1;
	r->last[0] = r->last[1] = '\n';
	proxy_observe(&r->px->be[r->cur], clock_mono_ms() - r->attempt_ms);
}

static int
proxy_retryable(long code)
{
	return code == 502 || code == 503;
}

/* the transfer's directions paused as r says, the others going */
static void
proxy_pause_update(struct proxy_req *r)
{
	if (r->easy != NULL)
		curl_easy_pause(
		    r->easy, (r->paused ? CURLPAUSE_RECV : 0) |
		                 (r->upload_paused ? CURLPAUSE_SEND : 0));
}

/* what we queued for the client went out */
static void
proxy_on_drained(struct hreq *req, void *arg)
{
	struct proxy_req *r = arg;

	(void)req;
	if (r->paused) {
		r->paused = 0;
		proxy_pause_update(r);
	}
}

/* more of a streamed body came from the client, or the end of it */
static void
proxy_on_client_body(struct hreq *req, void *arg)
{
	struct proxy_req *r = arg;

	(void)req;
	if (r->upload_paused) {
		r->upload_paused = 0;
		proxy_pause_update(r);
	}
}

/* CURLOPT_READFUNCTION of a streamed body: what the client has sent */
static size_t
proxy_on_upload(char *buf, size_t size, size_t n, void *arg)
{
	struct proxy_req *r = arg;
	struct evbuffer *body = hreq_body(r->req);
	size_t len = evbuffer_get_length(body), want = size * n;

	if (len > 0) {
		if (len > want)
			len = want;
		evbuffer_remove(body, buf, len);
		r->sent += len;
		hreq_body_taken(r->req);
		proxy_arm_timer(r);
		return len;
	}
	if (!hreq_streaming(r->req))
		return 0; /* all of it */
	r->upload_paused = 1;
	return CURL_READFUNC_PAUSE;
}

/* CURLOPT_SEEKFUNCTION: curl may start a body again (a reused connection
 * found dead) only while none of it is gone */
static int
proxy_on_seek(void *arg, curl_off_t off, int origin)
{
	struct proxy_req *r = arg;

	return off == 0 && origin == SEEK_SET && r->sent == 0
	           ? CURL_SEEKFUNC_OK
	           : CURL_SEEKFUNC_CANTSEEK;
}

/* CURLOPT_WRITEFUNCTION: pass each piece on as it arrives */
static size_t
proxy_on_body(char *data, size_t size, size_t n, void *arg)
{
	struct proxy_req *r = arg;
	size_t len = size * n;

	if (len == 0)
		return 0;
	if (!r->started) {
		if (proxy_retryable(r->code))
			return len; /* dropped: the next backend answers */
		proxy_start_reply(r);
	}
	if (hreq_pending(r->req) > PROXY_OUT_MAX) {
		/* a slow client: hold the backend, not its whole answer */
		r->paused = 1;
		r->px->pauses++;
		return CURL_WRITEFUNC_PAUSE;
	}
	hreq_chunk(r->req, data, len);
	proxy_arm_timer(r);
	r->last[0] = len > 1 ? data[len - 2] : r->last[1];
	r->last[1] = data[len - 1];
	return len;
}

/* CURLOPT_HEADERFUNCTION: a status line starts a new header set (after a
 * 100 Continue, say); the others go straight into the client's reply,
 * which is sent only at the first body byte */
static size_t
proxy_on_header(char *data, size_t size, size_t n, void *arg)
{
	struct proxy_req *r = arg;
	size_t len = size * n;
	char line[8192], *val, *sp;
	long code;

	if (len >= sizeof(line) || r->started)
		return len;
	memcpy(line, data, len);
	line[len] = '\0';
	line[strcspn(line, "\r\n")] = '\0';
	if (strncmp(line, "HTTP/", 5) == 0) {
		if ((sp = strchr(line, ' ')) != NULL &&
		    (code = strtol(sp + 1, NULL, 10)) >= 100 && code <= 999)
			r->code = code;
		hreq_clear_headers(r->req);
		r->stream = 0;
		r->clen[0] = '\0';
		r->chunked = 0;
		return len;
	}
	if ((val = strchr(line, ':')) == NULL)
		return len;
	*val++ = '\0';
	val += strspn(val, " \t");
	if (strcasecmp(line, "transfer-encoding") == 0) {
		r->clen[0] = '\0'; /* it wins over a length */
		r->chunked = 1;
	} else if (strcasecmp(line, "content-length") == 0 && !r->chunked &&
	           strlen(val) < sizeof(r->clen) && val[0] != '\0' &&
	           strspn(val, "0123456789") == strlen(val))
		memcpy(r->clen, val, strlen(val) + 1);
	if (proxy_hop_header(line))
		return len;
	hreq_add_header(r->req, line, val);
	if (strcasecmp(line, "content-type") == 0) {
		if (strncasecmp(val, "application/x-ndjson", 20) == 0)
			r->stream = 1;
		else if (strncasecmp(val, "text/event-stream", 17) == 0)
			r->stream = 2;
	}
	return len;
}

static void
proxy_tried(struct proxy_req *r, const char *what)
{
	size_t len = strlen(r->tried);

	snprintf(r->tried + len, sizeof(r->tried) - len, "%s%s (%s)",
	    len ? ", " : "", r->px->be[r->cur].name, what);
}

/* this attempt failed before the first byte: the next candidate */
static void
proxy_next(struct proxy_req *r, enum proxy_fail f, const char *why)
{
	struct proxy_backend *b = &r->px->be[r->cur];

	proxy_tried(r, why);
	proxy_mark_down(r->px, b, f, why);
	if (f != PROXY_F_BUSY)
		r->all_busy = 0;
	proxy_easy_put(r->px, r->easy);
	r->easy = NULL;
	/* what that backend said goes nowhere */
	hreq_clear_headers(r->req);
	if (r->streaming && r->sent > 0) {
		/* what went is gone from here: no second backend gets it */
		proxy_reply_error(r->req, 502,
		    "backend %s failed after the request body began to go to "
		    "it (%s); a streamed body is not sent twice",
		    b->name, why);
		proxy_req_free(r);
		return;
	}
	if (r->next_cand < r->ncand) {
		evlog_writef(r->px->ev, "ollama_retry", b->name, NULL,
		    "%s failed before the first byte (%s); trying %s", b->name,
		    why, r->px->be[r->order[r->next_cand]].name);
		proxy_attempt(r);
		return;
	}
	if (r->all_busy)
		proxy_reply_error(r->req, 503,
		    "server busy, please try again: every Ollama backend is "
		    "busy (tried: %s)",
		    r->tried);
	else if (r->model[0] != '\0')
		proxy_reply_error(r->req, 503,
		    "no Ollama backend could serve model \"%s\" (tried: %s)",
		    r->asked, r->tried);
	else
		proxy_reply_error(r->req, 503,
		    "no Ollama backend could serve this request (tried: %s)",
		    r->tried);
	proxy_req_free(r);
}

/* after the first byte: say so in the stream's own format, then end */
static void
proxy_mid_stream(struct proxy_req *r, const char *why)
{
	struct proxy_backend *b = &r->px->be[r->cur];
	char msg[256], line[512];
	int n;
	json_t *o;
	char *s;

	snprintf(msg, sizeof(msg), "backend %s died mid-stream", b->name);
	proxy_mark_down(r->px, b, PROXY_F_MIDSTREAM, why);
	evlog_writef(r->px->ev, "ollama_mid_stream", b->name, NULL,
	    "%s %s: %s (%s)", r->uri, r->model[0] ? r->model : "-", msg, why);
	log_warnx("ollama backend=%s died mid-stream on %s: %s", b->name,
	    r->uri, why);
	if (r->stream == 0) {
		/* a plain JSON body cut short: only a cut connection says so */
		hreq_abort(r->req);
		proxy_req_free(r);
		return;
	}
	o = proxy_error_json(r->stream == 2 ? "/v1/" : NULL, 500, msg);
	s = json_dumps(o, JSON_COMPACT);
	/* end the event or line the backend left unfinished */
	if (r->stream == 2)
		n = snprintf(line, sizeof(line), "%sdata: %s\n\n",
		    r->last[1] != '\n'   ? "\n\n"
		    : r->last[0] != '\n' ? "\n"
		                         : "",
		    s ? s : "{}");
	else
		n = snprintf(line, sizeof(line), "%s%s\n",
		    r->last[1] == '\n' ? "" : "\n", s ? s : "{}");
	hreq_chunk(r->req, line,
	    n < 0                      ? 0
	    : (size_t)n < sizeof(line) ? (size_t)n
	                               : sizeof(line) - 1);
	free(s);
	json_decref(o);
	hreq_end(r->req);
	proxy_req_free(r);
}

static void
proxy_on_done(CURL *easy, CURLcode rc, void *arg)
{
	struct proxy_req *r = arg;
	struct proxy_backend *b = &r->px->be[r->cur];
	char why[160];

	(void)easy;
	if (rc != CURLE_OK)
		snprintf(why, sizeof(why), "%s", curl_easy_strerror(rc));
	if (r->started) {
		if (rc != CURLE_OK) {
			proxy_mid_stream(r, why);
			return;
		}
		b->ok++;
		b->unreachable = 0;
		hreq_end(r->req);
		proxy_req_free(r);
		return;
	}
	if (rc != CURLE_OK) {
		proxy_next(r, PROXY_F_CONNECT, why);
		return;
	}
	if (proxy_retryable(r->code)) {
		proxy_next(r, r->code == 503 ? PROXY_F_BUSY : PROXY_F_BADGW,
		    r->code == 503 ? "503 busy" : "502 bad gateway");
		return;
	}
	/* a complete answer without a body (HEAD, 204, an empty 200) */
	proxy_start_reply(r);
	b->ok++;
	hreq_end(r->req);
	proxy_req_free(r);
}

static void
proxy_on_first_byte_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct proxy_req *r = arg;
	char why[96];

	(void)fd;
	(void)what;
	if (r->paused || r->upload_paused) {
		proxy_arm_timer(r); /* the client is slow, not the backend */
		return;
	}
	if (r->started) {
		snprintf(why, sizeof(why), "no data for %llu ms",
		    (unsigned long long)
		        r->px->conf->mesh.ollama_first_byte_timeout_ms);
		proxy_mid_stream(r, why);
		return;
	}
	snprintf(why, sizeof(why), "no first byte in %llu ms",
	    (unsigned long long)r->px->conf->mesh.ollama_first_byte_timeout_ms);
	proxy_next(r, PROXY_F_TIMEOUT, why);
}

/* the client went under a live request: its transfer stops at once */
static void
proxy_on_client_gone(struct hreq *req, void *arg)
{
	struct proxy_req *r = arg;

	(void)req;
	r->px->be[r->cur].fails[PROXY_F_CLIENTGONE]++;
	log_debug("ollama client gone: %s cancelled on %s", r->uri,
	    r->px->be[r->cur].name);
	proxy_req_free(r);
}

/* a transfer handle with what every request shares set once: kept by
 * the proxy between requests rather than reset (curl_easy_reset and a
 * dozen options each time were a measurable part of a request) */
static CURL *
proxy_easy_get(struct proxy *px)
{
	CURL *e;

	if (px->neasy > 0)
		return px->easy[--px->neasy];
	if ((e = curl_easy_init()) == NULL)
		return NULL;
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	/* the backends are peers on the LAN: never through an http_proxy
	 * the daemon's environment may name (nor a getenv() per request) */
	curl_easy_setopt(e, CURLOPT_PROXY, "");
	curl_easy_setopt(e, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, (long)PROXY_CONNECT_MS);
	curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, proxy_on_header);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, proxy_on_body);
	curl_easy_setopt(e, CURLOPT_SEEKFUNCTION, proxy_on_seek);
	return e;
}

static void
proxy_easy_put(struct proxy *px, CURL *e)
{
	if (e == NULL)
		return;
	long conns = 0;

	curlev_remove(px->cv, e);
	/*
	 * A handle that had to connect may have counted a retry on a
	 * cached connection found dead, and curl (before 8.17) resets that
	 * count only with the handle: after five it fails at once. Such a
	 * handle goes; one that reused a connection stays.
	 */
	if (curl_easy_getinfo(e, CURLINFO_NUM_CONNECTS, &conns) != CURLE_OK ||
	    conns > 0) {
		curl_easy_cleanup(e);
		return;
	}
	/* nothing of the request may outlive it in the handle */
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(e, CURLOPT_POSTFIELDS, NULL);
	curl_easy_setopt(e, CURLOPT_READDATA, NULL);
	curl_easy_setopt(e, CURLOPT_SEEKDATA, NULL);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, NULL);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, NULL);
	if (px->neasy < PROXY_SPARE)
		px->easy[px->neasy++] = e;
	else
		curl_easy_cleanup(e);
}

static CURL *
proxy_easy(struct proxy_req *r, struct proxy_backend *b)
{
	CURL *e = proxy_easy_get(r->px);
	char buf[1024], *url = buf;
	int n;

	if (e == NULL)
		return NULL;
	n = snprintf(buf, sizeof(buf), "%s%s", b->url, r->uri);
	if (n < 0 || (size_t)n >= sizeof(buf))
		url = xasprintf("%s%s", b->url, r->uri);
	curl_easy_setopt(e, CURLOPT_URL, url);
	if (url != buf)
		free(url);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->req_hdrs);
	curl_easy_setopt(e, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
	/* the method from scratch: the handle served another request */
	curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, NULL);
	curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 0L);
	if (strcmp(r->method, "HEAD") == 0)
		curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
	else if (r->streaming) {
		/* as it comes; chunked (-1) when the client's was */
		curl_easy_setopt(e, CURLOPT_POST, 1L);
		curl_easy_setopt(e, CURLOPT_READFUNCTION, proxy_on_upload);
		curl_easy_setopt(e, CURLOPT_READDATA, r);
		curl_easy_setopt(e, CURLOPT_SEEKDATA, r);
		curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
		    (curl_off_t)hreq_body_length(r->req));
		/* a cached connection found dead after the body began could
		 * not be given it again: a new one for an upload */
		curl_easy_setopt(e, CURLOPT_FRESH_CONNECT, 1L);
		if (strcmp(r->method, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	} else if (strcmp(r->method, "GET") != 0 &&
	           strcmp(r->method, "POST") != 0 && r->bodylen == 0 &&
	           hreq_header(r->req, "content-length") == NULL) {
		/* a DELETE or OPTIONS without a body goes without one */
		curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	} else if (strcmp(r->method, "GET") != 0) {
		curl_easy_setopt(
		    e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->bodylen);
		curl_easy_setopt(e, CURLOPT_POSTFIELDS, r->body ? r->body : "");
		if (strcmp(r->method, "POST") != 0)
			curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, r->method);
	}
	return e;
}

/* try the next candidate */
static void
proxy_attempt(struct proxy_req *r)
{
	struct proxy *px = r->px;
	struct proxy_backend *b;

	r->cur = r->order[r->next_cand++];
	b = &px->be[r->cur];
	b->requests++;
	r->code = 0;
	r->clen[0] = '\0';
	r->chunked = 0;
	r->upload_paused = 0;
	hreq_clear_headers(r->req);
	r->attempt_ms = clock_mono_ms();
	if ((r->easy = proxy_easy(r, b)) == NULL ||
	    curlev_add(px->cv, r->easy, proxy_on_done, r) == -1) {
		proxy_easy_put(px, r->easy);
		r->easy = NULL;
		proxy_next(r, PROXY_F_CONNECT, "cannot start a transfer");
		return;
	}
	proxy_arm_timer(r);
}

/* --- requests ------------------------------------------------------------ */

static void
proxy_copy_headers(struct proxy_req *r)
{
	const char *k, *v;
	char buf[512], *line;
	size_t i;
	int n;

	for (i = 0; hreq_header_at(r->req, i, &k, &v); i++) {
		if (proxy_hop_header(k))
			continue;
		n = snprintf(buf, sizeof(buf), "%s: %s", k, v);
		line = n >= 0 && (size_t)n < sizeof(buf)
		           ? buf
		           : xasprintf("%s: %s", k, v);
		r->req_hdrs = curl_slist_append(r->req_hdrs, line);
		if (line != buf)
			free(line);
	}
	/* no "Expect: 100-continue" round trip for large bodies */
	r->req_hdrs = curl_slist_append(r->req_hdrs, "Expect:");
	/* nor a form's content type where the client gave none */
	if (hreq_header(r->req, "content-type") == NULL)
		r->req_hdrs = curl_slist_append(r->req_hdrs, "Content-Type:");
}

/* a body of this path is read for its "model": whole, within
 * ollama_max_body. Others (blob uploads) stream to the backend. */
static int
proxy_body_routed(const char *path)
{
	return strncmp(path, "/api/blobs/", 11) != 0 &&
	       (strncmp(path, "/api/", 5) == 0 ||
	           strncmp(path, "/v1/", 4) == 0);
}

static int
proxy_wants_stream(struct hreq *req, void *arg)
{
	(void)arg;
	return !proxy_body_routed(hreq_uri(req));
}

/* the JSON body's "model", checked; -1 (reply sent) on a bad body */
static int
proxy_parse_body(struct proxy_req *r)
{
	const char *path = r->uri;
	json_error_t jerr;
	const json_t *m;
	json_t *o;

	if (r->bodylen == 0 || !proxy_body_routed(path))
		return 0;
	o = json_loadb(r->body, r->bodylen, 0, &jerr);
	if (o == NULL || !json_is_object(o)) {
		r->px->rejected[0]++;
		proxy_reply_error(r->req, 400,
		    "invalid JSON body: %s (line %d)",
		    o ? "not an object" : jerr.text, jerr.line);
		json_decref(o);
		return -1;
	}
	m = json_object_get(o, "model");
	if (m == NULL)
		m = json_object_get(o, "name"); /* older /api/show, /api/pull */
	/* pull and create bring a model that is not there yet: any
	 * backend will do (this host's own first), none is "without it" */
	if (strcmp(path, "/api/pull") == 0 || strcmp(path, "/api/create") == 0)
		m = NULL;
	if (json_is_string(m)) {
		snprintf(
		    r->asked, sizeof(r->asked), "%s", json_string_value(m));
		if (ollama_model_norm(r->asked, r->model, sizeof(r->model)) ==
		    -1)
			r->model[0] = '\0';
	}
	json_decref(o);
	return 0;
}

/* this request's candidates, best first */
static void
proxy_route(struct proxy_req *r)
{
	struct proxy *px = r->px;
	struct ollama_route_in inbuf[PROXY_SMALL_MESH], *in = inbuf;
	uint64_t now = clock_mono_ms();
	size_t i;

	/* a mesh of 2-10 hosts needs no allocation here */
	if (px->nbe < PROXY_SMALL_MESH) {
		memset(inbuf, 0, sizeof(inbuf));
		r->order = r->order_buf;
	} else {
		in = xcalloc(px->nbe + 1, sizeof(*in));
		r->order = xcalloc(px->nbe + 1, sizeof(*r->order));
	}
	for (i = 0; i < px->nbe; i++) {
		struct proxy_backend *b = &px->be[i];
		in[i].local = b->local;
		in[i].priority = (int)b->priority;
		in[i].reported =
		    b->rep.known &&
		    (b->local || now - b->rep_ms < PROXY_REPORT_STALE_MS);
		in[i].up = b->rep.up;
		in[i].marked =
		    b->down_ms > now || (!b->local && b->rep.lo_only);
		in[i].has_model = -1;
		if (r->model[0] != '\0' && b->rep.known)
			in[i].has_model =
			    ollama_report_has(&b->rep, r->model, &in[i].loaded);
	}
	r->ncand = ollama_route_order(in, px->nbe, r->order);
	if (in != inbuf)
		free(in);
}

/* the names of the backends known to be up, for a 404's message */
static void
proxy_names_up(struct proxy *px, char *out, size_t len)
{
	size_t i, n = 0;

	out[0] = '\0';
	for (i = 0; i < px->nbe; i++)
		if (px->be[i].rep.known && px->be[i].rep.up)
			n += (size_t)snprintf(out + n, n < len ? len - n : 0,
			    "%s%s", n ? ", " : "", px->be[i].name);
	if (n == 0)
		snprintf(out, len, "none");
}

/* every part is in: the models of all, each name once, best backend's
 * entry first (route order) */
static void
proxy_tags_reply(struct proxy_req *r)
{
	json_t *all = json_array(), *seen = json_object(), *m, *o;
	char who[256] = "", *s;
	size_t i, k, n = 0;

	for (i = 0; i < r->ncand; i++) {
		if (r->tags[i].models == NULL)
			continue;
		n += (size_t)snprintf(who + n,
		    n < sizeof(who) ? sizeof(who) - n : 0, "%s%s", n ? "," : "",
		    r->px->be[r->tags[i].be].name);
		json_array_foreach(r->tags[i].models, k, m) {
			const char *name =
			    json_string_value(json_object_get(m, "name"));
			if (name == NULL || json_object_get(seen, name) != NULL)
				continue;
			json_object_set_new(seen, name, json_true());
			json_array_append(all, m);
		}
	}
	if (n == 0) {
		proxy_reply_error(
		    r->req, 503, "no Ollama backend answered /api/tags");
	} else {
		o = json_pack("{so}", "models", all);
		all = NULL;
		s = json_dumps(o, JSON_COMPACT);
		hreq_add_header(
		    r->req, "Content-Type", "application/json; charset=utf-8");
		hreq_add_header(r->req, "X-Peerwatch-Backend", who);
		hreq_reply(r->req, 200, s ? s : "{}", s ? strlen(s) : 2);
		free(s);
		json_decref(o);
	}
	json_decref(all);
	json_decref(seen);
	proxy_req_free(r);
}

static void
proxy_on_tags_part(const json_t *body, void *arg)
{
	struct proxy_tags *t = arg;
	struct proxy_req *r = t->r;
	const json_t *m = json_object_get(body, "models");

	t->get = NULL;
	if (json_is_array(m)) {
		t->models = json_deep_copy(m);
		r->px->be[t->be].ok++;
	} else
		r->px->be[t->be].fails[PROXY_F_CONNECT]++;
	if (--r->tags_left == 0)
		proxy_tags_reply(r);
}

/*
 * GET /api/tags answers with the union of the backends' models, so a
 * client sees every model the mesh can serve (a request for one is then
 * routed to a backend that has it).
 */
static void
proxy_tags_union(struct proxy_req *r)
{
	struct proxy *px = r->px;
	uint64_t tmo = px->conf->mesh.ollama_first_byte_timeout_ms;
	size_t i;
	char *url;

	if (tmo > 10000)
		tmo = 10000;
	r->cur = r->order[0];
	r->tags = xcalloc(r->ncand, sizeof(*r->tags));
	r->tags_left = r->ncand;
	for (i = 0; i < r->ncand; i++) {
		r->tags[i].r = r;
		r->tags[i].be = r->order[i];
		px->be[r->order[i]].requests++;
		url = xasprintf("%s/api/tags", px->be[r->order[i]].url);
		r->tags[i].get = curlev_get_json(
		    px->cv, url, (long)tmo, proxy_on_tags_part, &r->tags[i]);
		free(url);
		if (r->tags[i].get == NULL)
			r->tags_left--;
	}
	if (r->tags_left == 0)
		proxy_tags_reply(r);
}

static void
proxy_on_request(struct hreq *req, void *arg)
{
	struct proxy *px = arg;
	struct evbuffer *in = hreq_body(req);
	struct proxy_req *r;
	char names[256];

	px->requests++;
	if (px->active >= PROXY_MAX_ACTIVE || px->nbe == 0) {
		px->rejected[2]++;
		proxy_reply_error(req, 503,
		    px->nbe ? "server busy, please try again: too many "
		              "requests through peerwatch"
		            : "no Ollama backend configured");
		return;
	}
	r = proxy_req_new(px);
	r->px = px;
	r->req = req;
	r->uri = hreq_uri(req);
	r->method = hreq_method(req);
	r->t0_ms = clock_mono_ms();
	r->all_busy = 1;
	evtimer_assign(&r->fb_timer, px->base, proxy_on_first_byte_timeout, r);
	r->next = px->reqs;
	if (px->reqs != NULL)
		px->reqs->prev = r;
	px->reqs = r;
	px->active++;
	/* the body stays in the request's buffer, whole for every retry;
	 * a streamed one goes as it comes (proxy_on_upload) */
	r->streaming = hreq_streaming(req);
	if (!r->streaming && (r->bodylen = evbuffer_get_length(in)) > 0)
		r->body = (const char *)evbuffer_pullup(in, -1);
	if (proxy_parse_body(r) == -1) {
		proxy_req_free(r);
		return;
	}
	proxy_route(r);
	if (r->ncand == 0) {
		px->rejected[1]++;
		proxy_names_up(px, names, sizeof(names));
		proxy_reply_error(req, 404,
		    "model \"%s\" not found on any Ollama backend (up: %s)",
		    r->asked, names);
		proxy_req_free(r);
		return;
	}
	hreq_set_cbs(req, proxy_on_client_gone, proxy_on_drained, r);
	hreq_set_body_cb(req, proxy_on_client_body);
	if (strcmp(r->method, "GET") == 0 && strcmp(r->uri, "/api/tags") == 0) {
		proxy_tags_union(r);
		return;
	}
	proxy_copy_headers(r);
	proxy_attempt(r);
}

/* the server refused a request before it was whole: said in the same
 * JSON shape as every other error */
static void
proxy_on_reject(struct hreq *req, int code, const char *msg, void *arg)
{
	struct proxy *px = arg;

	px->requests++;
	px->rejected[code == 413 ? 3 : 0]++;
	if (code == 413)
		proxy_reply_error(req, 413,
		    "request body too large: ollama_max_body is %llu bytes",
		    (unsigned long long)px->conf->mesh.ollama_max_body);
	else
		proxy_reply_error(req, code, "%s", msg);
}

/* --- reports ------------------------------------------------------------- */

static void
proxy_on_fetched(const json_t *tags, void *arg)
{
	struct proxy_backend *b = arg;
	struct ollama_report rep;

	b->fetch = NULL;
	memset(&rep, 0, sizeof(rep));
	if (tags != NULL && ollama_report_from_api(&rep, tags, NULL) == 0 &&
	    !b->rep.lists_known) {
		/* loaded models are not in /api/tags: none known */
		rep.digest = b->rep.digest;
		ollama_report_clear(&b->rep);
		b->rep = rep;
	} else
		ollama_report_clear(&rep);
}

/* only a digest came: ask the backend itself for its models */
static void
proxy_fetch_tags(struct proxy *px, struct proxy_backend *b)
{
	char *url;

	if (b->fetch != NULL)
		return;
	url = xasprintf("%s/api/tags", b->url);
	b->fetch = curlev_get_json(px->cv, url, 5000L, proxy_on_fetched, b);
	free(url);
}

static void
proxy_set_report(
    struct proxy *px, struct proxy_backend *b, const struct ollama_report *n)
{
	int came_up = n->up && (!b->rep.known || !b->rep.up);

	b->rep_ms = clock_mono_ms();
	if (n->up && n->lo_only)
		proxy_unreachable(px, b, "it answers on 127.0.0.1 only");
	if (!n->lists_known && b->rep.lists_known && n->up &&
	    b->rep.digest == n->digest) {
		/* same digest: the lists we fetched still hold */
		b->rep.lo_only = n->lo_only;
		return;
	}
	if (b->rep.known && b->rep.up != n->up) {
		evlog_writef(px->ev, "ollama_report", b->name, NULL,
		    "%s reports its Ollama %s", b->name, n->up ? "up" : "down");
		log_info("ollama backend=%s owner reports %s", b->name,
		    n->up ? "up" : "down");
	}
	if (!n->up && b->rep.known) {
		/* keep what it had: a request for a model no backend ever
		 * had is a 404, not a 503 because one of them is down */
		b->rep.up = 0;
		b->rep.lo_only = 0;
		return;
	}
	ollama_report_copy(&b->rep, n);
	if (came_up && !n->lo_only) {
		/* its owner sees it back: our own backoff ends */
		b->down_ms = 0;
		b->unreachable = 0;
	}
	if (n->up && !n->lists_known)
		proxy_fetch_tags(px, b);
}

void
proxy_on_payload(struct proxy *px, size_t peer, const json_t *o)
{
	struct proxy_backend *b = proxy_backend_of(px, peer);
	struct ollama_report n;

	if (b == NULL || b->local || o == NULL)
		return;
	memset(&n, 0, sizeof(n));
	if (ollama_report_from_payload(&n, o) == -1) {
		log_debug("ollama: bad report from %s ignored", b->name);
		return;
	}
	proxy_set_report(px, b, &n);
	ollama_report_clear(&n);
}

void
proxy_on_local(struct proxy *px, const struct ollama_report *rep)
{
	struct proxy_backend *b = proxy_backend_of(px, px->self);

	if (b != NULL)
		proxy_set_report(px, b, rep);
}

/* --- status and metrics -------------------------------------------------- */

json_t *
proxy_status_json(const struct proxy *px)
{
	json_t *o = json_object(), *bs = json_object(), *b, *f;
	uint64_t now = clock_mono_ms();
	size_t i, k;

	for (i = 0; i < px->nbe; i++) {
		const struct proxy_backend *be = &px->be[i];
		f = json_object();
		for (k = 0; k < PROXY_F_N; k++)
			json_object_set_new(f, proxy_fail_names[k],
			    json_integer((json_int_t)be->fails[k]));
		b = json_pack("{sssbsbsosbsIsIso}", "url", be->url, "local",
		    be->local, "reported_up", be->rep.known && be->rep.up,
		    "reported_at_ms_ago",
		    be->rep.known ? json_integer((json_int_t)(now - be->rep_ms))
		                  : json_null(),
		    "marked_down", be->down_ms > now, "requests",
		    (json_int_t)be->requests, "ok", (json_int_t)be->ok,
		    "failures", f);
		json_object_set_new(b, "priority", json_integer(be->priority));
		if (be->rep.lists_known) {
			json_object_set_new(b, "models",
			    ollama_list_json(be->rep.models, be->rep.nmodels));
			json_object_set_new(b, "loaded",
			    ollama_list_json(be->rep.loaded, be->rep.nloaded));
		}
		if (be->last_error[0] != '\0')
			json_object_set_new(
			    b, "last_error", json_string(be->last_error));
		if (be->rep.lo_only)
			json_object_set_new(b, "loopback_only", json_true());
		if (be->unreachable)
			json_object_set_new(b, "diagnostic",
			    json_string(
			        "its owner reports Ollama up but this "
			        "peer cannot connect: is it bound to "
			        "127.0.0.1 only? Set OLLAMA_HOST=0.0.0.0 "
			        "in its service definition"));
		json_object_set_new(bs, be->name, b);
	}
	json_object_set_new(
	    o, "listen", json_string(conf_ollama_listen(px->conf, px->self)));
	json_object_set_new(o, "active", json_integer((json_int_t)px->active));
	json_object_set_new(
	    o, "requests", json_integer((json_int_t)px->requests));
	json_object_set_new(o, "backends", bs);
	return o;
}

static void
proxy_metrics_hist(struct metrics *m, const struct proxy_backend *b)
{
	uint64_t cum = 0;
	char lab[CONF_NAME_MAX + 64];
	size_t i;

	for (i = 0; i <= PROXY_NBUCKETS; i++) {
		cum += b->hist[i];
		if (i < PROXY_NBUCKETS)
			snprintf(lab, sizeof(lab), "backend=\"%s\",le=\"%g\"",
			    b->name, proxy_buckets[i]);
		else
			snprintf(lab, sizeof(lab), "backend=\"%s\",le=\"+Inf\"",
			    b->name);
		metrics_u64(
		    m, "peerwatch_ollama_first_byte_seconds_bucket", lab, cum);
	}
	metrics_printf(m,
	    "peerwatch_ollama_first_byte_seconds_sum{backend=\"%s\"} %.6f\n",
	    b->name, b->hist_sum);
	snprintf(lab, sizeof(lab), "backend=\"%s\"", b->name);
	metrics_u64(
	    m, "peerwatch_ollama_first_byte_seconds_count", lab, b->hist_count);
}

void
proxy_metrics(const struct proxy *px, struct metrics *m)
{
	static const char *const rej[] = {
	    "bad_request", "no_backend", "busy", "too_large"};
	uint64_t now = clock_mono_ms();
	char lab[CONF_NAME_MAX + 64];
	struct hsrv_stats hs;
	size_t i, k;

	hsrv_stats(px->srv, &hs);

	metrics_family(m, "peerwatch_ollama_requests_total", "counter",
	    "Requests to the Ollama failover endpoint.");
	metrics_u64(m, "peerwatch_ollama_requests_total", NULL, px->requests);
	metrics_family(m, "peerwatch_ollama_rejected_total", "counter",
	    "Requests answered by the endpoint itself with an error, by "
	    "reason.");
	for (i = 0; i < 4; i++) {
		snprintf(lab, sizeof(lab), "reason=\"%s\"", rej[i]);
		metrics_u64(
		    m, "peerwatch_ollama_rejected_total", lab, px->rejected[i]);
	}
	metrics_family(m, "peerwatch_ollama_active", "gauge",
	    "Requests being served by the endpoint now.");
	metrics_u64(m, "peerwatch_ollama_active", NULL, px->active);
	metrics_family(m, "peerwatch_ollama_slow_client_pauses_total",
	    "counter",
	    "Times a backend transfer was paused for a client reading slowly.");
	metrics_u64(
	    m, "peerwatch_ollama_slow_client_pauses_total", NULL, px->pauses);
	metrics_family(m, "peerwatch_ollama_accept_failures_total", "counter",
	    "accept() failures on ollama_listen (out of descriptors or "
	    "memory), each followed by a pause.");
	metrics_u64(m, "peerwatch_ollama_accept_failures_total", NULL,
	    hs.accept_failures);
	metrics_family(m, "peerwatch_ollama_connections", "gauge",
	    "Client connections open on ollama_listen.");
	metrics_u64(m, "peerwatch_ollama_connections", NULL, hs.open);
	metrics_family(m, "peerwatch_ollama_connection_cap_total", "counter",
	    "Times ollama_listen reached its cap of open connections (an "
	    "idle one is closed to make room, or accepting waits).");
	metrics_u64(
	    m, "peerwatch_ollama_connection_cap_total", NULL, hs.at_cap);
	metrics_family(m, "peerwatch_ollama_backend_requests_total", "counter",
	    "Attempts sent to each Ollama backend.");
	for (i = 0; i < px->nbe; i++) {
		snprintf(lab, sizeof(lab), "backend=\"%s\"", px->be[i].name);
		metrics_u64(m, "peerwatch_ollama_backend_requests_total", lab,
		    px->be[i].requests);
	}
	metrics_family(m, "peerwatch_ollama_backend_up", "gauge",
	    "1 if the backend's owner reports it up and it has not failed "
	    "here within ollama_backoff.");
	for (i = 0; i < px->nbe; i++) {
		snprintf(lab, sizeof(lab), "backend=\"%s\"", px->be[i].name);
		metrics_u64(m, "peerwatch_ollama_backend_up", lab,
		    px->be[i].rep.known && px->be[i].rep.up &&
		        px->be[i].down_ms <= now);
	}
	metrics_family(m, "peerwatch_ollama_backend_failures_total", "counter",
	    "Failures seen at each backend, by kind.");
	for (i = 0; i < px->nbe; i++)
		for (k = 0; k < PROXY_F_N; k++) {
			snprintf(lab, sizeof(lab), "backend=\"%s\",kind=\"%s\"",
			    px->be[i].name, proxy_fail_names[k]);
			metrics_u64(m,
			    "peerwatch_ollama_backend_failures_total", lab,
			    px->be[i].fails[k]);
		}
	metrics_family(m, "peerwatch_ollama_first_byte_seconds", "histogram",
	    "Time from sending a request to a backend to its first response "
	    "byte.");
	for (i = 0; i < px->nbe; i++)
		proxy_metrics_hist(m, &px->be[i]);
}

/* --- life cycle ---------------------------------------------------------- */

int
proxy_wanted(const struct conf *c)
{
	size_t i;

	for (i = 0; i < c->npeers; i++)
		if (c->peers[i].ollama != NULL)
			return 1;
	return 0;
}

/* the port of host:port, 0 if there is none */
static unsigned
proxy_port_of(const char *hostport)
{
	char *host = NULL;
	uint16_t port = 0;

	if (conf_parse_hostport(hostport, &host, &port) == -1)
		port = 0;
	free(host);
	return port;
}

/* a listening socket for ollama_listen, or -1 with err (and errno) */
static int
proxy_listen_open(const char *listen, char *err, size_t errlen)
{
	char *host = NULL;
	uint16_t port = 0;
	int fd, saved;

	if (conf_parse_hostport(listen, &host, &port) == -1 || port == 0) {
		snprintf(
		    err, errlen, "ollama_listen %s: want host:port", listen);
		free(host);
		return -1;
	}
	if ((fd = tcplisten(host, port, 128)) == -1) {
		saved = errno;
		snprintf(err, errlen, "ollama_listen %s: cannot listen: %s",
		    listen, strerror(saved));
		free(host);
		errno = saved;
		return -1;
	}
	free(host);
	return fd;
}

/* PROXY_MAX_CONNS, or fewer when the descriptor limit would run out
 * first: each client may hold one to a backend too */
static unsigned
proxy_max_conns(void)
{
	struct rlimit rl;
	rlim_t n;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1 || rl.rlim_cur == RLIM_INFINITY)
		return PROXY_MAX_CONNS;
	n = rl.rlim_cur > 128 ? (rl.rlim_cur - 64) / 2 : 32;
	return n < PROXY_MAX_CONNS ? (unsigned)n : PROXY_MAX_CONNS;
}

/* fd is the endpoint's now (closed if that fails); the socket it
 * replaces closes, its connections go on */
static int
proxy_listen_on(struct proxy *px, int fd, const char *listen)
{
	char what[256];

	snprintf(what, sizeof(what), "ollama_listen %s", listen);
	if (hsrv_listen(px->srv, fd, what) == -1)
		return -1;
	free(px->listen);
	px->listen = xstrdup(listen);
	return 0;
}

struct proxy *
proxy_new(struct event_base *base, struct curlev *cv, struct evlog *ev,
    const struct conf *c, size_t self, char *err, size_t errlen)
{
	struct proxy *px = xcalloc(1, sizeof(*px));
	const char *listen = conf_ollama_listen(c, self);
	struct hsrv_limits lim = {proxy_max_conns(), PROXY_HEADERS_MAX,
	    c->mesh.ollama_max_body, PROXY_CLIENT_TIMEOUT, PROXY_HEAD_TIMEOUT};
	int fd;

	px->base = base;
	px->cv = cv;
	px->ev = ev;
	px->conf = c;
	px->self = self;
	proxy_backends_load(px, c, self);
	px->srv = hsrv_new(base, &lim, proxy_on_request, proxy_on_reject, px);
	hsrv_set_stream_cb(px->srv, proxy_wants_stream);
	if ((fd = proxy_listen_open(listen, err, errlen)) == -1)
		goto fail;
	if (proxy_listen_on(px, fd, listen) == -1) {
		snprintf(err, errlen, "ollama_listen %s: cannot listen: %s",
		    listen, strerror(errno));
		goto fail;
	}
	return px;
fail:
	proxy_free(px);
	return NULL;
}

int
proxy_listen_prepare(const struct proxy *px, const struct conf *c, size_t self,
    int *fd, char *err, size_t errlen)
{
	const char *listen = conf_ollama_listen(c, self);

	*fd = -1;
	if (strcmp(listen, px->listen) == 0)
		return 0;
	if ((*fd = proxy_listen_open(listen, err, errlen)) != -1)
		return 0;
	/*
	 * The same port on another address (127.0.0.1 to 0.0.0.0, or only
	 * spelt differently): on Linux the running listener itself holds
	 * it. Not a reason to refuse the rest of the reload.
	 */
	if (errno != EADDRINUSE ||
	    proxy_port_of(listen) != proxy_port_of(px->listen))
		return -1;
	log_warnx("reload: ollama_listen %s: port %u is held by the endpoint "
	          "on %s; it moves with the next restart",
	    listen, proxy_port_of(listen), px->listen);
	err[0] = '\0';
	return 0;
}

void
proxy_reconf(struct proxy *px, const struct conf *c, size_t self, int fd)
{
	const char *listen = conf_ollama_listen(c, self);
	char *was;

	/* live requests hold backends by index: the array is rebuilt when
	 * none is live (at once, or when the last one ends) */
	px->conf = c;
	px->self = self;
	if (px->active == 0)
		proxy_backends_load(px, c, self);
	else
		px->reload = 1;
	hsrv_set_max_body(px->srv, c->mesh.ollama_max_body);
	if (fd == -1)
		return;
	was = xstrdup(px->listen);
	if (proxy_listen_on(px, fd, listen) == -1) {
		log_warnx("ollama_listen %s: cannot accept there (%s); still "
		          "on %s",
		    listen, strerror(errno), was);
	} else {
		/* connections open on the old address finish there */
		log_info("ollama_listen moved from %s to %s", was, listen);
		evlog_writef(px->ev, "ollama_listen_moved", c->peers[self].name,
		    NULL, "from %s to %s", was, listen);
	}
	free(was);
}

void
proxy_free(struct proxy *px)
{
	if (px == NULL)
		return;
	while (px->reqs != NULL)
		proxy_req_free(px->reqs); /* hsrv_free closes them */
	while (px->spare != NULL) {
		struct proxy_req *r = px->spare;
		px->spare = r->next;
		free(r);
	}
	hsrv_free(px->srv);
	while (px->neasy > 0)
		curl_easy_cleanup(px->easy[--px->neasy]);
	proxy_backends_free(px);
	free(px->listen);
	free(px);
}
