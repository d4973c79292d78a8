/* SPDX-License-Identifier: ISC */
/*
 * test_hsrv: the ollama_listen HTTP server on a real libevent loop, with
 * a client on the other end of a socket pair (a loopback TCP listener for
 * the connection cap). Keep-alive and pipelining, Content-Length and
 * chunked bodies, Expect: 100-continue, every refusal the server makes
 * itself (400, 405, 408, 413, 417, 431, 501, 505), streamed answers chunked
 * for HTTP/1.1 and to the close for HTTP/1.0, a client's going under a
 * live request, the cap closing the idle connection first (and still
 * counting the old socket's connections after a move), and bodies
 * handed over as they come.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/buffer.h>
#include <event2/event.h>

#include "common/clock.h"
#include "heal/ollama/hsrv.h"

enum mode {
	M_ANSWER, /* 200 with "ok:" and the body */
	M_STREAM, /* start a stream and keep the request */
	M_HOLD,   /* keep the request unanswered */
	M_TAKE,   /* stream the body in, answer once it is whole */
	M_EARLY,  /* stream the body in, answer before it is whole */
	M_BIG     /* stream the body in, start a big answer at once */
};

struct t {
	struct event_base *base;
	struct hsrv *srv;
	int cfd; /* the client's end */
	enum mode mode;
	int requests, rejects, gone, last_reject;
	char method[16], uri[256], body[256], ua[64];
	struct hreq *held[4];
	int nheld;
	char got[65536];
	size_t gotlen;
	int eof;
	int streamed, bodycbs, drained;
};

static void
on_drained(struct hreq *r, void *arg)
{
	struct t *t = arg;

	(void)r;
	t->drained++;
}

static void
on_body(struct hreq *r, void *arg)
{
	struct t *t = arg;
	struct evbuffer *b = hreq_body(r);
	size_t have = strlen(t->body), n = evbuffer_get_length(b);

	t->bodycbs++;
	assert_true(have + n < sizeof(t->body));
	evbuffer_remove(b, t->body + have, n);
	t->body[have + n] = '\0';
	hreq_body_taken(r);
	if (!hreq_streaming(r))
		hreq_reply(r, 201, t->body, strlen(t->body));
}

static int
want_stream(struct hreq *r, void *arg)
{
	struct t *t = arg;

	(void)r;
	return t->mode == M_TAKE || t->mode == M_EARLY || t->mode == M_BIG;
}

static void
on_gone(struct hreq *r, void *arg)
{
	struct t *t = arg;
	int i;

	t->gone++;
	for (i = 0; i < t->nheld; i++)
		if (t->held[i] == r)
			t->held[i] = t->held[--t->nheld];
}

static void
on_request(struct hreq *r, void *arg)
{
	struct t *t = arg;
	struct evbuffer *b = hreq_body(r);
	size_t n = evbuffer_get_length(b);
	const char *ua = hreq_header(r, "user-agent");
	char out[300];

	t->requests++;
	snprintf(t->method, sizeof(t->method), "%s", hreq_method(r));
	snprintf(t->uri, sizeof(t->uri), "%s", hreq_uri(r));
	snprintf(t->ua, sizeof(t->ua), "%s", ua ? ua : "");
	assert_true(n < sizeof(t->body));
	evbuffer_copyout(b, t->body, n);
	t->body[n] = '\0';
	switch (t->mode) {
	case M_ANSWER:
		snprintf(out, sizeof(out), "ok:%s", t->body);
		assert_int_equal(hreq_add_header(r, "X-Test", "1"), 0);
		assert_int_equal(hreq_add_header(r, "X-Bad", "a\r\nb"), -1);
		hreq_reply(r, 200, out, strlen(out));
		return;
	case M_STREAM:
		hreq_start(r, 200, -1);
		hreq_chunk(r, "hello", 5);
		/* FALLTHROUGH */
	case M_HOLD:
		hreq_set_cbs(r, on_gone, NULL, t);
		t->held[t->nheld++] = r;
		return;
	case M_TAKE:
		t->streamed = hreq_streaming(r);
		assert_int_equal(hreq_body_length(r), 110);
		hreq_set_body_cb(r, on_body);
		hreq_set_cbs(r, on_gone, NULL, t);
		return;
	case M_EARLY:
		t->streamed = hreq_streaming(r);
		hreq_reply(r, 404, "no", 2);
		return;
	case M_BIG: {
		static char big[300000];
		memset(big, 'b', sizeof(big));
		hreq_set_cbs(r, on_gone, on_drained, t);
		hreq_start(r, 200, (int64_t)sizeof(big));
		hreq_chunk(r, big, sizeof(big));
		t->held[t->nheld++] = r;
		return;
	}
	}
}

static void
on_reject(struct hreq *r, int code, const char *msg, void *arg)
{
	struct t *t = arg;
	char out[128];

	t->rejects++;
	t->last_reject = code;
	snprintf(out, sizeof(out), "{\"error\":\"%s\"}", msg);
	hreq_reply(r, code, out, strlen(out));
}

static struct hsrv_limits lim = {2, 4096, 100, 5000, 300};

static int
setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	int sv[2];

	t->base = event_base_new();
	t->srv = hsrv_new(t->base, &lim, on_request, on_reject, t);
	hsrv_set_stream_cb(t->srv, want_stream);
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(hsrv_adopt(t->srv, sv[0]), 0);
	t->cfd = sv[1];
	fcntl(t->cfd, F_SETFL, fcntl(t->cfd, F_GETFL) | O_NONBLOCK);
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct t *t = *state;

	hsrv_free(t->srv);
	if (t->cfd != -1)
		close(t->cfd);
	event_base_free(t->base);
	free(t);
	return 0;
}

/* run the loop and read what fd gets, until `until` is in it, EOF, or
 * ms pass; 1 if `until` came (NULL: until EOF) */
static int
pump(struct t *t, int fd, const char *until, int ms)
{
	uint64_t end = clock_mono_ms() + (uint64_t)ms;
	ssize_t n;

	t->eof = 0;
	while (clock_mono_ms() < end) {
		event_base_loop(t->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		n = recv(
		    fd, t->got + t->gotlen, sizeof(t->got) - 1 - t->gotlen, 0);
		if (n > 0) {
			t->gotlen += (size_t)n;
			t->got[t->gotlen] = '\0';
		} else if (n == 0 || (errno != EAGAIN && errno != EINTR))
			t->eof = 1;
		if (until != NULL && strstr(t->got, until) != NULL)
			return 1;
		if (t->eof)
			return until == NULL;
		if (n <= 0)
			usleep(1000);
	}
	return 0;
}

static void
send_str(struct t *t, const char *s)
{
	assert_int_equal(write(t->cfd, s, strlen(s)), (ssize_t)strlen(s));
}

static void
clear(struct t *t)
{
	t->gotlen = 0;
	t->got[0] = '\0';
}

static void
test_keepalive(void **state)
{
	struct t *t = *state;

	send_str(t, "GET /api/version HTTP/1.1\r\nHost: x\r\n"
	            "User-Agent:  ua/1 \r\n\r\n");
	assert_true(pump(t, t->cfd, "ok:", 2000));
	assert_non_null(strstr(t->got, "HTTP/1.1 200 OK\r\n"));
	assert_non_null(strstr(t->got, "Content-Length: 3\r\n"));
	assert_non_null(strstr(t->got, "X-Test: 1\r\n"));
	assert_null(strstr(t->got, "X-Bad"));
	assert_null(strstr(t->got, "Connection: close"));
	assert_string_equal(t->method, "GET");
	assert_string_equal(t->uri, "/api/version");
	assert_string_equal(t->ua, "ua/1");
	/* the same connection, a body; then two pipelined at once */
	clear(t);
	send_str(t, "POST /api/chat HTTP/1.1\r\nContent-Length: 5\r\n\r\nab");
	assert_false(pump(t, t->cfd, "ok:", 100));
	send_str(t, "cde");
	assert_true(pump(t, t->cfd, "ok:abcde", 2000));
	clear(t);
	send_str(t, "POST /a HTTP/1.1\r\nContent-Length: 1\r\n\r\n1"
	            "\r\nPOST /b HTTP/1.1\r\nContent-Length: 1\r\n\r\n2");
	assert_true(pump(t, t->cfd, "ok:2", 2000));
	assert_true(strstr(t->got, "ok:1") < strstr(t->got, "ok:2"));
	assert_int_equal(t->requests, 4);
	assert_false(t->eof);
}

static void
test_chunked_body(void **state)
{
	struct t *t = *state;

	send_str(t, "PUT /api/blobs/x HTTP/1.1\r\nTransfer-Encoding: chunked"
	            "\r\n\r\n5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n"
	            "Trailer: x\r\n\r\n");
	assert_true(pump(t, t->cfd, "ok:hello world", 2000));
	assert_string_equal(t->method, "PUT");
	/* over max_body in chunks: 413 and the connection closes */
	clear(t);
	send_str(t, "POST /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
	            "50\r\n");
	for (int i = 0; i < 0x50; i++)
		send_str(t, "x");
	send_str(t, "\r\n");
	assert_false(pump(t, t->cfd, "HTTP", 100));
	send_str(t, "40\r\n");
	assert_true(pump(t, t->cfd, NULL, 3000));
	assert_non_null(strstr(t->got, "HTTP/1.1 413 "));
	assert_non_null(strstr(t->got, "Connection: close\r\n"));
	assert_int_equal(t->last_reject, 413);
}

static void
test_expect(void **state)
{
	struct t *t = *state;

	send_str(t, "POST /x HTTP/1.1\r\nExpect: 100-continue\r\n"
	            "Content-Length: 3\r\n\r\n");
	assert_true(pump(t, t->cfd, "HTTP/1.1 100 Continue\r\n\r\n", 2000));
	assert_int_equal(t->requests, 0);
	send_str(t, "abc");
	assert_true(pump(t, t->cfd, "ok:abc", 2000));
	/* too large: 413 at once, no 100 */
	clear(t);
	send_str(t, "POST /x HTTP/1.1\r\nExpect: 100-continue\r\n"
	            "Content-Length: 101\r\n\r\n");
	assert_true(pump(t, t->cfd, NULL, 3000));
	assert_null(strstr(t->got, "100 Continue"));
	assert_non_null(strstr(t->got, "HTTP/1.1 413 "));
	assert_non_null(strstr(t->got, "{\"error\":"));
}

/* one bad request on a fresh connection: its code, the connection ends */
static void
refused(struct t *t, const char *req, int code)
{
	char want[32];
	int sv[2];

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(hsrv_adopt(t->srv, sv[0]), 0);
	fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK);
	clear(t);
	t->eof = 0;
	assert_int_equal(write(sv[1], req, strlen(req)), (ssize_t)strlen(req));
	assert_true(pump(t, sv[1], NULL, 3000));
	snprintf(want, sizeof(want), "HTTP/1.1 %d ", code);
	if (strstr(t->got, want) == NULL)
		fail_msg("%s: want %d, got %s", req, code, t->got);
	assert_non_null(strstr(t->got, "Connection: close\r\n"));
	assert_int_equal(t->last_reject, code);
	close(sv[1]);
}

static void
test_refusals(void **state)
{
	struct t *t = *state;
	char big[6000];

	refused(t, "GARBAGE\r\n\r\n", 400);
	refused(t, "GET noslash HTTP/1.1\r\n\r\n", 400);
	refused(t, "GET / HTTP/2.0\r\n\r\n", 505);
	refused(t, "GET / HTTP/1.1\r\nbad header\r\n\r\n", 400);
	refused(t, "GET / HTTP/1.1\r\n folded: x\r\n\r\n", 400);
	/* a lone CR is no end of the headers (nor a way to hide one) */
	refused(t,
	    "POST / HTTP/1.1\r\nHost: a\r\n\rContent-Length: 5\r\n\r\nhello",
	    400);
	refused(t, "GET /a\rb HTTP/1.1\r\n\r\n", 400);
	refused(t,
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0x3\r\n",
	    400);
	refused(t,
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3 x\r\n",
	    400);
	refused(t, "GET / HTTP/1.1\r\nContent-Length: 1x\r\n\r\n", 400);
	refused(t,
	    "GET / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
	    400);
	refused(t,
	    "POST / HTTP/1.1\r\nContent-Length: 1\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n",
	    400);
	refused(t, "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501);
	refused(t, "POST / HTTP/1.1\r\nExpect: magic\r\n\r\n", 417);
	refused(t, "TRACE / HTTP/1.1\r\n\r\n", 405);
	assert_non_null(strstr(t->got, "Allow: GET, HEAD, POST"));
	refused(t, "POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n", 413);
	refused(t,
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	memcpy(big, "GET /", 5);
	refused(t, big, 431);
	assert_int_equal(t->requests, 0);
}

static void
test_stream(void **state)
{
	struct t *t = *state;

	t->mode = M_STREAM;
	send_str(t, "\r\nGET /s HTTP/1.1\r\n\r\n");
	assert_true(pump(t, t->cfd, "5\r\nhello\r\n", 2000));
	assert_non_null(strstr(t->got, "Transfer-Encoding: chunked\r\n"));
	assert_int_equal(t->nheld, 1);
	hreq_chunk(t->held[0], "!", 1);
	hreq_end(t->held[0]);
	t->nheld = 0;
	assert_true(pump(t, t->cfd, "1\r\n!\r\n0\r\n\r\n", 2000));
	/* HTTP/1.0: to the close, no chunks */
	clear(t);
	send_str(t, "GET /s HTTP/1.0\r\n\r\n");
	assert_true(pump(t, t->cfd, "hello", 2000));
	assert_null(strstr(t->got, "chunked"));
	assert_non_null(strstr(t->got, "Connection: close\r\n"));
	hreq_end(t->held[0]);
	t->nheld = 0;
	assert_true(pump(t, t->cfd, NULL, 3000));
	assert_int_equal(t->gone, 0);
}

static void
test_gone(void **state)
{
	struct t *t = *state;

	t->mode = M_HOLD;
	send_str(t, "GET /hold HTTP/1.1\r\n\r\n");
	pump(t, t->cfd, "never", 100);
	assert_int_equal(t->nheld, 1);
	assert_int_equal(t->gone, 0);
	close(t->cfd);
	t->cfd = -1;
	for (int i = 0; i < 100 && t->gone == 0; i++) {
		event_base_loop(t->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
		usleep(1000);
	}
	assert_int_equal(t->gone, 1);
	assert_int_equal(t->nheld, 0);
}

static void
test_stream_body(void **state)
{
	struct t *t = *state;

	/* handed over at the head; the body as it comes, past max_body */
	t->mode = M_TAKE;
	send_str(
	    t, "POST /api/blobs/x HTTP/1.1\r\nContent-Length: 110\r\n\r\n");
	pump(t, t->cfd, "never", 50);
	assert_int_equal(t->requests, 1);
	assert_int_equal(t->streamed, 1);
	assert_string_equal(t->body, "");
	send_str(t, "abc");
	pump(t, t->cfd, "never", 50);
	assert_string_equal(t->body, "abc");
	send_str(t, "defghij");
	for (int i = 0; i < 10; i++)
		send_str(t, "0123456789");
	assert_true(pump(t, t->cfd, "abcdefghij0123456789", 2000));
	assert_non_null(strstr(t->got, "HTTP/1.1 201 "));
	assert_true(t->bodycbs >= 2);
	/* the connection goes on; an answer before the body is whole ends
	 * it (the rest is not read as a request) */
	clear(t);
	t->mode = M_EARLY;
	send_str(t, "POST /up HTTP/1.1\r\nContent-Length: 500\r\n\r\nGET / "
	            "HTTP/1.1\r\n\r\n");
	assert_true(pump(t, t->cfd, NULL, 3000));
	assert_non_null(strstr(t->got, "HTTP/1.1 404 "));
	assert_non_null(strstr(t->got, "Connection: close\r\n"));
	assert_int_equal(t->requests, 2);
	assert_int_equal(t->gone, 0);
}

/* a head dripped byte by byte, each in time, is cut at head_ms */
static void
test_slow_head(void **state)
{
	struct t *t = *state;
	const char *req =
	    "GET /slow HTTP/1.1\r\nX-Drip: aaaaaaaaaaaaaaaaaaaaaaaa";
	uint64_t t0 = clock_mono_ms();
	size_t i;

	for (i = 0; req[i] != '\0' && !t->eof; i++) {
		assert_int_equal(write(t->cfd, req + i, 1), 1);
		pump(t, t->cfd, "HTTP/1.1 408", 50);
	}
	assert_non_null(strstr(t->got, "HTTP/1.1 408 "));
	assert_int_equal(t->last_reject, 408);
	assert_int_equal(t->requests, 0);
	assert_true(clock_mono_ms() - t0 < 2000);
}

/* a client that sends and never reads: its answers stop being made
 * once 256 KiB wait for it, and all come once it reads */
static void
test_no_reader(void **state)
{
	struct t *t = *state;
	const char *req = "GET /p HTTP/1.1\r\n\r\n";
	int i, sent = 0, stalled;

	for (i = 0; i < 20000; i++) {
		if (write(t->cfd, req, strlen(req)) != (ssize_t)strlen(req))
			break;
		sent++;
		if (i % 100 == 0)
			event_base_loop(t->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	}
	for (i = 0; i < 200; i++)
		event_base_loop(t->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
	stalled = t->requests;
	assert_true(stalled < sent);
	/* read it all: every request is answered */
	for (i = 0; i < 2000 && t->requests < sent; i++) {
		clear(t);
		pump(t, t->cfd, "never", 5);
	}
	assert_int_equal(t->requests, sent);
}

/* a streamed body's taker hears its answer went out, body or not */
static void
test_drained_streaming(void **state)
{
	struct t *t = *state;
	int i;

	t->mode = M_BIG;
	send_str(t, "POST /api/blobs/x HTTP/1.1\r\nContent-Length: 10\r\n\r\n");
	for (i = 0; i < 400 && t->drained == 0; i++) {
		clear(t);
		pump(t, t->cfd, "never", 5);
	}
	assert_int_equal(t->nheld, 1);
	assert_true(t->drained >= 1);
	send_str(t, "0123456789");
	pump(t, t->cfd, "never", 50);
	hreq_end(t->held[0]);
	t->nheld = 0;
}

/* a lingering close is a deadline, not an idle timeout */
static void
test_linger(void **state)
{
	struct t *t = *state;
	uint64_t t0;

	refused(t, "GARBAGE\r\n\r\n", 400);
	/* refused() closed its end; this connection drips after a 413 */
	send_str(t, "POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n");
	assert_true(pump(t, t->cfd, "HTTP/1.1 413", 2000));
	t0 = clock_mono_ms();
	while (clock_mono_ms() - t0 < 5000) {
		if (write(t->cfd, "x", 1) != 1)
			break;
		for (int i = 0; i < 10; i++) {
			event_base_loop(t->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
			usleep(10000);
		}
	}
	assert_true(clock_mono_ms() - t0 < 3500);
}

static int
tcp_connect(uint16_t port)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

static int
tcp_listen(int *port)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);
	int lfd = socket(AF_INET, SOCK_STREAM, 0);

	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(lfd, 8), 0);
	fcntl(lfd, F_SETFL, fcntl(lfd, F_GETFL) | O_NONBLOCK);
	assert_int_equal(getsockname(lfd, (struct sockaddr *)&sin, &sl), 0);
	*port = ntohs(sin.sin_port);
	return lfd;
}

/* connect to port, send one request line (no body), run the loop ms */
static int
request_on(struct t *t, int port, const char *req, int ms)
{
	int fd = tcp_connect(port);

	assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	pump(t, fd, "never", ms);
	return fd;
}

/* answer the first of two held requests, and its client (fd) leaves:
 * HTTP/1.1 would keep the connection, so that ends it */
static void
end_first_held(struct t *t, int fd)
{
	hreq_reply(t->held[0], 200, "x", 1);
	t->held[0] = t->held[1];
	t->nheld = 1;
	close(fd);
}

static void
test_cap(void **state)
{
	struct t *t = *state;
	struct hsrv_stats st;
	int port, a, b, c;

	/* the adopted pair is not the listener's: only these count */
	assert_int_equal(hsrv_listen(t->srv, tcp_listen(&port), "test"), 0);
	t->mode = M_HOLD;
	a = tcp_connect(port);
	pump(t, a, "never", 100);
	b = tcp_connect(port);
	pump(t, b, "never", 100);
	/* at the cap with a idle: a goes for b */
	clear(t);
	t->eof = 0;
	assert_true(pump(t, a, NULL, 2000));
	hsrv_stats(t->srv, &st);
	assert_int_equal(st.idle_closed, 1);
	/* b busy, a third (c) fits; then b and c busy: a fourth waits */
	assert_int_equal(write(b, "GET /b HTTP/1.1\r\n\r\n", 19), 19);
	pump(t, b, "never", 100);
	c = request_on(t, port, "GET /c HTTP/1.1\r\n\r\n", 200);
	assert_int_equal(t->nheld, 2);
	close(a);
	a = request_on(t, port, "GET /a HTTP/1.1\r\n\r\n", 200);
	assert_int_equal(t->nheld, 2); /* not accepted yet */
	hsrv_stats(t->srv, &st);
	assert_true(st.at_cap >= 2);
	end_first_held(t, b); /* b's answer, then b leaves */
	pump(t, a, "never", 300);
	assert_int_equal(t->nheld, 2);
	close(a);
	close(c);
}

/* the endpoint moves (SIGHUP with a new ollama_listen): the old socket's
 * connections go on and still count toward the cap */
static void
test_cap_move(void **state)
{
	struct t *t = *state;
	struct hsrv_stats st;
	int p1, p2, a, b, c;

	assert_int_equal(hsrv_listen(t->srv, tcp_listen(&p1), "one"), 0);
	t->mode = M_HOLD;
	a = request_on(t, p1, "GET /a HTTP/1.1\r\n\r\n", 100);
	b = request_on(t, p1, "GET /b HTTP/1.1\r\n\r\n", 100);
	assert_int_equal(t->nheld, 2);
	assert_int_equal(hsrv_listen(t->srv, tcp_listen(&p2), "two"), 0);
	/* both busy and at the cap: the new socket's first client waits */
	c = request_on(t, p2, "GET /c HTTP/1.1\r\n\r\n", 300);
	assert_int_equal(t->nheld, 2);
	hsrv_stats(t->srv, &st);
	assert_int_equal(st.accepted, 2);
	assert_true(st.at_cap >= 2); /* at b, and again at the move */
	end_first_held(t, a);        /* one of the old ones ends: c is let in */
	pump(t, c, "never", 300);
	assert_int_equal(t->nheld, 2);
	assert_int_equal(t->requests, 3);
	hsrv_stats(t->srv, &st);
	assert_int_equal(st.accepted, 3);
	close(b);
	close(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_keepalive, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_chunked_body, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_expect, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stream, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_gone, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_slow_head, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_no_reader, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_drained_streaming, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_linger, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_stream_body, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cap_move, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN); /* as the daemon has it */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
