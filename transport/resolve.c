/* SPDX-License-Identifier: ISC */
/*
 * resolve: getaddrinfo in detached threads, answers through a pipe. A
 * request belongs to its thread until the thread has written its address
 * into the pipe, then to the loop. The write end and a reference count
 * are shared under one mutex, so a resolver freed while threads still
 * block in getaddrinfo leaves them a closed door: they free their request
 * themselves and the last one out frees the shared part.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/util.h>

#include "common/xmalloc.h"
#include "transport/resolve.h"

struct resolve_shared {
	pthread_mutex_t mtx;
	int wfd; /* -1 once the resolver is gone */
	unsigned refs;
};

struct resolve_req {
	struct resolve_shared *sh;
	char *host, *port;
	struct addrinfo hints;
	int rc;               /* thread's, read by the loop after the pipe */
	struct addrinfo *res; /* same */
	/* the loop's */
	resolve_cb cb; /* NULL: cancelled */
	void *arg;
	struct resolve_req *next;
};

struct resolve {
	struct resolve_shared *sh;
	int rfd;
	struct event *ev;
	struct resolve_req *reqs; /* handed to a thread, not returned yet */
	unsigned n;
};

static resolve_gai_fn resolve_gai = getaddrinfo;

void
resolve_set_gai(resolve_gai_fn fn)
{
	resolve_gai = fn ? fn : getaddrinfo;
}

static void
resolve_req_free(struct resolve_req *q)
{
	if (q->res)
		freeaddrinfo(q->res);
	free(q->host);
	free(q->port);
	free(q);
}

static void
resolve_shared_drop(struct resolve_shared *sh)
{
	unsigned left;

	pthread_mutex_lock(&sh->mtx);
	left = --sh->refs;
	pthread_mutex_unlock(&sh->mtx);
	if (left == 0) {
		pthread_mutex_destroy(&sh->mtx);
		free(sh);
	}
}

static void *
resolve_thread(void *arg)
{
	struct resolve_req *q = arg;
	struct resolve_shared *sh = q->sh;
	int handed = 0;

	q->rc = resolve_gai(q->host, q->port, &q->hints, &q->res);
	if (q->rc != 0)
		q->res = NULL;
	pthread_mutex_lock(&sh->mtx);
	/* a pointer is far below PIPE_BUF: one write, whole or not at all */
	if (sh->wfd != -1)
		handed = write(sh->wfd, &q, sizeof(q)) == (ssize_t)sizeof(q);
	pthread_mutex_unlock(&sh->mtx);
	if (!handed)
		resolve_req_free(q);
	resolve_shared_drop(sh);
	return NULL;
}

static void
resolve_unlink(struct resolve *r, struct resolve_req *q)
{
	struct resolve_req **pp;

	for (pp = &r->reqs; *pp; pp = &(*pp)->next)
		if (*pp == q) {
			*pp = q->next;
			r->n--;
			return;
		}
}

static void
resolve_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct resolve *r = arg;
	struct resolve_req *q;
	struct addrinfo *res;

	(void)what;
	while (read(fd, &q, sizeof(q)) == (ssize_t)sizeof(q)) {
		/* the thread's writes to q happened before its unlock */
		pthread_mutex_lock(&r->sh->mtx);
		pthread_mutex_unlock(&r->sh->mtx);
		resolve_unlink(r, q);
		if (q->cb) {
			res = q->res;
			q->res = NULL;
			q->cb(q->rc, res, q->arg);
		}
		resolve_req_free(q);
	}
}

struct resolve *
resolve_new(struct event_base *base, char *err, size_t errlen)
{
	struct resolve *r = xcalloc(1, sizeof(*r));
	int fds[2];

	if (pipe(fds) == -1) {
		snprintf(err, errlen, "resolver pipe: %s", strerror(errno));
		free(r);
		return NULL;
	}
	/* the read end never blocks the loop; the threads may wait */
	evutil_make_socket_nonblocking(fds[0]);
	evutil_make_socket_closeonexec(fds[0]);
	evutil_make_socket_closeonexec(fds[1]);
	r->rfd = fds[0];
	r->sh = xcalloc(1, sizeof(*r->sh));
	pthread_mutex_init(&r->sh->mtx, NULL);
	r->sh->wfd = fds[1];
	r->sh->refs = 1;
	r->ev =
	    event_new(base, r->rfd, EV_READ | EV_PERSIST, resolve_on_read, r);
	event_add(r->ev, NULL);
	return r;
}

void
resolve_free(struct resolve *r)
{
	struct resolve_req *q;

	if (r == NULL)
		return;
	event_free(r->ev);
	pthread_mutex_lock(&r->sh->mtx);
	close(r->sh->wfd);
	r->sh->wfd = -1;
	pthread_mutex_unlock(&r->sh->mtx);
	/* answers already in the pipe are ours; the rest free themselves */
	while (read(r->rfd, &q, sizeof(q)) == (ssize_t)sizeof(q))
		resolve_req_free(q);
	close(r->rfd);
	resolve_shared_drop(r->sh);
	free(r);
}

struct resolve_req *
resolve_start(struct resolve *r, const char *host, const char *port,
    const struct addrinfo *hints, resolve_cb cb, void *arg)
{
	struct resolve_req *q;
	pthread_attr_t attr;
	pthread_t th;
	sigset_t all, old;
	int rc;

	if (r->n >= RESOLVE_MAX_INFLIGHT)
		return NULL;
	q = xcalloc(1, sizeof(*q));
	q->sh = r->sh;
	q->host = xstrdup(host);
	q->port = xstrdup(port);
	if (hints)
		q->hints = *hints;
	q->cb = cb;
	q->arg = arg;
	pthread_mutex_lock(&r->sh->mtx);
	r->sh->refs++;
	pthread_mutex_unlock(&r->sh->mtx);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	/* signals stay with the loop's thread: the new one blocks them all */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&th, &attr, resolve_thread, q);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	pthread_attr_destroy(&attr);
	if (rc != 0) {
		resolve_shared_drop(r->sh);
		resolve_req_free(q);
		return NULL;
	}
	q->next = r->reqs;
	r->reqs = q;
	r->n++;
	return q;
}

void
resolve_cancel(struct resolve_req *q)
{
	if (q != NULL)
		q->cb = NULL;
}

unsigned
resolve_inflight(const struct resolve *r)
{
	return r->n;
}
