/* SPDX-License-Identifier: ISC */
/*
 * backend: a fast fake Ollama for bench/ollama-proxy only (the test fake,
 * tests/tools/fake_ollama.py, is too slow to measure a proxy with). It
 * answers GET /, /api/tags, /api/ps and POST /api/generate: one JSON
 * object when the body has "stream":false, else NDJSON lines, one every
 * --token-us microseconds, ending in done:true.
 *   backend HOST PORT [TOKENS] [TOKEN_US]
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

static int ntokens = 8;
static long token_us = 0;

struct stream {
	struct evhttp_request *req;
	struct event *ev;
	int sent;
};

static void
json_reply(struct evhttp_request *req, const char *body)
{
	struct evbuffer *b = evbuffer_new();

	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "application/json; charset=utf-8");
	evbuffer_add(b, body, strlen(body));
	evhttp_send_reply(req, 200, "OK", b);
	evbuffer_free(b);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct stream *s = arg;
	struct evbuffer *b = evbuffer_new();
	struct timeval tv = {token_us / 1000000, token_us % 1000000};

	(void)fd;
	(void)what;
	if (s->sent < ntokens) {
		evbuffer_add_printf(b,
		    "{\"model\":\"tiny\",\"created_at\":\"2026-01-01T00:00:"
		    "00Z\","
		    "\"response\":\"tok%d \",\"done\":false}\n",
		    s->sent);
		evhttp_send_reply_chunk(s->req, b);
		s->sent++;
		evtimer_add(s->ev, &tv);
	} else {
		evbuffer_add_printf(b, "{\"model\":\"tiny\",\"created_at\":"
		                       "\"2026-01-01T00:00:00Z\","
		                       "\"response\":\"\",\"done\":true,\"done_"
		                       "reason\":\"stop\"}\n");
		evhttp_send_reply_chunk(s->req, b);
		evhttp_send_reply_end(s->req);
		event_free(s->ev);
		free(s);
	}
	evbuffer_free(b);
}

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct event_base *base = arg;
	const char *uri = evhttp_request_get_uri(req);
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(in);
	char *body = calloc(1, len + 1);
	struct stream *s;
	int one = 1;

	/* tokens are small writes: no Nagle delay, as in Ollama (Go) */
	setsockopt(bufferevent_getfd(evhttp_connection_get_bufferevent(
	               evhttp_request_get_connection(req))),
	    IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	evbuffer_remove(in, body, len);
	if (strcmp(uri, "/api/tags") == 0 || strcmp(uri, "/api/ps") == 0)
		json_reply(req, "{\"models\":[{\"name\":\"tiny:latest\","
		                "\"model\":\"tiny:latest\"}]}");
	else if (strcmp(uri, "/api/generate") == 0 &&
	         strstr(body, "\"stream\":false") != NULL)
		json_reply(req,
		    "{\"model\":\"tiny\",\"created_at\":"
		    "\"2026-01-01T00:00:00Z\",\"response\":\"The sky "
		    "is blue.\",\"done\":true,\"done_reason\":"
		    "\"stop\"}");
	else if (strcmp(uri, "/api/generate") == 0) {
		s = calloc(1, sizeof(*s));
		s->req = req;
		s->ev = evtimer_new(base, on_tick, s);
		evhttp_add_header(evhttp_request_get_output_headers(req),
		    "Content-Type", "application/x-ndjson");
		evhttp_send_reply_start(req, 200, "OK");
		on_tick(-1, 0, s);
	} else
		json_reply(req, "{\"version\":\"0.12.0\"}");
	free(body);
}

int
main(int argc, char **argv)
{
	struct event_base *base;
	struct evhttp *http;

	if (argc < 3) {
		fprintf(
		    stderr, "usage: backend HOST PORT [TOKENS] [TOKEN_US]\n");
		return 2;
	}
	if (argc > 3)
		ntokens = atoi(argv[3]);
	if (argc > 4)
		token_us = atol(argv[4]);
	base = event_base_new();
	http = evhttp_new(base);
	evhttp_set_gencb(http, on_request, base);
	if (evhttp_bind_socket(http, argv[1], (unsigned short)atoi(argv[2])) !=
	    0) {
		fprintf(stderr, "backend: cannot listen on %s:%s\n", argv[1],
		    argv[2]);
		return 1;
	}
	event_base_dispatch(base);
	return 0;
}
