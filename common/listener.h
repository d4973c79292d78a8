/* SPDX-License-Identifier: ISC */
/*
 * listener: the accept side shared by the status HTTP server and the
 * control socket. It caps the connections open at once (accepting pauses
 * at the cap and resumes as one ends) and handles accept() failures: on
 * EMFILE, ENFILE, ENOBUFS or ENOMEM it stops accepting for
 * LISTENER_PAUSE_MS instead of spinning on a ready socket, and says so in
 * the log at most once a minute. Never blocks, never exits.
 */
#ifndef PW_COMMON_LISTENER_H
#define PW_COMMON_LISTENER_H

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#define LISTENER_PAUSE_MS 1000

struct listener;

/* a new connection: a bufferevent (close on free) on a non-blocking,
 * close-on-exec socket, now the callee's; it calls listener_closed() once
 * when it has freed it */
typedef void (*listener_conn_cb)(struct bufferevent *, void *arg);
/* the same, the bare socket (non-blocking, close-on-exec) instead */
typedef void (*listener_fd_cb)(evutil_socket_t, void *arg);

struct listener_stats {
	unsigned long long accepted;
	unsigned long long at_cap;   /* times accepting stopped at the cap */
	unsigned long long failures; /* accept() errors that paused it */
	unsigned open;
};

/*
 * Takes lev (created with LEV_OPT_DISABLED, no callback) and enables it.
 * what names the listener in log lines ("status_listen 127.0.0.1:7947").
 */
struct listener *listener_new(struct evconnlistener *lev, const char *what,
    unsigned max_open, listener_conn_cb, void *arg);
struct listener *listener_new_fd(struct evconnlistener *lev, const char *what,
    unsigned max_open, listener_fd_cb, void *arg);
void listener_closed(struct listener *);
/* n connections handed out by a listener this one replaces count toward
 * this one's cap from now on; each ends with listener_closed() on it */
void listener_adopted(struct listener *, unsigned n);
void listener_stats(const struct listener *, struct listener_stats *);
/* closes the listening socket; connections handed out are the callee's */
void listener_free(struct listener *);

#endif
