/* SPDX-License-Identifier: ISC */
/*
 * evlog: the event log, state_dir/events.jsonl, and its reader for
 * `peerwatch events`. The writer side owns the file: one compact JSON line
 * per event, written with a single write(2) on an O_APPEND fd under a mutex,
 * so concurrent writers and crashes never leave half a line (a short write
 * is truncated away, never completed by a second write). Rotation happens
 * before a line would push the file past max_bytes. Never exits: errors
 * are counted and logged once per run of failures.
 *
 * max_bytes 0 never rotates. keep 0 behaves as keep 1: the previous file
 * is renamed to events.jsonl.1 and overwritten by the next rotation, so a
 * reader following the log never loses the lines just before a rotation.
 *
 * The last EVLOG_RECENT_MAX events are also kept in memory (a ring of
 * their lines, each at most EVLOG_RECENT_LINE bytes) for the status page,
 * so serving them never reads the file from the daemon's loop; an event the
 * disk refused is still kept there.
 */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/evlog.h"
#include "common/log.h"
#include "common/mkdirs.h"
#include "common/xmalloc.h"

#define EVLOG_FILE "events.jsonl"
#define EVLOG_POLL_MS 200
#define EVLOG_BLOCK 8192
/* a longer event is kept in the ring with its detail cut to this */
#define EVLOG_RECENT_DETAIL 512

struct evlog {
	pthread_mutex_t mtx;
	char *path;
	int fd;
	size_t max_bytes;
	unsigned keep;
	unsigned long count;
	unsigned long errors;
	int failing; /* logged; quiet until a write succeeds again */
	char *recent[EVLOG_RECENT_MAX]; /* lines without '\n', a ring */
	size_t rnext;                   /* the slot the next event takes */
	size_t rcount;
};

/* the CLI reader: one open file and the partial line carried over */
struct evlog_reader {
	FILE *out;
	int json;
	int fd;
	dev_t dev;
	ino_t ino;
	off_t off;
	char *buf;
	size_t len;
	size_t cap;
};

static void evlog_seterr(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
evlog_seterr(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
}

static int
evlog_open_file(const char *path)
{
	struct stat st;
	int fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd == -1)
		return -1;
	/* an older file may have been created with a wider mode */
	if (fstat(fd, &st) == 0 && (st.st_mode & 077) != 0 &&
	    fchmod(fd, 0600) == -1)
		log_warn("evlog: chmod %s", path);
	return fd;
}

struct evlog *
evlog_open(const char *state_dir, size_t max_bytes, unsigned keep, char *err,
    size_t errlen)
{
	struct evlog *ev;

	if (mkdirs(state_dir, 0700, err, errlen) == -1)
		return NULL;
	ev = xcalloc(1, sizeof(*ev));
	ev->path = xasprintf("%s/%s", state_dir, EVLOG_FILE);
	if ((ev->fd = evlog_open_file(ev->path)) == -1) {
		evlog_seterr(err, errlen, "%s: %s", ev->path, strerror(errno));
		free(ev->path);
		free(ev);
		return NULL;
	}
	ev->max_bytes = max_bytes;
	ev->keep = keep;
	if (pthread_mutex_init(&ev->mtx, NULL) != 0) {
		evlog_seterr(err, errlen, "evlog: mutex init failed");
		close(ev->fd);
		free(ev->path);
		free(ev);
		return NULL;
	}
	return ev;
}

void
evlog_free(struct evlog *ev)
{
	size_t i;

	if (ev == NULL)
		return;
	if (ev->fd != -1)
		close(ev->fd);
	for (i = 0; i < EVLOG_RECENT_MAX; i++)
		free(ev->recent[i]);
	pthread_mutex_destroy(&ev->mtx);
	free(ev->path);
	free(ev);
}

unsigned long
evlog_count(const struct evlog *ev)
{
	return ev->count;
}

unsigned long
evlog_errors(const struct evlog *ev)
{
	return ev->errors;
}

/* a JSON string, or null; bytes that are not UTF-8 become '?' */
static json_t *
evlog_str(const char *s)
{
	json_t *v;
	char *c, *p;

	if (s == NULL)
		return json_null();
	if ((v = json_string(s)) != NULL)
		return v;
	c = xstrdup(s);
	for (p = c; *p != '\0'; p++)
		if ((unsigned char)*p >= 0x80)
			*p = '?';
	v = json_string(c);
	free(c);
	return v;
}

static int
evlog_reserved(const char *key)
{
	return strcmp(key, "ts") == 0 || strcmp(key, "type") == 0 ||
	       strcmp(key, "peer") == 0 || strcmp(key, "detail") == 0;
}

/* the event as a JSON object; merged fields never replace ts, type, peer or
 * detail */
static json_t *
evlog_obj(
    const char *type, const char *peer, const char *detail, json_t *fields)
{
	char ts[CLOCK_ISO_LEN];
	const char *key;
	json_t *obj, *v;

	obj = json_object();
	clock_iso8601(clock_wall_ms(), ts, sizeof(ts));
	json_object_set_new(obj, "ts", json_string(ts));
	json_object_set_new(obj, "type", evlog_str(type));
	json_object_set_new(obj, "peer", evlog_str(peer));
	json_object_set_new(obj, "detail", evlog_str(detail));
	if (json_is_object(fields)) {
		json_object_foreach(fields, key, v) {
			if (!evlog_reserved(key))
				json_object_set(obj, key, v);
		}
	}
	return obj;
}

/* obj as one line ending in '\n', or NULL */
static char *
evlog_line(json_t *obj, size_t *lenp)
{
	char *s, *line;
	size_t n;

	s = json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER);
	if (s == NULL)
		return NULL;
	n = strlen(s);
	line = xmalloc(n + 1);
	memcpy(line, s, n);
	line[n] = '\n';
	free(s);
	*lenp = n + 1;
	return line;
}

/*
 * What the ring keeps of an event whose line is len bytes (with its
 * '\n'): the line itself, or past EVLOG_RECENT_LINE only ts, type, peer
 * and the detail cut short (on a character boundary), with "truncated".
 */
static char *
evlog_recent_line(json_t *obj, const char *line, size_t len)
{
	const char *d;
	char *cut, *s;
	size_t n;
	json_t *o;

	if (len - 1 <= EVLOG_RECENT_LINE)
		return xstrndup(line, len - 1);
	d = json_string_value(json_object_get(obj, "detail"));
	n = d == NULL ? 0 : strlen(d);
	if (n > EVLOG_RECENT_DETAIL) {
		n = EVLOG_RECENT_DETAIL;
		while (n > 0 && ((unsigned char)d[n] & 0xc0) == 0x80)
			n--;
	}
	cut = d == NULL ? NULL : xstrndup(d, n);
	o = json_pack("{sOsOsOsosb}", "ts", json_object_get(obj, "ts"), "type",
	    json_object_get(obj, "type"), "peer", json_object_get(obj, "peer"),
	    "detail", evlog_str(cut), "truncated", 1);
	free(cut);
	s = o == NULL ? NULL
	              : json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return s;
}

/* mutex held; takes line */
static void
evlog_remember(struct evlog *ev, char *line)
{
	if (line == NULL)
		return;
	free(ev->recent[ev->rnext]);
	ev->recent[ev->rnext] = line;
	ev->rnext = (ev->rnext + 1) % EVLOG_RECENT_MAX;
	if (ev->rcount < EVLOG_RECENT_MAX)
		ev->rcount++;
}

char *
evlog_recent(struct evlog *ev, size_t n)
{
	size_t i, k, len = 2, first;
	char *out, *p;

	pthread_mutex_lock(&ev->mtx);
	if (n > ev->rcount)
		n = ev->rcount;
	first = (ev->rnext + EVLOG_RECENT_MAX - n) % EVLOG_RECENT_MAX;
	for (i = 0; i < n; i++)
		len += strlen(ev->recent[(first + i) % EVLOG_RECENT_MAX]) + 2;
	p = out = xmalloc(len + 1);
	*p++ = '[';
	for (i = 0; i < n; i++) {
		const char *l = ev->recent[(first + i) % EVLOG_RECENT_MAX];
		k = strlen(l);
		if (i > 0)
			*p++ = ',';
		*p++ = '\n';
		memcpy(p, l, k);
		p += k;
	}
	if (n > 0)
		*p++ = '\n';
	*p++ = ']';
	*p = '\0';
	pthread_mutex_unlock(&ev->mtx);
	return out;
}

static void
evlog_fail(struct evlog *ev, int errnum, const char *what)
{
	ev->errors++;
	if (ev->failing)
		return;
	ev->failing = 1;
	if (errnum == 0) {
		log_warnx("evlog: %s %s", what, ev->path);
		return;
	}
	errno = errnum;
	log_warn("evlog: %s %s", what, ev->path);
}

/* events.jsonl.<k> -> .<k+1>, oldest overwritten; then reopen */
static int
evlog_rotate(struct evlog *ev)
{
	unsigned k, keep = ev->keep ? ev->keep : 1;
	char *from, *to;
	int fd;

	for (k = keep - 1; k >= 1; k--) {
		from = xasprintf("%s.%u", ev->path, k);
		to = xasprintf("%s.%u", ev->path, k + 1);
		if (rename(from, to) == -1 && errno != ENOENT)
			log_warn("evlog: rename %s", from);
		free(from);
		free(to);
	}
	to = xasprintf("%s.1", ev->path);
	if (rename(ev->path, to) == -1) {
		evlog_fail(ev, errno, "rotate");
		free(to);
		return -1;
	}
	free(to);
	fd = evlog_open_file(ev->path);
	close(ev->fd);
	ev->fd = fd;
	return fd == -1 ? -1 : 0;
}

/* mutex held */
static int
evlog_append(struct evlog *ev, const char *line, size_t len)
{
	struct stat st;
	ssize_t w;

	if (ev->fd == -1 && (ev->fd = evlog_open_file(ev->path)) == -1) {
		evlog_fail(ev, errno, "open");
		return -1;
	}
	if (fstat(ev->fd, &st) == -1) {
		evlog_fail(ev, errno, "stat");
		return -1;
	}
	/* an empty file takes any line, however long, so nothing is lost */
	if (ev->max_bytes > 0 && st.st_size > 0 &&
	    (size_t)st.st_size + len > ev->max_bytes && evlog_rotate(ev) == 0 &&
	    fstat(ev->fd, &st) == -1) {
		evlog_fail(ev, errno, "stat");
		return -1;
	}
	if (ev->fd == -1) {
		evlog_fail(ev, errno, "reopen");
		return -1;
	}
	w = write(ev->fd, line, len);
	if (w == (ssize_t)len)
		return 0;
	if (w == -1) {
		evlog_fail(ev, errno, "write");
		return -1;
	}
	/* disk full or file size limit: drop the partial line, not finish it */
	if (ftruncate(ev->fd, st.st_size) == -1)
		log_warn("evlog: truncate %s after a short write", ev->path);
	evlog_fail(ev, 0, "short write, line dropped:");
	return -1;
}

int
evlog_write(struct evlog *ev, const char *type, const char *peer,
    const char *detail, json_t *fields)
{
	char *line, *keep;
	size_t len = 0;
	json_t *obj;
	int rc;

	if (ev == NULL || type == NULL)
		return -1;
	obj = evlog_obj(type, peer, detail, fields);
	if ((line = evlog_line(obj, &len)) == NULL) {
		log_warnx("evlog: cannot encode %s event", type);
		json_decref(obj);
		return -1;
	}
	keep = evlog_recent_line(obj, line, len);
	json_decref(obj);
	pthread_mutex_lock(&ev->mtx);
	evlog_remember(ev, keep);
	if ((rc = evlog_append(ev, line, len)) == 0) {
		ev->count++;
		if (ev->failing)
			log_info("evlog: writing %s again", ev->path);
		ev->failing = 0;
	}
	pthread_mutex_unlock(&ev->mtx);
	free(line);
	return rc;
}

int
evlog_writef(struct evlog *ev, const char *type, const char *peer,
    json_t *fields, const char *fmt, ...)
{
	va_list ap;
	char *detail;
	int n, rc;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -1;
	detail = xmalloc((size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(detail, (size_t)n + 1, fmt, ap);
	va_end(ap);
	rc = evlog_write(ev, type, peer, detail, fields);
	free(detail);
	return rc;
}

/* --- reader ----------------------------------------------------------- */

static const char *
evlog_field(json_t *obj, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : dflt;
}

static void
evlog_print(struct evlog_reader *r, const char *line, size_t len)
{
	json_t *obj;

	if (len == 0)
		return;
	if (r->json || (obj = json_loadb(line, len, 0, NULL)) == NULL) {
		fprintf(r->out, "%.*s\n", (int)len, line);
		return;
	}
	if (json_is_object(obj))
		fprintf(r->out, "%s  %-16s  %-12s  %s\n",
		    evlog_field(obj, "ts", "-"), evlog_field(obj, "type", "-"),
		    evlog_field(obj, "peer", "-"),
		    evlog_field(obj, "detail", ""));
	else
		fprintf(r->out, "%.*s\n", (int)len, line);
	json_decref(obj);
}

/* append data, print every complete line, keep the rest */
static void
evlog_feed(struct evlog_reader *r, const char *data, size_t n)
{
	char *nl, *p;
	size_t rest;

	if (r->len + n > r->cap) {
		r->cap = r->len + n + EVLOG_BLOCK;
		r->buf = xreallocarray(r->buf, r->cap, 1);
	}
	memcpy(r->buf + r->len, data, n);
	r->len += n;
	p = r->buf;
	rest = r->len;
	while ((nl = memchr(p, '\n', rest)) != NULL) {
		evlog_print(r, p, (size_t)(nl - p));
		rest -= (size_t)(nl - p) + 1;
		p = nl + 1;
	}
	memmove(r->buf, p, rest);
	r->len = rest;
}

/* a line that will never be finished (end of file, old file rotated) */
static void
evlog_flush_partial(struct evlog_reader *r)
{
	evlog_print(r, r->buf, r->len);
	r->len = 0;
}

static int
evlog_drain(struct evlog_reader *r)
{
	char blk[EVLOG_BLOCK];
	ssize_t n;

	for (;;) {
		n = read(r->fd, blk, sizeof(blk));
		if (n == 0)
			return 0;
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_warn("evlog: read");
			return -1;
		}
		evlog_feed(r, blk, (size_t)n);
		r->off += n;
	}
}

/* offset of the first of the last n lines, reading back in blocks */
static off_t
evlog_start(int fd, off_t size, long n)
{
	char blk[EVLOG_BLOCK];
	off_t pos = size;
	long seen = 0;
	ssize_t i, got;
	size_t want;

	while (n > 0 && pos > 0) {
		want = pos < (off_t)sizeof(blk) ? (size_t)pos : sizeof(blk);
		pos -= (off_t)want;
		if ((got = pread(fd, blk, want, pos)) != (ssize_t)want)
			return -1;
		for (i = got - 1; i >= 0; i--) {
			/* the final newline ends the last line */
			if (blk[i] != '\n' || pos + i == size - 1)
				continue;
			if (++seen == n)
				return pos + i + 1;
		}
	}
	return 0;
}

/* open path and position at its last n lines (n <= 0: the start) */
static int
evlog_reader_open(struct evlog_reader *r, const char *path, long n)
{
	struct stat st;
	off_t start;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	if (fstat(fd, &st) == -1 ||
	    (start = evlog_start(fd, st.st_size, n)) == -1 ||
	    lseek(fd, start, SEEK_SET) == -1) {
		close(fd);
		return -1;
	}
	if (r->fd != -1)
		close(r->fd);
	r->fd = fd;
	r->dev = st.st_dev;
	r->ino = st.st_ino;
	r->off = start;
	return 0;
}

/* replaced by another file (rotation) or truncated in place? */
static int
evlog_rotated(const struct evlog_reader *r, const char *path)
{
	struct stat st;

	if (stat(path, &st) == -1)
		return 0; /* mid-rotation: wait for the new file */
	return st.st_dev != r->dev || st.st_ino != r->ino ||
	       st.st_size < r->off;
}

static void
evlog_sleep_ms(unsigned ms)
{
	struct timespec ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static int
evlog_stopped(volatile int *stop)
{
	return stop != NULL && *stop != 0;
}

static int
evlog_follow(struct evlog_reader *r, const char *path, volatile int *stop)
{
	for (;;) {
		if (evlog_drain(r) == -1)
			return -1;
		fflush(r->out);
		if (evlog_stopped(stop))
			return 0;
		evlog_sleep_ms(EVLOG_POLL_MS);
		if (!evlog_rotated(r, path))
			continue;
		/* finish what was written before the rename, then switch */
		if (evlog_drain(r) == -1)
			return -1;
		evlog_flush_partial(r);
		if (evlog_reader_open(r, path, 0) == -1 && errno != ENOENT)
			log_warn("evlog: reopen %s", path);
	}
}

/* follow mode may start before the daemon has written anything */
static int
evlog_wait_open(struct evlog_reader *r, const char *path, long n, int follow,
    volatile int *stop)
{
	while (evlog_reader_open(r, path, n) == -1) {
		if (!follow || errno != ENOENT) {
			log_warn("evlog: %s", path);
			return -1;
		}
		if (evlog_stopped(stop))
			return 1;
		evlog_sleep_ms(EVLOG_POLL_MS);
	}
	return 0;
}

int
evlog_tail(const char *state_dir, long n, int follow, int json, FILE *out,
    volatile int *stop)
{
	struct evlog_reader r;
	char *path;
	int rc;

	memset(&r, 0, sizeof(r));
	r.out = out;
	r.json = json;
	r.fd = -1;
	path = xasprintf("%s/%s", state_dir, EVLOG_FILE);
	if ((rc = evlog_wait_open(&r, path, n, follow, stop)) != 0) {
		rc = rc == 1 ? 0 : -1;
		goto out;
	}
	if (follow)
		rc = evlog_follow(&r, path, stop);
	else
		rc = evlog_drain(&r);
	evlog_flush_partial(&r);
	fflush(out);
out:
	if (r.fd != -1)
		close(r.fd);
	free(r.buf);
	free(path);
	return rc;
}

int
evlog_write_new(struct evlog *ev, const char *type, const char *peer,
    const char *detail, json_t *fields)
{
	int rc = ev ? evlog_write(ev, type, peer, detail, fields) : 0;

	json_decref(fields);
	return rc;
}

int
evlog_writef_new(struct evlog *ev, const char *type, const char *peer,
    json_t *fields, const char *fmt, ...)
{
	va_list ap;
	char detail[1024];

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	return evlog_write_new(ev, type, peer, detail, fields);
}
