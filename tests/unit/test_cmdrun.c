/* SPDX-License-Identifier: ISC */
/*
 * test_cmdrun: word splitting (quotes, backslashes, no expansion) and real
 * commands on a real libevent loop: exit codes, the output tail, a timeout
 * that kills the whole process group, a command that is not found, and a
 * command that leaves a background child holding the pipe (done when the
 * command itself is reaped, not when the pipe closes).
 */
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
#include <event2/event.h>

#include "heal/cmdrun.h"

static void
split_ok(const char *line, int n, ...)
{
	char **argv, err[128];
	va_list ap;
	int i;

	assert_int_equal(cmdrun_split(line, &argv, err, sizeof(err)), 0);
	va_start(ap, n);
	for (i = 0; i < n; i++)
		assert_string_equal(argv[i], va_arg(ap, const char *));
	va_end(ap);
	assert_null(argv[n]);
	free(argv);
}

static void
test_split(void **state)
{
	char **argv, err[128];

	(void)state;
	split_ok("systemctl restart app", 3, "systemctl", "restart", "app");
	split_ok("  a\t b  ", 2, "a", "b");
	split_ok(
	    "sh -c 'echo $HOME | wc -c'", 3, "sh", "-c", "echo $HOME | wc -c");
	split_ok("say \"a \\\"q\\\" b\"", 2, "say", "a \"q\" b");
	split_ok("a\\ b c", 2, "a b", "c");
	split_ok("x'y'\"z\"", 1, "xyz");
	split_ok("e ''", 2, "e", "");
	/* no expansion of any kind */
	split_ok("ls * ~ $X > f", 6, "ls", "*", "~", "$X", ">", "f");
	assert_int_equal(cmdrun_split("a 'b", &argv, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "unbalanced"));
	assert_int_equal(cmdrun_split("   ", &argv, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no command"));
}

struct run {
	struct event_base *base;
	int done;
	struct cmdrun_result r;
};

static void
on_done(const struct cmdrun_result *r, void *arg)
{
	struct run *x = arg;

	x->done++;
	x->r = *r;
	event_base_loopbreak(x->base);
}

/* run line to completion (at most 10 s of loop) */
static struct run
run(const char *line, uint64_t timeout_ms)
{
	struct run x;
	struct cmdrun *c;
	char err[256];
	int i;

	memset(&x, 0, sizeof(x));
	x.base = event_base_new();
	c = cmdrun_start(
	    x.base, line, timeout_ms, on_done, &x, err, sizeof(err));
	assert_non_null(c);
	for (i = 0; i < 1000 && !x.done; i++) {
		struct timeval tv = {0, 10000};
		event_base_loopexit(x.base, &tv);
		event_base_dispatch(x.base);
	}
	event_base_free(x.base);
	return x;
}

static void
test_exit_and_tail(void **state)
{
	struct run x;
	char desc[64];

	(void)state;
	x = run("sh -c 'echo hello; echo oops >&2; exit 3'", 5000);
	assert_int_equal(x.done, 1);
	assert_int_equal(x.r.exit_code, 3);
	assert_false(x.r.timed_out);
	assert_string_equal(x.r.tail, "hello\noops");
	cmdrun_describe(&x.r, desc, sizeof(desc));
	assert_string_equal(desc, "exit 3");
	x = run("true", 5000);
	assert_int_equal(x.r.exit_code, 0);
	assert_string_equal(x.r.tail, "");
}

static void
test_tail_is_last_bytes(void **state)
{
	struct run x;

	(void)state;
	/* 2000 lines; only the last CMDRUN_TAIL bytes are kept */
	x = run("sh -c 'i=0; while [ $i -lt 2000 ]; do echo line$i; "
	        "i=$((i+1)); done; printf \"\\001end\"'",
	    10000);
	assert_int_equal(x.r.exit_code, 0);
	assert_true(strlen(x.r.tail) <= CMDRUN_TAIL);
	/* control bytes become '?' */
	assert_non_null(strstr(x.r.tail, "line1999\n?end"));
}

static void
test_timeout_kills_group(void **state)
{
	struct run x;
	char desc[64];

	(void)state;
	/* the grandchild sleeps too: the whole group goes at the timeout */
	x = run("sh -c 'sleep 30 & sleep 30'", 300);
	assert_int_equal(x.done, 1);
	assert_true(x.r.timed_out);
	assert_int_equal(x.r.signal, SIGKILL);
	/* libevent may fire a ms early against our clock */
	assert_true(x.r.elapsed_ms >= 250 && x.r.elapsed_ms < 5000);
	cmdrun_describe(&x.r, desc, sizeof(desc));
	assert_non_null(strstr(desc, "timed out"));
}

static void
test_not_found(void **state)
{
	struct event_base *base = event_base_new();
	char err[256];

	(void)state;
	assert_null(cmdrun_start(
	    base, "/nonexistent/cmd x", 1000, on_done, NULL, err, sizeof(err)));
	assert_non_null(strstr(err, "not found"));
	assert_null(cmdrun_start(
	    base, "no-such-command-pw", 1000, on_done, NULL, err, sizeof(err)));
	assert_non_null(
	    strstr(err, "no-such-command-pw: command not found in PATH"));
	event_base_free(base);
}

static void
test_background_child_keeps_pipe(void **state)
{
	struct run x;
	char pidfile[] = "/tmp/pw-cmdrun.XXXXXX", line[256], buf[32];
	FILE *f;
	int fd;
	long pid = 0;

	(void)state;
	fd = mkstemp(pidfile);
	assert_true(fd >= 0);
	close(fd);
	/* a daemon left behind with our stdout: we still finish at once */
	snprintf(line, sizeof(line),
	    "sh -c 'sleep 20 & echo $! > %s; echo started'", pidfile);
	x = run(line, 5000);
	assert_int_equal(x.done, 1);
	assert_int_equal(x.r.exit_code, 0);
	assert_true(x.r.elapsed_ms < 3000);
	assert_string_equal(x.r.tail, "started");
	f = fopen(pidfile, "r");
	assert_non_null(f);
	if (fgets(buf, sizeof(buf), f) != NULL)
		pid = strtol(buf, NULL, 10);
	fclose(f);
	unlink(pidfile);
	assert_true(pid > 1);
	kill((pid_t)pid, SIGKILL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_split),
	    cmocka_unit_test(test_exit_and_tail),
	    cmocka_unit_test(test_tail_is_last_bytes),
	    cmocka_unit_test(test_timeout_kills_group),
	    cmocka_unit_test(test_not_found),
	    cmocka_unit_test(test_background_child_keeps_pipe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
