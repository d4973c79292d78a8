/* SPDX-License-Identifier: ISC */
/*
 * load: an HTTP load generator for bench/ollama-proxy. C keep-alive
 * connections each send POST requests one after another until N were
 * sent; per request it keeps the latency (send to last byte), the time to
 * the first body byte, and whether it succeeded (200 and a body holding
 * "done":true, nothing else: an error line or a cut stream fails).
 *   load HOST PORT PATH BODY N C [AT CMD]
 * AT CMD: run CMD (sh -c) just before request AT is sent.
 * Prints one line: n ok failed p50_ms p99_ms req_per_s ttfb_p50_ms
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

struct conn {
	struct evhttp_connection *evcon;
	double t0, tfirst;
	struct evbuffer *body;
};

static struct event_base *base;
static const char *host, *path, *body, *at_cmd;
static int port, total, at = -1, sent, done, ok;
static double *lat, *ttfb;

static double
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void send_one(struct conn *);

static void
on_chunk(struct evhttp_request *req, void *arg)
{
	struct conn *c = arg;

	if (c->tfirst == 0)
		c->tfirst = now_ms();
	evbuffer_add_buffer(c->body, evhttp_request_get_input_buffer(req));
}

static void
on_done(struct evhttp_request *req, void *arg)
{
	struct conn *c = arg;
	double t = now_ms();
	size_t len;
	char *s;

	if (req != NULL)
		evbuffer_add_buffer(
		    c->body, evhttp_request_get_input_buffer(req));
	len = evbuffer_get_length(c->body);
	s = calloc(1, len + 1);
	evbuffer_remove(c->body, s, len);
	if (req != NULL && evhttp_request_get_response_code(req) == 200 &&
	    (strstr(s, "\"done\":true") != NULL ||
	        strstr(s, "\"done\": true") != NULL) &&
	    strstr(s, "\"error\"") == NULL)
		ok++;
	free(s);
	lat[done] = t - c->t0;
	ttfb[done] = (c->tfirst ? c->tfirst : t) - c->t0;
	done++;
	if (done == total) {
		event_base_loopexit(base, NULL);
		return;
	}
	if (sent < total)
		send_one(c);
}

static void
send_one(struct conn *c)
{
	struct evhttp_request *req = evhttp_request_new(on_done, c);
	struct evbuffer *out = evhttp_request_get_output_buffer(req);

	if (sent == at && at_cmd != NULL && system(at_cmd) != 0)
		fprintf(stderr, "load: %s failed\n", at_cmd);
	sent++;
	evhttp_request_set_chunked_cb(req, on_chunk);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Host", host);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json");
	evbuffer_add(out, body, strlen(body));
	c->t0 = now_ms();
	c->tfirst = 0;
	evhttp_make_request(c->evcon, req, EVHTTP_REQ_POST, path);
}

static int
cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

int
main(int argc, char **argv)
{
	struct conn *cs;
	double t0;
	int i, nc;

	if (argc < 7) {
		fprintf(
		    stderr, "usage: load HOST PORT PATH BODY N C [AT CMD]\n");
		return 2;
	}
	host = argv[1];
	port = atoi(argv[2]);
	path = argv[3];
	body = argv[4];
	total = atoi(argv[5]);
	nc = atoi(argv[6]);
	if (argc > 8) {
		at = atoi(argv[7]);
		at_cmd = argv[8];
	}
	lat = calloc((size_t)total, sizeof(*lat));
	ttfb = calloc((size_t)total, sizeof(*ttfb));
	base = event_base_new();
	cs = calloc((size_t)nc, sizeof(*cs));
	t0 = now_ms();
	for (i = 0; i < nc && i < total; i++) {
		cs[i].evcon = evhttp_connection_base_new(
		    base, NULL, host, (unsigned short)port);
		evhttp_connection_set_timeout(cs[i].evcon, 30);
		cs[i].body = evbuffer_new();
		send_one(&cs[i]);
	}
	event_base_dispatch(base);
	t0 = now_ms() - t0;
	qsort(lat, (size_t)done, sizeof(*lat), cmp);
	qsort(ttfb, (size_t)done, sizeof(*ttfb), cmp);
	printf("%d %d %d %.3f %.3f %.0f %.3f\n", done, ok, done - ok,
	    lat[done / 2], lat[(int)(done * 0.99)], done / (t0 / 1000.0),
	    ttfb[done / 2]);
	return 0;
}
