/* SPDX-License-Identifier: ISC */
/*
 * sleepwatch on macOS (sleepwatch.h): IORegisterForSystemPower delivers
 * the power messages on a serial dispatch queue of ours. "Will sleep" is
 * handed to the loop through a pipe and the queue waits (at most one
 * second) for the loop's acknowledgement on a second pipe before it lets
 * the system sleep; "can sleep" is allowed at once; "has powered on" is
 * handed over without waiting. The loop never blocks on the queue, but
 * at shutdown (sleepwatch_free), for at most SLEEPWATCH_ACK_MS.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <IOKit/IOMessage.h>
#include <IOKit/pwr_mgt/IOPMLib.h>
#include <dispatch/dispatch.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "peer/sleepwatch.h"

#define SLEEPWATCH_ACK_MS 1000

struct sleepwatch {
	struct event_base *base;
	sleepwatch_cb cb;
	void *arg;
	int to_loop[2];  /* queue -> loop: 'S' sleep, 'W' woke */
	int to_queue[2]; /* loop -> queue: 'A' the notice is out */
	struct event *ev;
	io_connect_t root;
	IONotificationPortRef port;
	io_object_t notifier;
	dispatch_queue_t queue;
};

/* on the dispatch queue */
static void
sleepwatch_on_power(void *ref, io_service_t svc, natural_t type, void *argp)
{
	struct sleepwatch *sw = ref;
	struct pollfd p;
	char c;

	(void)svc;
	switch (type) {
	case kIOMessageCanSystemSleep:
		IOAllowPowerChange(sw->root, (intptr_t)argp);
		break;
	case kIOMessageSystemWillSleep:
		/* drop a stale acknowledgement, then ask the loop */
		while (read(sw->to_queue[0], &c, 1) == 1)
			;
		c = 'S';
		if (write(sw->to_loop[1], &c, 1) == 1) {
			p.fd = sw->to_queue[0];
			p.events = POLLIN;
			p.revents = 0;
			if (poll(&p, 1, SLEEPWATCH_ACK_MS) == 1)
				(void)!read(sw->to_queue[0], &c, 1);
		}
		IOAllowPowerChange(sw->root, (intptr_t)argp);
		break;
	case kIOMessageSystemHasPoweredOn:
		c = 'W';
		(void)!write(sw->to_loop[1], &c, 1);
		break;
	default:
		break;
	}
}

/* on the loop */
static void
sleepwatch_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct sleepwatch *sw = arg;
	char buf[16];
	ssize_t n, i;

	(void)what;
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (i = 0; i < n; i++)
			sw->cb(buf[i] == 'S', sw->arg);
}

static int
sleepwatch_pipe(int p[2])
{
	if (pipe(p) == -1)
		return -1;
	evutil_make_socket_nonblocking(p[0]);
	evutil_make_socket_nonblocking(p[1]);
	evutil_make_socket_closeonexec(p[0]);
	evutil_make_socket_closeonexec(p[1]);
	return 0;
}

struct sleepwatch *
sleepwatch_new(struct event_base *base, sleepwatch_cb cb, void *arg, char *err,
    size_t errlen)
{
	struct sleepwatch *sw = xcalloc(1, sizeof(*sw));

	sw->base = base;
	sw->cb = cb;
	sw->arg = arg;
	sw->to_loop[0] = sw->to_loop[1] = -1;
	sw->to_queue[0] = sw->to_queue[1] = -1;
	if (sleepwatch_pipe(sw->to_loop) == -1 ||
	    sleepwatch_pipe(sw->to_queue) == -1) {
		snprintf(
		    err, errlen, "sleep notices: pipe: %s", strerror(errno));
		sleepwatch_free(sw);
		return NULL;
	}
	sw->root = IORegisterForSystemPower(
	    sw, &sw->port, sleepwatch_on_power, &sw->notifier);
	if (sw->root == MACH_PORT_NULL) {
		snprintf(err, errlen,
		    "sleep notices: IORegisterForSystemPower failed");
		sleepwatch_free(sw);
		return NULL;
	}
	sw->ev = event_new(
	    base, sw->to_loop[0], EV_READ | EV_PERSIST, sleepwatch_on_read, sw);
	event_add(sw->ev, NULL);
	sw->queue = dispatch_queue_create("org.peerwatch.power", NULL);
	IONotificationPortSetDispatchQueue(sw->port, sw->queue);
	return sw;
}

void
sleepwatch_ack(struct sleepwatch *sw)
{
	char c = 'A';

	if (sw != NULL)
		(void)!write(sw->to_queue[1], &c, 1);
}

/* on the queue (or before it exists): no callback runs during or after */
static void
sleepwatch_teardown(void *arg)
{
	struct sleepwatch *sw = arg;

	if (sw->root != MACH_PORT_NULL) {
		IODeregisterForSystemPower(&sw->notifier);
		IOServiceClose(sw->root);
		sw->root = MACH_PORT_NULL;
	}
	if (sw->port != NULL) {
		IONotificationPortDestroy(sw->port);
		sw->port = NULL;
	}
}

void
sleepwatch_free(struct sleepwatch *sw)
{
	int i;

	if (sw == NULL)
		return;
	/* a "will sleep" in progress finishes first (it waits at most
	 * SLEEPWATCH_ACK_MS): only at shutdown does the loop wait on it */
	if (sw->queue != NULL) {
		dispatch_sync_f(sw->queue, sw, sleepwatch_teardown);
		dispatch_release(sw->queue);
	} else
		sleepwatch_teardown(sw);
	if (sw->ev != NULL)
		event_free(sw->ev);
	for (i = 0; i < 2; i++) {
		if (sw->to_loop[i] != -1)
			close(sw->to_loop[i]);
		if (sw->to_queue[i] != -1)
			close(sw->to_queue[i]);
	}
	free(sw);
}
