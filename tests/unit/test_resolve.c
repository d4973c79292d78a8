/* SPDX-License-Identifier: ISC */
/*
 * test_resolve: a real lookup (localhost) answers on the loop; a lookup
 * that hangs does not stop the loop (a timer keeps ticking); a cancelled
 * lookup never calls back; the in-flight cap refuses the one too many;
 * freeing the resolver under a hanging lookup is safe (ASan build).
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <netdb.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "common/clock.h"
#include "transport/resolve.h"

/* a getaddrinfo that waits until the test opens the gate */
static pthread_mutex_t gate_mtx = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cond = PTHREAD_COND_INITIALIZER;
static int gate_open, gate_waiting;

static int
gated_gai(const char *host, const char *port, const struct addrinfo *hints,
    struct addrinfo **res)
{
	(void)host;
	(void)port;
	(void)hints;
	*res = NULL;
	pthread_mutex_lock(&gate_mtx);
	gate_waiting++;
	pthread_cond_broadcast(&gate_cond);
	while (!gate_open)
		pthread_cond_wait(&gate_cond, &gate_mtx);
	gate_waiting--;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_mtx);
	return EAI_NONAME;
}

static void
gate_set(int open)
{
	pthread_mutex_lock(&gate_mtx);
	gate_open = open;
	pthread_cond_broadcast(&gate_cond);
	pthread_mutex_unlock(&gate_mtx);
}

/* until exactly n threads wait at the gate (10 s deadline) */
static int
gate_wait_for(int n)
{
	struct timespec ts;
	int ok;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&gate_mtx);
	while (gate_waiting != n &&
	       pthread_cond_timedwait(&gate_cond, &gate_mtx, &ts) == 0)
		;
	ok = gate_waiting == n;
	pthread_mutex_unlock(&gate_mtx);
	return ok;
}

struct answer {
	int called, rc;
	char addr[64];
};

static void
answer_cb(int rc, struct addrinfo *res, void *arg)
{
	struct answer *a = arg;

	a->called++;
	a->rc = rc;
	if (res) {
		struct sockaddr_in *s4 = (struct sockaddr_in *)res->ai_addr;
		inet_ntop(AF_INET, &s4->sin_addr, a->addr, sizeof(a->addr));
		freeaddrinfo(res);
	}
}

static int ticks;

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	ticks++;
}

struct env {
	struct event_base *base;
	struct event *tick;
	struct resolve *r;
};

static int
setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct timeval tv = {0, 10000};
	char err[256];

	e->base = event_base_new();
	e->tick = event_new(e->base, -1, EV_PERSIST, tick_cb, NULL);
	event_add(e->tick, &tv);
	e->r = resolve_new(e->base, err, sizeof(err));
	assert_non_null(e->r);
	ticks = 0;
	gate_set(0);
	*state = e;
	return 0;
}

static int
teardown(void **state)
{
	struct env *e = *state;

	resolve_free(e->r);
	gate_set(1);
	resolve_set_gai(NULL);
	event_free(e->tick);
	event_base_free(e->base);
	free(e);
	return 0;
}

/* run the loop until *flag or until inflight drops to 0 with want0 */
static void
run_until(struct env *e, const int *flag, int want_idle)
{
	uint64_t deadline = clock_mono_ms() + 10000;

	while (clock_mono_ms() < deadline) {
		if (flag && *flag)
			return;
		if (want_idle && resolve_inflight(e->r) == 0)
			return;
		event_base_loop(e->base, EVLOOP_ONCE);
	}
}

static void
test_localhost(void **state)
{
	struct env *e = *state;
	struct addrinfo hints;
	struct answer a = {0, -1, ""};

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_INET;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV;
	assert_non_null(
	    resolve_start(e->r, "localhost", "7946", &hints, answer_cb, &a));
	assert_int_equal(a.called, 0); /* never inside the call */
	run_until(e, &a.called, 0);
	assert_int_equal(a.called, 1);
	assert_int_equal(a.rc, 0);
	assert_string_equal(a.addr, "127.0.0.1");
	assert_int_equal(resolve_inflight(e->r), 0);
}

static void
test_loop_runs_while_lookup_hangs(void **state)
{
	struct env *e = *state;
	struct answer a = {0, -1, ""};
	int t0;

	resolve_set_gai(gated_gai);
	assert_non_null(
	    resolve_start(e->r, "hangs.test", "1", NULL, answer_cb, &a));
	assert_true(gate_wait_for(1));
	t0 = ticks;
	while (ticks < t0 + 5)
		event_base_loop(e->base, EVLOOP_ONCE);
	assert_int_equal(a.called, 0);
	gate_set(1);
	run_until(e, &a.called, 0);
	assert_int_equal(a.called, 1);
	assert_int_equal(a.rc, EAI_NONAME);
}

static void
test_cancel(void **state)
{
	struct env *e = *state;
	struct answer a = {0, -1, ""};
	struct resolve_req *q;

	resolve_set_gai(gated_gai);
	q = resolve_start(e->r, "hangs.test", "1", NULL, answer_cb, &a);
	assert_non_null(q);
	assert_true(gate_wait_for(1));
	resolve_cancel(q);
	gate_set(1);
	run_until(e, NULL, 1);
	assert_int_equal(resolve_inflight(e->r), 0);
	assert_int_equal(a.called, 0);
}

static void
test_cap(void **state)
{
	struct env *e = *state;
	struct answer a = {0, -1, ""};
	int i;

	resolve_set_gai(gated_gai);
	for (i = 0; i < RESOLVE_MAX_INFLIGHT; i++)
		assert_non_null(resolve_start(
		    e->r, "hangs.test", "1", NULL, answer_cb, &a));
	assert_null(resolve_start(e->r, "one.more", "1", NULL, answer_cb, &a));
	assert_true(gate_wait_for(RESOLVE_MAX_INFLIGHT));
	gate_set(1);
	run_until(e, NULL, 1);
	assert_int_equal(a.called, RESOLVE_MAX_INFLIGHT);
	assert_non_null(resolve_start(e->r, "again", "1", NULL, answer_cb, &a));
	run_until(e, NULL, 1);
	assert_int_equal(a.called, RESOLVE_MAX_INFLIGHT + 1);
}

static void
test_free_while_hanging(void **state)
{
	struct env *e = *state;
	struct answer a = {0, -1, ""};

	resolve_set_gai(gated_gai);
	assert_non_null(
	    resolve_start(e->r, "hangs.test", "1", NULL, answer_cb, &a));
	assert_true(gate_wait_for(1));
	resolve_free(e->r);
	e->r = NULL;
	/* the thread finds the door closed and frees its request */
	gate_set(1);
	assert_true(gate_wait_for(0));
	event_base_loop(e->base, EVLOOP_ONCE);
	assert_int_equal(a.called, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_localhost, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_loop_runs_while_lookup_hangs, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_free_while_hanging, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
