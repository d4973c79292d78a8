/* SPDX-License-Identifier: ISC */
/*
 * test_resread: the resource guards' reader thread on a real libevent
 * loop. Real readings of / and of a missing path come back on the loop;
 * figures from a test-hook file; while a reading hangs (the hang hook)
 * the loop's timers keep firing, what it waits on is named, no second
 * reading starts, and it comes back once the hang ends; resread_free
 * returns at once with a reading stuck.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "common/clock.h"
#include "common/sysinfo.h"
#include "heal/resread.h"

struct t {
	struct event_base *base;
	int answers;
	struct resread_answer last; /* disk not kept */
	struct resread_disk disk[4];
	char path[4][256];
	int ticks;
	char dir[64];
};

static void
on_answer(const struct resread_answer *a, void *arg)
{
	struct t *t = arg;
	size_t i;

	t->answers++;
	t->last = *a;
	t->last.disk = NULL;
	for (i = 0; i < a->ndisk && i < 4; i++) {
		t->disk[i] = a->disk[i];
		snprintf(t->path[i], sizeof(t->path[i]), "%s", a->disk[i].path);
		t->disk[i].path = t->path[i];
	}
	event_base_loopbreak(t->base);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct t *t = arg;

	(void)fd;
	(void)what;
	t->ticks++;
}

static void
on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	event_base_loopbreak(arg);
}

/* run the loop until an answer or ms; a 20 ms timer ticks meanwhile */
static void
run(struct t *t, int ms)
{
	struct timeval dl = {ms / 1000, (ms % 1000) * 1000}, tk = {0, 20000};
	struct event *d = evtimer_new(t->base, on_deadline, t->base);
	struct event *k = event_new(t->base, -1, EV_PERSIST, on_tick, t);

	evtimer_add(d, &dl);
	event_add(k, &tk);
	event_base_dispatch(t->base);
	event_free(d);
	event_free(k);
}

static int
setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));

	t->base = event_base_new();
	snprintf(t->dir, sizeof(t->dir), "/tmp/test_resread.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct t *t = *state;
	char p[128];

	snprintf(p, sizeof(p), "%s/hang", t->dir);
	unlink(p);
	snprintf(p, sizeof(p), "%s/fig", t->dir);
	unlink(p);
	rmdir(t->dir);
	event_base_free(t->base);
	free(t);
	return 0;
}

static void
touch(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	close(fd);
}

static void
test_real(void **state)
{
	struct t *t = *state;
	char *paths[] = {"/", "/nonexistent/test_resread"};
	struct resread *r = resread_new(t->base, NULL, NULL, on_answer, t);
	struct sysinfo_disk di;
	struct sysinfo_swap sw;

	assert_non_null(r);
	assert_int_equal(resread_start(r, paths, 2), 0);
	run(t, 5000);
	assert_int_equal(t->answers, 1);
	assert_int_equal(t->last.ndisk, 2);
	assert_string_equal(t->disk[0].path, "/");
	assert_int_equal(t->disk[0].rc, 0);
	assert_int_equal(sysinfo_disk("/", &di), 0);
	assert_true(t->disk[0].total == di.total_bytes);
	assert_true(t->disk[0].avail <= t->disk[0].total);
	assert_int_equal(t->disk[1].rc, -1);
	assert_int_equal(t->disk[1].err, ENOENT);
	assert_int_equal(t->last.swap_rc, sysinfo_swap(&sw));
	if (t->last.swap_rc == 0)
		assert_true(t->last.swap_total == sw.total_bytes);
	assert_int_equal(resread_busy(r, NULL, NULL, 0), 0);
	/* a second reading, and none with nothing to read but swap */
	assert_int_equal(resread_start(r, paths, 0), 0);
	run(t, 5000);
	assert_int_equal(t->answers, 2);
	assert_int_equal(t->last.ndisk, 0);
	resread_free(r);
	resread_free(NULL);
}

static void
test_figures(void **state)
{
	struct t *t = *state;
	char fig[128], *paths[] = {"/data", "/other"};
	struct resread *r;

	snprintf(fig, sizeof(fig), "%s/fig", t->dir);
	touch(fig, "swap_total 100\nswap_used 40\ndisk /data 1000 250\n"
	           "disk /bad 5 6\n");
	r = resread_new(t->base, fig, NULL, on_answer, t);
	assert_int_equal(resread_start(r, paths, 2), 0);
	run(t, 5000);
	assert_int_equal(t->answers, 1);
	assert_int_equal(t->disk[0].rc, 0);
	assert_true(t->disk[0].total == 1000 && t->disk[0].avail == 250);
	assert_int_equal(t->disk[1].rc, -1);
	assert_int_equal(t->disk[1].err, 0);
	assert_int_equal(t->last.swap_rc, 0);
	assert_true(t->last.swap_total == 100 && t->last.swap_used == 40);
	assert_int_equal(t->last.test_rc, 0);
	assert_non_null(strstr(t->last.test_err, "fig:4: total must be"));
	/* no file at all: no figures, and why */
	unlink(fig);
	assert_int_equal(resread_start(r, paths, 2), 0);
	run(t, 5000);
	assert_int_equal(t->answers, 2);
	assert_int_equal(t->last.test_rc, -1);
	assert_int_equal(t->disk[0].rc, -1);
	assert_int_equal(t->last.swap_rc, -1);
	assert_non_null(strstr(t->last.test_err, "No such file"));
	resread_free(r);
}

static void
test_hang(void **state)
{
	struct t *t = *state;
	char hang[128], on[64], *paths[] = {"/", "/tmp"};
	struct resread *r;
	uint64_t since, t0 = clock_mono_ms();

	snprintf(hang, sizeof(hang), "%s/hang", t->dir);
	touch(hang, "");
	r = resread_new(t->base, NULL, hang, on_answer, t);
	assert_int_equal(resread_start(r, paths, 2), 0);
	/* 500 ms of a hung reading: the loop's 20 ms timer still ticks */
	run(t, 500);
	assert_int_equal(t->answers, 0);
	assert_true(t->ticks >= 10);
	assert_int_equal(resread_busy(r, &since, on, sizeof(on)), 1);
	assert_string_equal(on, "disk /");
	assert_true(since >= t0 && since <= clock_mono_ms());
	assert_int_equal(resread_start(r, paths, 2), -1);
	/* the hang ends: the reading comes back, all of it */
	unlink(hang);
	run(t, 5000);
	assert_int_equal(t->answers, 1);
	assert_int_equal(t->disk[0].rc, 0);
	assert_int_equal(t->disk[1].rc, 0);
	assert_int_equal(resread_busy(r, NULL, NULL, 0), 0);
	resread_free(r);
}

static void
test_free_stuck(void **state)
{
	struct t *t = *state;
	char hang[128], on[64], *paths[] = {"/"};
	struct resread *r;
	uint64_t t0;

	snprintf(hang, sizeof(hang), "%s/hang", t->dir);
	touch(hang, "");
	r = resread_new(t->base, NULL, hang, on_answer, t);
	assert_int_equal(resread_start(r, paths, 1), 0);
	run(t, 200);
	assert_int_equal(resread_busy(r, NULL, on, sizeof(on)), 1);
	t0 = clock_mono_ms();
	resread_free(r);
	assert_true(clock_mono_ms() - t0 < 1000);
	/* the detached thread returns and frees its own; no callback */
	unlink(hang);
	run(t, 300);
	assert_int_equal(t->answers, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_real, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_figures, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_hang, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_free_stuck, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
