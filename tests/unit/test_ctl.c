/* SPDX-License-Identifier: ISC */
/*
 * test_ctl: the control socket's limits, against a real Unix socket and a
 * real libevent loop in this process: the request line limit, the cap on
 * open connections, the cap on answers pending (heal workers), and
 * accept() failing with EMFILE (a pause, not a spin). No sleeps: the loop
 * runs until the client's socket is readable or a deadline passes.
 */
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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
#include <jansson.h>

#include "common/clock.h"
#include "common/log.h"
#include "peer/ctl.h"

struct fx {
	char dir[64];
	struct event_base *base;
	struct ctl *ctl;
	int calls;      /* handler calls */
	int busy_calls; /* ... with r == NULL */
	struct ctl_req *held[8];
	int nheld;
};

/* "echo": answer now; "slow": answer later (like revive) */
static json_t *
handler(const json_t *req, struct ctl_req *r, void *arg)
{
	struct fx *f = arg;
	const char *cmd = json_string_value(json_object_get(req, "cmd"));

	f->calls++;
	if (strcmp(cmd, "slow") != 0)
		return json_pack("{sb}", "ok", 1);
	if (r == NULL) {
		f->busy_calls++;
		return json_pack("{ss}", "error", "busy");
	}
	assert_true(f->nheld < 8);
	f->held[f->nheld++] = r;
	return NULL;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char err[256];

	snprintf(f->dir, sizeof(f->dir), "/tmp/test_ctl.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	f->base = event_base_new();
	f->ctl = ctl_new(f->base, f->dir, handler, f, err, sizeof(err));
	if (f->ctl == NULL) {
		fprintf(stderr, "ctl_new: %s\n", err);
		return -1;
	}
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char path[128];

	ctl_free(f->ctl);
	event_base_free(f->base);
	snprintf(path, sizeof(path), "%s/%s", f->dir, CTL_SOCKET_NAME);
	unlink(path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static int
client(const struct fx *f)
{
	struct sockaddr_un sun;
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/%s", f->dir,
	    CTL_SOCKET_NAME);
	assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
	return fd;
}

static void
send_all(int fd, const char *s, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, s, len);
		assert_true(n > 0);
		s += n;
		len -= (size_t)n;
	}
}

/* run the loop until fd is readable; 0 then, -1 after ms */
static int
run_until_readable(struct fx *f, int fd, uint64_t ms)
{
	uint64_t end = clock_mono_ms() + ms;
	struct pollfd p = {fd, POLLIN, 0};

	while (clock_mono_ms() < end) {
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		if (poll(&p, 1, 5) == 1)
			return 0;
	}
	return -1;
}

/* the reply line on fd, parsed (the server closes after it) */
static json_t *
reply(struct fx *f, int fd)
{
	char buf[4096];
	size_t len = 0;
	ssize_t n;

	while (len < sizeof(buf) - 1 && memchr(buf, '\n', len) == NULL) {
		assert_int_equal(run_until_readable(f, fd, 3000), 0);
		n = read(fd, buf + len, sizeof(buf) - 1 - len);
		if (n <= 0)
			break;
		len += (size_t)n;
	}
	return json_loadb(buf, len, JSON_DISABLE_EOF_CHECK, NULL);
}

/* a request line of exactly len bytes (without the newline) */
static char *
request_of(size_t len)
{
	const char *head = "{\"cmd\":\"echo\",\"pad\":\"";
	char *s = malloc(len + 2);

	assert_true(len > strlen(head) + 2);
	memset(s, 'x', len);
	memcpy(s, head, strlen(head));
	memcpy(s + len - 2, "\"}", 2);
	s[len] = '\n';
	s[len + 1] = '\0';
	return s;
}

static const char *
error_of(const json_t *o)
{
	return json_string_value(json_object_get(o, "error"));
}

/* CTL_MAX_LINE bytes pass; 12000 bytes (three 4 KiB reads) do not */
static void
test_line_limit(void **state)
{
	struct fx *f = *state;
	size_t sizes[] = {CTL_MAX_LINE, CTL_MAX_LINE + 1, 12000, 100000};
	size_t i;
	json_t *o;
	char *s;
	int fd;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		f->calls = 0;
		fd = client(f);
		s = request_of(sizes[i]);
		if (sizes[i] < 20000)
			send_all(fd, s, sizes[i] + 1);
		else { /* the server stops reading: send what fits */
			fcntl(fd, F_SETFL, O_NONBLOCK);
			(void)!write(fd, s, sizes[i] + 1);
		}
		o = reply(f, fd);
		assert_non_null(o);
		if (sizes[i] <= CTL_MAX_LINE) {
			assert_true(json_is_true(json_object_get(o, "ok")));
			assert_int_equal(f->calls, 1);
		} else {
			assert_string_equal(error_of(o), "request too long");
			assert_int_equal(f->calls, 0);
		}
		json_decref(o);
		free(s);
		close(fd);
	}
}

/* the fifth request that would start a worker is refused at once */
static void
test_deferred_cap(void **state)
{
	struct fx *f = *state;
	int fds[CTL_MAX_DEFERRED + 2], i;
	struct pollfd p;
	json_t *o;

	for (i = 0; i < CTL_MAX_DEFERRED + 2; i++) {
		fds[i] = client(f);
		send_all(fds[i], "{\"cmd\":\"slow\"}\n", 15);
	}
	/* the last two are answered "busy"; the others wait */
	for (i = CTL_MAX_DEFERRED; i < CTL_MAX_DEFERRED + 2; i++) {
		o = reply(f, fds[i]);
		assert_string_equal(error_of(o), "busy");
		json_decref(o);
	}
	assert_int_equal(f->nheld, CTL_MAX_DEFERRED);
	assert_int_equal(f->busy_calls, 2);
	p.fd = fds[0];
	p.events = POLLIN;
	assert_int_equal(poll(&p, 1, 0), 0);
	/* answered: a slot is free again */
	for (i = 0; i < CTL_MAX_DEFERRED; i++) {
		ctl_reply(f->held[i], json_pack("{sb}", "ok", 1));
		o = reply(f, fds[i]);
		assert_true(json_is_true(json_object_get(o, "ok")));
		json_decref(o);
	}
	for (i = 0; i < CTL_MAX_DEFERRED + 2; i++)
		close(fds[i]);
	f->nheld = 0;
	fds[0] = client(f);
	send_all(fds[0], "{\"cmd\":\"slow\"}\n", 15);
	assert_int_equal(run_until_readable(f, fds[0], 200), -1);
	assert_int_equal(f->nheld, 1);
	close(fds[0]); /* the client leaves: the answer goes nowhere */
	event_base_loop(f->base, EVLOOP_NONBLOCK);
	ctl_reply(f->held[0], json_pack("{sb}", "ok", 1));
}

/* idle connections hold at most CTL_MAX_OPEN slots; one more waits */
static void
test_conn_cap(void **state)
{
	struct fx *f = *state;
	int idle[16], fd, i;
	json_t *o;

	assert_int_equal(sizeof(idle) / sizeof(idle[0]), 16);
	for (i = 0; i < 16; i++) {
		idle[i] = client(f);
		event_base_loop(f->base, EVLOOP_NONBLOCK); /* accepted */
	}
	fd = client(f);
	send_all(fd, "{\"cmd\":\"echo\"}\n", 15);
	/* not accepted while the idle ones hold every slot */
	assert_int_equal(run_until_readable(f, fd, 300), -1);
	assert_int_equal(f->calls, 0);
	close(idle[0]);
	o = reply(f, fd);
	assert_true(json_is_true(json_object_get(o, "ok")));
	json_decref(o);
	close(fd);
	for (i = 1; i < 16; i++)
		close(idle[i]);
}

/* a client trickling one byte a second is cut 5 s after it connected,
 * however often it sends (the idle timeout alone restarts per byte) */
static void
test_deadline(void **state)
{
	struct fx *f = *state;
	uint64_t t0 = clock_mono_ms(), next = t0;
	struct pollfd p;
	char c;
	int fd = client(f), gone = 0;

	while (!gone && clock_mono_ms() - t0 < 9000) {
		if (clock_mono_ms() >= next) {
			(void)!write(fd, "{", 1);
			next += 1000;
		}
		event_base_loop(f->base, EVLOOP_NONBLOCK);
		p.fd = fd;
		p.events = POLLIN;
		p.revents = 0;
		if (poll(&p, 1, 20) == 1 && read(fd, &c, 1) <= 0)
			gone = 1;
	}
	assert_true(gone);
	assert_true(clock_mono_ms() - t0 >= 4900);
	assert_true(clock_mono_ms() - t0 < 6500);
	assert_int_equal(f->calls, 0);
	close(fd);
}

/* count the lines of a file */
static int
lines_of(int fd)
{
	char buf[65536];
	ssize_t n, i;
	int lines = 0;

	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, buf, sizeof(buf))) > 0)
		for (i = 0; i < n; i++)
			lines += buf[i] == '\n';
	return lines;
}

/* out of descriptors: one log line and a pause, then it serves again */
static void
test_emfile(void **state)
{
	struct fx *f = *state;
	char logpath[] = "/tmp/test_ctl.log.XXXXXX";
	struct rlimit old, low;
	int logfd = mkstemp(logpath), saved = dup(2), fd, lines;
	uint64_t end;
	json_t *o;

	assert_true(logfd >= 0 && saved >= 0);
	unlink(logpath);
	dup2(logfd, 2); /* log lines and libevent's warnings */
	fd = client(f);
	send_all(fd, "{\"cmd\":\"echo\"}\n", 15);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)fd + 1; /* nothing above fd can open */
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	for (end = clock_mono_ms() + 300; clock_mono_ms() < end;)
		event_base_loop(f->base, EVLOOP_NONBLOCK);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	lines = lines_of(logfd);
	dup2(saved, 2);
	close(saved);
	close(logfd);
	print_message("log lines while out of descriptors: %d\n", lines);
	assert_int_equal(lines, 1);
	o = reply(f, fd); /* after the pause */
	assert_true(json_is_true(json_object_get(o, "ok")));
	json_decref(o);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_line_limit, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deferred_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_conn_cap, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_deadline, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_emfile, setup, teardown),
	};

	log_init(1, 0);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
