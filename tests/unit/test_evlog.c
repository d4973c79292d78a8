/* SPDX-License-Identifier: ISC */
/*
 * test_evlog: the event log in a private mkdtemp directory per test. Line
 * format and key order, null fields, rotation keeping exactly `keep`
 * files of whole lines, file mode, short writes, tail (last n, columns,
 * follow across rotations) and two threads writing at once.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "common/evlog.h"
#include "common/log.h"

#define MAXLINES 4096

struct tdir {
	char root[64];
	char dir[128]; /* root/state: evlog_open must create it */
};

struct lines {
	char *v[MAXLINES];
	size_t n;
};

static void
rm_rf(const char *path)
{
	struct dirent *de;
	char sub[512];
	DIR *d;

	if ((d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 ||
			    strcmp(de->d_name, "..") == 0)
				continue;
			snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name);
			rm_rf(sub);
		}
		closedir(d);
		rmdir(path);
	} else
		unlink(path);
}

static int
setup(void **state)
{
	struct tdir *t = calloc(1, sizeof(*t));

	if (t == NULL)
		return -1;
	snprintf(t->root, sizeof(t->root), "/tmp/test_evlog.XXXXXX");
	if (mkdtemp(t->root) == NULL) {
		free(t);
		return -1;
	}
	snprintf(t->dir, sizeof(t->dir), "%s/state/sub", t->root);
	*state = t;
	return 0;
}

static int
teardown(void **state)
{
	struct tdir *t = *state;

	rm_rf(t->root);
	free(t);
	return 0;
}

static char *
path_of(const struct tdir *t, const char *suffix, char *buf, size_t len)
{
	snprintf(buf, len, "%s/events.jsonl%s", t->dir, suffix);
	return buf;
}

/* every line of a file; asserts the file ends in a newline */
static void
read_lines(const char *path, struct lines *l)
{
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	FILE *f;

	l->n = 0;
	assert_non_null(f = fopen(path, "r"));
	while ((n = getline(&line, &cap, f)) != -1) {
		assert_true(n > 0 && line[n - 1] == '\n');
		assert_true(l->n < MAXLINES);
		l->v[l->n++] = strndup(line, (size_t)n - 1);
	}
	free(line);
	fclose(f);
}

static void
free_lines(struct lines *l)
{
	while (l->n > 0)
		free(l->v[--l->n]);
}

static json_t *
parse_line(const char *line)
{
	json_error_t jerr;
	json_t *obj;

	obj = json_loads(line, 0, &jerr);
	if (obj == NULL)
		fail_msg("not JSON: %s (%s)", line, jerr.text);
	assert_true(json_is_object(obj));
	return obj;
}

static void
assert_ts(json_t *obj)
{
	const char *ts = json_string_value(json_object_get(obj, "ts"));
	regex_t re;

	assert_non_null(ts);
	assert_int_equal(
	    regcomp(&re,
	        "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}"
	        "\\.[0-9]{3}Z$",
	        REG_EXTENDED | REG_NOSUB),
	    0);
	assert_int_equal(regexec(&re, ts, 0, NULL, 0), 0);
	regfree(&re);
}

static void
test_write_fields(void **state)
{
	struct tdir *t = *state;
	char err[256], path[256];
	struct evlog *ev;
	struct lines l;
	json_t *f, *obj;
	const char *s;

	ev = evlog_open(t->dir, 1 << 20, 3, err, sizeof(err));
	assert_non_null(ev);
	f = json_pack("{s:i, s:s, s:s, s:b}", "attempt", 2, "from", "x.bak",
	    "type", "evil", "ok", 1);
	assert_int_equal(
	    evlog_write(ev, "peer_down", "beta", "no heartbeat", f), 0);
	assert_int_equal(json_object_size(f), 4); /* borrowed, untouched */
	assert_int_equal(f->refcount, 1);
	json_decref(f);
	assert_int_equal(evlog_write(ev, "start", NULL, NULL, NULL), 0);
	assert_int_equal(evlog_writef(ev, "restored", "gamma", NULL,
	                     "from %s in %d ms", "hourly", 42),
	    0);
	assert_int_equal(evlog_count(ev), 3);
	assert_int_equal(evlog_errors(ev), 0);
	evlog_free(ev);

	read_lines(path_of(t, "", path, sizeof(path)), &l);
	assert_int_equal(l.n, 3);
	/* compact, key order ts, type, peer, detail, then the fields */
	s = l.v[0];
	assert_true(strncmp(s, "{\"ts\":\"", 7) == 0);
	assert_non_null(strstr(s, "\",\"type\":\"peer_down\",\"peer\":\"beta\","
	                          "\"detail\":\"no heartbeat\",\"attempt\":2,"
	                          "\"from\":\"x.bak\",\"ok\":true}"));
	assert_null(strstr(s, "\": "));
	assert_null(strstr(s, ", \""));
	obj = parse_line(s);
	assert_ts(obj);
	json_decref(obj);

	obj = parse_line(l.v[1]);
	assert_ts(obj);
	assert_string_equal(
	    json_string_value(json_object_get(obj, "type")), "start");
	assert_true(json_is_null(json_object_get(obj, "peer")));
	assert_true(json_is_null(json_object_get(obj, "detail")));
	json_decref(obj);

	obj = parse_line(l.v[2]);
	assert_string_equal(json_string_value(json_object_get(obj, "detail")),
	    "from hourly in 42 ms");
	json_decref(obj);
	free_lines(&l);
}

static void
test_modes(void **state)
{
	struct tdir *t = *state;
	char err[256], path[256];
	struct evlog *ev;
	struct stat st;

	ev = evlog_open(t->dir, 0, 0, err, sizeof(err));
	assert_non_null(ev);
	assert_int_equal(stat(path_of(t, "", path, sizeof(path)), &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(stat(t->dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 07777, 0700);
	evlog_free(ev);
	evlog_free(NULL);

	/* a wider mode left by someone else is narrowed on open */
	assert_int_equal(chmod(path, 0644), 0);
	ev = evlog_open(t->dir, 0, 0, err, sizeof(err));
	assert_non_null(ev);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	evlog_free(ev);

	/* state_dir that is a file */
	ev = evlog_open(path, 0, 0, err, sizeof(err));
	assert_null(ev);
	assert_non_null(strstr(err, "events.jsonl"));
}

/* the files a rotation test left: every line whole, seq consecutive */
static size_t
check_rotated(
    const struct tdir *t, unsigned keep, size_t max_bytes, json_int_t *next)
{
	char path[256], suffix[16];
	struct stat st;
	struct lines l;
	size_t i, total = 0;
	unsigned k;
	json_t *obj;

	for (k = keep; k != (unsigned)-1; k--) {
		if (k == 0)
			suffix[0] = '\0';
		else
			snprintf(suffix, sizeof(suffix), ".%u", k);
		path_of(t, suffix, path, sizeof(path));
		assert_int_equal(stat(path, &st), 0);
		assert_true((size_t)st.st_size <= max_bytes);
		read_lines(path, &l);
		for (i = 0; i < l.n; i++) {
			obj = parse_line(l.v[i]);
			if (*next >= 0)
				assert_int_equal(json_integer_value(
				                     json_object_get(obj, "n")),
				    *next);
			*next =
			    json_integer_value(json_object_get(obj, "n")) + 1;
			json_decref(obj);
		}
		total += l.n;
		free_lines(&l);
	}
	snprintf(suffix, sizeof(suffix), ".%u", keep + 1);
	assert_int_equal(stat(path_of(t, suffix, path, sizeof(path)), &st), -1);
	return total;
}

static void
rotate_with(struct tdir *t, unsigned keep)
{
	char err[256];
	struct evlog *ev;
	json_int_t next = -1;
	json_t *f;
	int i;

	ev = evlog_open(t->dir, 400, keep, err, sizeof(err));
	assert_non_null(ev);
	for (i = 0; i < 60; i++) {
		f = json_pack("{s:i}", "n", i);
		assert_int_equal(
		    evlog_writef(ev, "tick", "alpha", f, "line %d", i), 0);
		json_decref(f);
	}
	assert_int_equal(evlog_errors(ev), 0);
	evlog_free(ev);
	check_rotated(t, keep ? keep : 1, 400, &next);
	assert_int_equal(next, 60); /* the newest line is the last written */
}

static void
test_rotation(void **state)
{
	rotate_with(*state, 3);
}

static void
test_rotation_keep1(void **state)
{
	rotate_with(*state, 1);
}

/* keep 0 is documented to behave as keep 1 */
static void
test_rotation_keep0(void **state)
{
	rotate_with(*state, 0);
}

/* a line longer than max_bytes still goes into an empty file */
static void
test_rotation_huge_line(void **state)
{
	struct tdir *t = *state;
	char err[256], path[256], big[600];
	struct evlog *ev;
	struct lines l;

	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ev = evlog_open(t->dir, 200, 2, err, sizeof(err));
	assert_non_null(ev);
	assert_int_equal(evlog_write(ev, "a", NULL, "small", NULL), 0);
	assert_int_equal(evlog_write(ev, "b", NULL, big, NULL), 0);
	assert_int_equal(evlog_write(ev, "c", NULL, "small", NULL), 0);
	evlog_free(ev);
	read_lines(path_of(t, ".2", path, sizeof(path)), &l);
	assert_int_equal(l.n, 1);
	free_lines(&l);
	read_lines(path_of(t, ".1", path, sizeof(path)), &l);
	assert_int_equal(l.n, 1);
	assert_non_null(strstr(l.v[0], big));
	free_lines(&l);
	read_lines(path_of(t, "", path, sizeof(path)), &l);
	assert_int_equal(l.n, 1);
	free_lines(&l);
}

/* RLIMIT_FSIZE forces a short write: no partial line may remain */
static void
test_short_write(void **state)
{
	struct tdir *t = *state;
	char err[256], path[256], big[400], *recent;
	struct rlimit old, lim;
	struct evlog *ev;
	struct lines l;
	struct stat st;

	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ev = evlog_open(t->dir, 0, 0, err, sizeof(err));
	assert_non_null(ev);
	assert_int_equal(evlog_write(ev, "a", "p", "first", NULL), 0);
	assert_int_equal(stat(path_of(t, "", path, sizeof(path)), &st), 0);

	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = old;
	lim.rlim_cur = (rlim_t)st.st_size + 100;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	assert_int_equal(evlog_write(ev, "b", "p", big, NULL), -1);
	assert_int_equal(evlog_write(ev, "b", "p", big, NULL), -1);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_DFL);

	assert_int_equal(evlog_errors(ev), 2);
	assert_int_equal(evlog_write(ev, "c", "p", "after", NULL), 0);
	assert_int_equal(evlog_count(ev), 2);
	/* the ring behind GET /events keeps what the disk refused */
	recent = evlog_recent(ev, 10);
	assert_non_null(strstr(recent, "\"type\":\"b\""));
	assert_non_null(strstr(recent, "\"after\""));
	free(recent);
	evlog_free(ev);
	read_lines(path, &l);
	assert_int_equal(l.n, 2);
	assert_non_null(strstr(l.v[0], "first"));
	assert_non_null(strstr(l.v[1], "after"));
	free_lines(&l);
}

static void
write_n(struct evlog *ev, int from, int to)
{
	json_t *f;
	int i;

	for (i = from; i < to; i++) {
		f = json_pack("{s:i}", "n", i);
		assert_int_equal(
		    evlog_writef(ev, "tick", "alpha", f, "line %d", i), 0);
		json_decref(f);
	}
}

/* evlog_recent(ev, n) parsed: an array of want events */
static json_t *
recent_json(struct evlog *ev, size_t n, size_t want)
{
	json_error_t jerr;
	char *s = evlog_recent(ev, n);
	json_t *a = json_loads(s, 0, &jerr);

	if (a == NULL)
		fail_msg(
		    "evlog_recent(%zu) is not JSON: %s: %s", n, jerr.text, s);
	free(s);
	assert_true(json_is_array(a));
	assert_int_equal(json_array_size(a), want);
	return a;
}

static int
recent_n(const json_t *a, size_t i)
{
	return (int)json_integer_value(
	    json_object_get(json_array_get(a, i), "n"));
}

/* the in-memory ring behind GET /events: newest last, capped, the same
 * objects as the file's lines, long events cut on a character boundary */
static void
test_recent(void **state)
{
	struct tdir *t = *state;
	char err[256], path[256], big[3 * 4000 + 1];
	struct evlog *ev;
	struct lines l;
	json_t *a, *e;
	const char *d;
	size_t i;

	ev = evlog_open(t->dir, 0, 0, err, sizeof(err));
	assert_non_null(ev);
	a = recent_json(ev, 50, 0);
	json_decref(a);
	write_n(ev, 0, 3);
	a = recent_json(ev, 50, 3);
	read_lines(path_of(t, "", path, sizeof(path)), &l);
	for (i = 0; i < 3; i++) { /* the very lines of the file */
		char *s = json_dumps(
		    json_array_get(a, i), JSON_COMPACT | JSON_PRESERVE_ORDER);
		assert_string_equal(s, l.v[i]);
		free(s);
	}
	free_lines(&l);
	json_decref(a);
	a = recent_json(ev, 0, 0);
	json_decref(a);

	write_n(ev, 3, EVLOG_RECENT_MAX + 50);
	a = recent_json(ev, 50, 50);
	assert_int_equal(recent_n(a, 0), EVLOG_RECENT_MAX);
	assert_int_equal(recent_n(a, 49), EVLOG_RECENT_MAX + 49);
	json_decref(a);
	a = recent_json(ev, 100000, EVLOG_RECENT_MAX);
	assert_int_equal(recent_n(a, 0), 50);
	assert_int_equal(
	    recent_n(a, EVLOG_RECENT_MAX - 1), EVLOG_RECENT_MAX + 49);
	json_decref(a);

	/* 4000 three-byte characters: over EVLOG_RECENT_LINE */
	for (i = 0; i < 4000; i++)
		memcpy(big + 3 * i, "\xe2\x82\xac", 3);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(evlog_write(ev, "huge", "beta", big, NULL), 0);
	a = recent_json(ev, 1, 1);
	e = json_array_get(a, 0);
	assert_string_equal(
	    json_string_value(json_object_get(e, "type")), "huge");
	assert_string_equal(
	    json_string_value(json_object_get(e, "peer")), "beta");
	assert_true(json_is_true(json_object_get(e, "truncated")));
	d = json_string_value(json_object_get(e, "detail"));
	assert_non_null(d);
	assert_true(strlen(d) > 400 && strlen(d) <= 512);
	assert_int_equal(strlen(d) % 3, 0);
	assert_int_equal(strncmp(d, big, strlen(d)), 0);
	json_decref(a);
	evlog_free(ev);
}

/* the whole of a memstream's output after it is closed */
static char *
tail_to_string(const char *dir, long n, int json)
{
	size_t len = 0;
	char *s = NULL;
	FILE *out;

	assert_non_null(out = open_memstream(&s, &len));
	assert_int_equal(evlog_tail(dir, n, 0, json, out, NULL), 0);
	fclose(out);
	return s;
}

static void
test_tail(void **state)
{
	struct tdir *t = *state;
	char err[256], path[256];
	struct evlog *ev;
	struct lines l;
	char *s, want[1024];
	size_t i, all;

	assert_int_equal(evlog_tail(t->dir, 2, 0, 1, stdout, NULL), -1);
	ev = evlog_open(t->dir, 0, 0, err, sizeof(err));
	assert_non_null(ev);
	write_n(ev, 0, 5);
	assert_int_equal(evlog_write(ev, "last", NULL, NULL, NULL), 0);
	evlog_free(ev);
	read_lines(path_of(t, "", path, sizeof(path)), &l);

	s = tail_to_string(t->dir, 2, 1);
	snprintf(want, sizeof(want), "%s\n%s\n", l.v[4], l.v[5]);
	assert_string_equal(s, want);
	free(s);

	for (i = 0, all = 0; i < l.n; i++)
		all += strlen(l.v[i]) + 1;
	s = tail_to_string(t->dir, 0, 1); /* all */
	assert_int_equal(strlen(s), all);
	free(s);
	s = tail_to_string(t->dir, 100, 1); /* more than there are */
	assert_int_equal(strlen(s), all);
	free(s);

	s = tail_to_string(t->dir, 2, 0); /* columns; null peer as "-" */
	assert_non_null(strstr(s, "  tick"));
	assert_non_null(strstr(s, "  alpha"));
	assert_non_null(strstr(s, "  line 4\n"));
	assert_non_null(strstr(s, "  last"));
	assert_non_null(strstr(s, "  -"));
	assert_null(strstr(s, "line 3"));
	assert_null(strchr(s, '{'));
	assert_int_equal(strncmp(s, l.v[4] + 7, 24), 0); /* the ts */
	free(s);
	free_lines(&l);
}

/* lines longer than the reader's block, counted back across blocks */
static void
test_tail_long_lines(void **state)
{
	struct tdir *t = *state;
	char err[256], big[20000];
	struct evlog *ev;
	char *s;
	int i;

	memset(big, 'z', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ev = evlog_open(t->dir, 0, 0, err, sizeof(err));
	assert_non_null(ev);
	for (i = 0; i < 4; i++) {
		big[0] = (char)('a' + i);
		assert_int_equal(evlog_write(ev, "big", NULL, big, NULL), 0);
	}
	evlog_free(ev);
	s = tail_to_string(t->dir, 3, 1);
	assert_null(strstr(s, "\"azzz"));
	assert_non_null(strstr(s, "\"bzzz"));
	assert_non_null(strstr(s, "\"dzzz"));
	free(s);
}

struct follow_arg {
	const char *dir;
	FILE *out;
	volatile int stop;
	int rc;
};

static void *
follow_main(void *arg)
{
	struct follow_arg *a = arg;

	a->rc = evlog_tail(a->dir, 0, 1, 1, a->out, &a->stop);
	return NULL;
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* follow from before the file exists, across several rotations */
static void
test_tail_follow(void **state)
{
	struct tdir *t = *state;
	struct follow_arg a;
	char err[256], *s = NULL, *p, key[32];
	struct evlog *ev;
	pthread_t th;
	size_t len = 0;
	int i;

	memset(&a, 0, sizeof(a));
	a.dir = t->dir;
	assert_non_null(a.out = open_memstream(&s, &len));
	assert_int_equal(pthread_create(&th, NULL, follow_main, &a), 0);
	sleep_ms(250);
	ev = evlog_open(t->dir, 600, 2, err, sizeof(err));
	assert_non_null(ev);
	for (i = 0; i < 24; i++) {
		write_n(ev, i, i + 1); /* about 6 lines a file */
		sleep_ms(60);
	}
	evlog_free(ev);
	sleep_ms(300);
	a.stop = 1;
	assert_int_equal(pthread_join(th, NULL), 0);
	fclose(a.out);
	assert_int_equal(a.rc, 0);
	p = s;
	for (i = 0; i < 24; i++) { /* each once, in order */
		snprintf(key, sizeof(key), "\"n\":%d}\n", i);
		assert_non_null(p = strstr(p, key));
		assert_null(strstr(p + 1, key));
	}
	free(s);
}

struct writer_arg {
	struct evlog *ev;
	int id;
};

#define PER_THREAD 500

static void *
writer_main(void *arg)
{
	struct writer_arg *w = arg;
	json_t *f;
	int i;

	for (i = 0; i < PER_THREAD; i++) {
		f = json_pack("{s:i, s:i}", "thread", w->id, "n", i);
		if (evlog_writef(w->ev, "tick", "alpha", f,
		        "thread %d line %d padding padding padding", w->id,
		        i) != 0)
			w->id = -1;
		json_decref(f);
	}
	return NULL;
}

static void
two_writers(struct tdir *t, size_t max_bytes, unsigned keep)
{
	struct writer_arg w[2] = {{NULL, 0}, {NULL, 1}};
	char err[256], path[256], suffix[16];
	int seen[2][PER_THREAD] = {{0}};
	struct evlog *ev;
	struct lines l;
	pthread_t th[2];
	size_t i, total = 0;
	unsigned k;
	json_t *obj;

	ev = evlog_open(t->dir, max_bytes, keep, err, sizeof(err));
	assert_non_null(ev);
	for (i = 0; i < 2; i++) {
		w[i].ev = ev;
		assert_int_equal(
		    pthread_create(&th[i], NULL, writer_main, &w[i]), 0);
	}
	for (i = 0; i < 2; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	assert_int_equal(w[0].id, 0);
	assert_int_equal(w[1].id, 1);
	assert_int_equal(evlog_count(ev), 2 * PER_THREAD);
	evlog_free(ev);
	for (k = 0; k <= keep; k++) {
		if (k == 0)
			suffix[0] = '\0';
		else
			snprintf(suffix, sizeof(suffix), ".%u", k);
		if (access(path_of(t, suffix, path, sizeof(path)), F_OK) != 0)
			continue;
		read_lines(path_of(t, suffix, path, sizeof(path)), &l);
		for (i = 0; i < l.n; i++) {
			obj = parse_line(l.v[i]);
			seen[json_integer_value(json_object_get(obj, "thread"))]
			    [json_integer_value(json_object_get(obj, "n"))]++;
			json_decref(obj);
		}
		total += l.n;
		free_lines(&l);
	}
	assert_int_equal(total, 2 * PER_THREAD);
	for (i = 0; i < PER_THREAD; i++)
		assert_true(seen[0][i] == 1 && seen[1][i] == 1);
}

static void
test_threads(void **state)
{
	two_writers(*state, 0, 0);
}

/* the same with rotation racing: keep enough files to hold everything */
static void
test_threads_rotating(void **state)
{
	two_writers(*state, 8192, 64);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test_setup_teardown(test_write_fields, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_modes, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_rotation, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_rotation_keep1, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_rotation_keep0, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_rotation_huge_line, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_short_write, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tail, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_recent, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_tail_long_lines, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_tail_follow, setup, teardown),
	    cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	    cmocka_unit_test_setup_teardown(
	        test_threads_rotating, setup, teardown),
	};

	log_init(1, -1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
