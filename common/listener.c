/* SPDX-License-Identifier: ISC */
/*
 * listener: a capped evconnlistener that pauses on accept() failures. See
 * listener.h. libevent's own listener, without an error callback, logs a
 * warning and returns on every failed accept(); the socket stays readable,
 * so at EMFILE the loop spins and the log fills (2.8 M lines in 8 s was
 * measured). Here the first failure disables the listener and a timer
 * enables it again.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "common/listener.h"

#define LISTENER_LOG_MS 60000

struct listener {
	struct evconnlistener *lev;
	struct event *resume_ev;
	char *what;
	unsigned max_open;
	listener_conn_cb cb;
	listener_fd_cb fdcb; /* instead of cb */
	void *arg;
	int paused; /* by a failure, until resume_ev */
	int enabled;
	uint64_t logged_ms;                 /* last log line about failures */
	unsigned long long failures_logged; /* st.failures at that line */
	struct listener_stats st;
};

static void
listener_enable(struct listener *l, int on)
{
	if (on == l->enabled)
		return;
	l->enabled = on;
	if (on)
		evconnlistener_enable(l->lev);
	else
		evconnlistener_disable(l->lev);
}

/* accept while neither paused nor at the cap */
static void
listener_update(struct listener *l)
{
	listener_enable(l, !l->paused && l->st.open < l->max_open);
}

static void
listener_on_accept(struct evconnlistener *lev, evutil_socket_t fd,
    struct sockaddr *sa, int socklen, void *arg)
{
	struct listener *l = arg;
	struct bufferevent *bev = NULL;

	(void)sa;
	(void)socklen;
	if (l->fdcb == NULL &&
	    (bev = bufferevent_socket_new(evconnlistener_get_base(lev), fd,
	         BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	l->st.accepted++;
	l->st.open++;
	if (l->st.open >= l->max_open)
		l->st.at_cap++;
	listener_update(l);
	if (l->fdcb != NULL)
		l->fdcb(fd, l->arg);
	else
		l->cb(bev, l->arg);
}

static void
listener_on_error(struct evconnlistener *lev, void *arg)
{
	struct listener *l = arg;
	int err = EVUTIL_SOCKET_ERROR();
	struct timeval tv = {
	    LISTENER_PAUSE_MS / 1000, (LISTENER_PAUSE_MS % 1000) * 1000};

	uint64_t now = clock_mono_ms();

	(void)lev;
	l->st.failures++;
	/* a lasting fault (out of descriptors) fails again after each
	 * pause: at most one line a minute about it */
	if (l->logged_ms == 0 || now - l->logged_ms >= LISTENER_LOG_MS) {
		log_warnx("%s: accept: %s; not accepting for %d ms (%llu "
		          "failures since the last such line)",
		    l->what, evutil_socket_error_to_string(err),
		    LISTENER_PAUSE_MS, l->st.failures - l->failures_logged);
		l->logged_ms = now;
		l->failures_logged = l->st.failures;
	}
	l->paused = 1;
	listener_update(l);
	evtimer_add(l->resume_ev, &tv);
}

static void
listener_on_resume(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;

	(void)fd;
	(void)what;
	l->paused = 0;
	listener_update(l);
}

struct listener *
listener_new(struct evconnlistener *lev, const char *what, unsigned max_open,
    listener_conn_cb cb, void *arg)
{
	struct listener *l = xcalloc(1, sizeof(*l));

	l->lev = lev;
	l->what = xstrdup(what);
	l->max_open = max_open;
	l->cb = cb;
	l->arg = arg;
	l->resume_ev =
	    evtimer_new(evconnlistener_get_base(lev), listener_on_resume, l);
	evconnlistener_set_cb(lev, listener_on_accept, l);
	evconnlistener_set_error_cb(lev, listener_on_error);
	listener_update(l);
	return l;
}

struct listener *
listener_new_fd(struct evconnlistener *lev, const char *what, unsigned max_open,
    listener_fd_cb cb, void *arg)
{
	struct listener *l = listener_new(lev, what, max_open, NULL, arg);

	l->fdcb = cb;
	return l;
}

void
listener_closed(struct listener *l)
{
	if (l->st.open > 0)
		l->st.open--;
	listener_update(l);
}

void
listener_adopted(struct listener *l, unsigned n)
{
	l->st.open += n;
	if (n > 0 && l->st.open >= l->max_open)
		l->st.at_cap++;
	listener_update(l);
}

void
listener_stats(const struct listener *l, struct listener_stats *st)
{
	*st = l->st;
}

void
listener_free(struct listener *l)
{
	if (l == NULL)
		return;
	event_free(l->resume_ev);
	evconnlistener_free(l->lev);
	free(l->what);
	free(l);
}
