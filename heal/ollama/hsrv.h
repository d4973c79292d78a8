/* SPDX-License-Identifier: ISC */
/*
 * hsrv: the HTTP/1.1 server side of ollama_listen, on bufferevents. It
 * reads a request's head and body (Content-Length or chunked, at most
 * max_body bytes, answering "Expect: 100-continue" itself), hands the
 * whole request to a callback, and lets that callback answer at once or
 * stream its answer piece by piece (Content-Length, chunked, or to the
 * close for HTTP/1.0), keeping the connection for the next request.
 *
 * Unlike libevent 2.1's evhttp it caps its connections (common/listener.h;
 * at the cap an idle keep-alive connection is closed first, as nginx
 * does), says "client gone" as soon as a client closes under a live
 * request, and leaves every error answer, its own 400/413/431 too, to the
 * caller's reject callback, so all of them come in Ollama's JSON shape.
 * One request per connection at a time; pipelined ones wait their turn.
 * Never blocks, never exits.
 */
#ifndef PW_HEAL_HSRV_H
#define PW_HEAL_HSRV_H

#include <stddef.h>
#include <stdint.h>

#include <event2/buffer.h>
#include <event2/event.h>

struct hsrv;
struct hreq;

struct hsrv_limits {
	unsigned max_conns;  /* open at once */
	size_t max_head;     /* request line and headers, bytes */
	size_t max_body;     /* a request body, bytes */
	unsigned timeout_ms; /* a client stalled on read or write */
	unsigned head_ms;    /* a head whole within this of its first byte */
};

/* a complete request: answer it now or later, exactly once */
typedef void (*hsrv_request_cb)(struct hreq *, void *arg);
/*
 * A request the server refuses itself (code 400, 405, 408, 413, 417, 431,
 * 501 or 505): answer with hreq_reply; the connection closes after it.
 * hreq_uri may be NULL when the request line was unreadable.
 */
typedef void (*hsrv_reject_cb)(
    struct hreq *, int code, const char *msg, void *arg);
/* the client went (or stalled past the timeout) before hreq_end: the
 * request is gone once this returns */
typedef void (*hreq_gone_cb)(struct hreq *, void *arg);
/* what hreq_chunk queued went out to the client */
typedef void (*hreq_drained_cb)(struct hreq *, void *arg);
/*
 * Asked with a request's head when it has a body: 1 to be handed the
 * request at once and its body as it arrives (hreq_streaming), with no
 * max_body limit, or 0 to have the body read whole first.
 */
typedef int (*hsrv_stream_cb)(struct hreq *, void *arg);
/* more of a streamed body is in hreq_body, or it is whole now */
typedef void (*hreq_body_cb)(struct hreq *, void *arg);

struct hsrv_stats {
	uint64_t accepted, at_cap, accept_failures;
	uint64_t idle_closed; /* closed at the cap to make room (idle ones,
	                         or lingering after their last answer) */
	uint64_t refused;     /* requests answered by the reject callback */
	unsigned open;
};

struct hsrv *hsrv_new(struct event_base *, const struct hsrv_limits *,
    hsrv_request_cb, hsrv_reject_cb, void *arg);
/*
 * Accept on fd (a listening socket, now the server's) instead of the
 * socket before, which closes; connections accepted there go on. what
 * names it in log lines. -1 (errno) if it cannot: fd is closed and the
 * old socket stays.
 */
int hsrv_listen(struct hsrv *, int fd, const char *what);
/* serve an already connected socket (tests) */
int hsrv_adopt(struct hsrv *, int fd);
void hsrv_set_max_body(struct hsrv *, size_t);
void hsrv_set_stream_cb(struct hsrv *, hsrv_stream_cb);
void hsrv_stats(const struct hsrv *, struct hsrv_stats *);
/* closes the socket and every connection, without callbacks */
void hsrv_free(struct hsrv *);

const char *hreq_method(const struct hreq *);
const char *hreq_uri(const struct hreq *);
/* the i-th header as sent; 0 past the last */
int hreq_header_at(
    const struct hreq *, size_t i, const char **name, const char **value);
/* the first header of that name (any case), or NULL */
const char *hreq_header(const struct hreq *, const char *name);
/* the request body (empty without one); the request's until it ends */
struct evbuffer *hreq_body(struct hreq *);
/* the body's length as the client announced it; -1 when chunked */
int64_t hreq_body_length(const struct hreq *);
/*
 * A streamed body: 1 while the client still sends it. Take what is in
 * hreq_body as it comes (reading stops while HSRV_STREAM_HIGH waits
 * there) and say so with hreq_body_taken; body_cb says when there is
 * more. Answering before it is whole closes the connection after.
 */
int hreq_streaming(const struct hreq *);
void hreq_set_body_cb(struct hreq *, hreq_body_cb);
void hreq_body_taken(struct hreq *);
void hreq_set_cbs(struct hreq *, hreq_gone_cb, hreq_drained_cb, void *arg);

/* a header for the answer; CR and LF in either are refused (-1) */
int hreq_add_header(struct hreq *, const char *name, const char *value);
void hreq_clear_headers(struct hreq *);
/* the whole answer, which ends the request */
void hreq_reply(struct hreq *, int code, const void *body, size_t len);
/* status and headers; clen < 0 for a body of unknown length */
void hreq_start(struct hreq *, int code, int64_t clen);
void hreq_chunk(struct hreq *, const void *data, size_t len);
/* bytes queued for the client and not yet written */
size_t hreq_pending(const struct hreq *);
/* the answer is complete: the request is gone once this returns */
void hreq_end(struct hreq *);
/* cut the connection: how a body of known length says it is short */
void hreq_abort(struct hreq *);

#endif
