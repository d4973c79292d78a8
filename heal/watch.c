/* SPDX-License-Identifier: ISC */
/*
 * watch: the local watch (watch.h). One struct wsvc per service this host
 * runs, each with a probe timer; results go through wsvc_result, the one
 * place that decides state, restarts and breaker transitions.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/statefile.h"
#include "common/xmalloc.h"
#include "heal/cmdrun.h"
#include "heal/curlev.h"
#include "heal/watch.h"

#define WATCH_BREAKERS "breakers.json"
#define WATCH_BREAKERS_MAX (256 * 1024)
#define WATCH_FAIL_MAX 100 /* breaker_failures' upper bound (conf.c) */

enum wsvc_state { SV_UNKNOWN, SV_UP, SV_DOWN };
enum wsvc_breaker { BR_CLOSED, BR_OPEN, BR_HALF_OPEN };

static const char *const state_names[] = {"unknown", "up", "down"};
static const char *const breaker_names[] = {"closed", "open", "half_open"};

struct wsvc {
	struct watch *w;
	struct conf_service c; /* own copy: strings are ours */
	enum wsvc_state state;
	unsigned fails, succs; /* probes in a row */
	struct event *probe_ev;
	CURL *easy;                     /* HTTP or TCP probe in flight */
	struct cmdrun *cmd;             /* exec probe in flight */
	struct cmdrun *rcmd;            /* restart in flight */
	char detail[CMDRUN_TAIL + 128]; /* the last probe's outcome */
	uint64_t since_wall;            /* state entered */
	uint64_t last_probe_wall;
	uint64_t started_mono;    /* watching since */
	uint64_t last_beat_wall;  /* peerwatch beat NAME; 0 none */
	unsigned restarts_in_row; /* for the backoff */
	uint64_t last_restart_mono, last_restart_wall;
	char last_restart[CMDRUN_TAIL + 64];
	uint64_t grace_until_mono;
	int verdict_pending; /* restarted, not yet seen up nor failed */
	uint64_t up_since_mono;
	enum wsvc_breaker breaker;
	uint64_t opened_wall;
	uint64_t fail_wall[WATCH_FAIL_MAX]; /* failed restarts, oldest first */
	size_t nfail;
	uint64_t probes, probe_failures, restarts, restart_failures;
	struct wsvc *next;
};

struct watch {
	struct event_base *base;
	struct evlog *ev;
	struct incidents *inc;
	struct curlev *cv;
	char *self_name;
	char *state_dir;
	struct wsvc *svcs;
	watch_change_cb change_cb;
	void *arg;
	char *payload;
	int once;   /* run --once: one probe decides; no restarts, no saves */
	int loaded; /* the first config is in: later services are news */
	watch_hold_cb hold_cb; /* maintenance of NAME@SELF */
	void *hold_arg;
};

static void wsvc_on_probe_timer(evutil_socket_t, short, void *);
static void wsvc_maybe_restart(struct wsvc *);

/* --- copies of the rule ------------------------------------------------ */

static void
rule_copy(struct conf_service *dst, const struct conf_service *src)
{
	*dst = *src;
	dst->probe = src->probe ? xstrdup(src->probe) : NULL;
	dst->beat_file = src->beat_file ? xstrdup(src->beat_file) : NULL;
	dst->restart = src->restart ? xstrdup(src->restart) : NULL;
}

static void
rule_free(struct conf_service *c)
{
	free(c->probe);
	free(c->beat_file);
	free(c->restart);
}

static int
str_eq(const char *a, const char *b)
{
	return (a == NULL && b == NULL) ||
	       (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* the same probe: state and counters carry over a reload */
static int
rule_same_probe(const struct conf_service *a, const struct conf_service *b)
{
	return a->probe_kind == b->probe_kind && str_eq(a->probe, b->probe) &&
	       a->beat_ms == b->beat_ms && str_eq(a->beat_file, b->beat_file);
}

/* --- events -------------------------------------------------------------- */

static void wsvc_event(struct wsvc *s, const char *type, json_t *fields,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
wsvc_event(
    struct wsvc *s, const char *type, json_t *fields, const char *fmt, ...)
{
	char detail[1024];
	va_list ap;

	if (s->w->once) { /* run --once prints a table, nothing else */
		json_decref(fields);
		return;
	}
	if (fields == NULL)
		fields = json_object();
	json_object_set_new(fields, "service", json_string(s->c.name));
	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	evlog_write_new(s->w->ev, type, s->w->self_name, detail, fields);
	log_info("service %s: %s: %s", s->c.name, type, detail);
}

static void
watch_changed(struct watch *w)
{
	if (w->change_cb)
		w->change_cb(w->arg);
}

/* --- breaker state on disk ------------------------------------------------ */

static void
watch_save_breakers(struct watch *w)
{
	json_t *o, *f;
	struct wsvc *s;
	char err[256], *txt;
	size_t i;

	if (w->once)
		return;
	o = json_object();
	for (s = w->svcs; s; s = s->next) {
		if (s->breaker == BR_CLOSED && s->nfail == 0)
			continue;
		f = json_array();
		for (i = 0; i < s->nfail; i++)
			json_array_append_new(
			    f, json_integer((json_int_t)s->fail_wall[i]));
		json_object_set_new(o, s->c.name,
		    json_pack("{sssIso}", "breaker", breaker_names[s->breaker],
		        "opened_at", (json_int_t)s->opened_wall,
		        "failed_restarts", f));
	}
	txt = json_dumps(o, JSON_INDENT(1) | JSON_SORT_KEYS);
	json_decref(o);
	if (txt == NULL)
		return;
	if (statefile_write(
	        w->state_dir, WATCH_BREAKERS, txt, err, sizeof(err)) == -1)
		log_warnx("breaker states not saved: %s", err);
	free(txt);
}

/* a service's saved breaker, if any; bad entries are skipped, counted once */
static void
watch_load_breaker(struct watch *w, struct wsvc *s, const json_t *all)
{
	const json_t *e = json_object_get(all, s->c.name), *v;
	const char *b;
	size_t i;

	if (!json_is_object(e))
		return;
	b = json_string_value(json_object_get(e, "breaker"));
	v = json_object_get(e, "opened_at");
	if (b == NULL || !json_is_integer(v) || json_integer_value(v) < 0) {
		log_warnx("%s/%s: entry for %s ignored: malformed",
		    w->state_dir, WATCH_BREAKERS, s->c.name);
		return;
	}
	s->opened_wall = (uint64_t)json_integer_value(v);
	/* a time from the future (a clock set back, a bad file) would keep
	 * the breaker open until the clock caught up */
	if (s->opened_wall > clock_wall_ms())
		s->opened_wall = clock_wall_ms();
	/* a half-open try interrupted by the restart gets its try again */
	if (strcmp(b, "open") == 0)
		s->breaker = BR_OPEN;
	else if (strcmp(b, "half_open") == 0) {
		s->breaker = BR_OPEN;
		s->opened_wall = 0;
	}
	json_array_foreach(json_object_get(e, "failed_restarts"), i, v) {
		if (s->nfail < WATCH_FAIL_MAX && json_is_integer(v) &&
		    json_integer_value(v) > 0)
			s->fail_wall[s->nfail++] =
			    (uint64_t)json_integer_value(v);
	}
}

static json_t *
watch_read_breakers(struct watch *w)
{
	char err[256], *txt;
	json_error_t je;
	json_t *o;

	if (statefile_read(w->state_dir, WATCH_BREAKERS, WATCH_BREAKERS_MAX,
	        &txt, err, sizeof(err)) == -1) {
		if (errno != ENOENT)
			log_warnx("breaker states not read: %s", err);
		return NULL;
	}
	o = json_loads(txt, 0, &je);
	free(txt);
	if (!json_is_object(o)) {
		log_warnx("%s/%s:%d: not a JSON object; breakers start closed",
		    w->state_dir, WATCH_BREAKERS, je.line);
		json_decref(o);
		return NULL;
	}
	return o;
}

/* --- the breaker -----------------------------------------------------------
 */

static void
wsvc_subject(const struct wsvc *s, char *buf, size_t len)
{
	snprintf(buf, len, "%s@%s", s->c.name, s->w->self_name);
}

static void
wsvc_breaker_open(struct wsvc *s, const char *why)
{
	char subj[2 * CONF_NAME_MAX + 2];

	s->breaker = BR_OPEN;
	s->opened_wall = clock_wall_ms();
	wsvc_subject(s, subj, sizeof(subj));
	wsvc_event(s, "circuit_open",
	    json_pack("{sIsI}", "failed_restarts", (json_int_t)s->nfail,
	        "cooldown_ms", (json_int_t)s->c.breaker_cooldown_ms),
	    "%s; no restart for %" PRIu64 " s", why,
	    s->c.breaker_cooldown_ms / 1000);
	incident_raise(s->w->inc, "circuit_open", subj, s->opened_wall,
	    "%s is down and its restarts fail (%s); restarts stop for %" PRIu64
	    " s",
	    subj, why, s->c.breaker_cooldown_ms / 1000);
	watch_save_breakers(s->w);
	watch_changed(s->w);
}

static void
wsvc_breaker_close(struct wsvc *s, const char *why)
{
	char subj[2 * CONF_NAME_MAX + 2];
	int was = s->breaker;

	s->breaker = BR_CLOSED;
	s->opened_wall = 0;
	s->nfail = 0;
	wsvc_subject(s, subj, sizeof(subj));
	if (was != BR_CLOSED)
		wsvc_event(s, "circuit_closed", NULL, "%s", why);
	incident_close(s->w->inc, "circuit_open", subj, why);
	watch_save_breakers(s->w);
	watch_changed(s->w);
}

/* a restart failed (its command, or the service after it) */
static void
wsvc_restart_failed(struct wsvc *s, const char *why)
{
	uint64_t now = clock_wall_ms();
	size_t i, keep = 0;

	s->restart_failures++;
	s->verdict_pending = 0;
	/* failures older than the window no longer count */
	for (i = 0; i < s->nfail; i++)
		if (now - s->fail_wall[i] < s->c.breaker_window_ms)
			s->fail_wall[keep++] = s->fail_wall[i];
	s->nfail = keep;
	if (s->nfail == WATCH_FAIL_MAX) {
		memmove(s->fail_wall, s->fail_wall + 1,
		    (WATCH_FAIL_MAX - 1) * sizeof(s->fail_wall[0]));
		s->nfail--;
	}
	s->fail_wall[s->nfail++] = now;
	if (s->breaker == BR_HALF_OPEN)
		wsvc_breaker_open(s, "the half-open try failed");
	else if (s->breaker == BR_CLOSED && s->nfail >= s->c.breaker_failures) {
		char why2[128];

		snprintf(why2, sizeof(why2),
		    "%zu failed restarts in %" PRIu64 " s", s->nfail,
		    s->c.breaker_window_ms / 1000);
		wsvc_breaker_open(s, why2);
	} else
		watch_save_breakers(s->w);
	(void)why;
}

/* --- restarts
 * ----------------------------------------------------------------- */

/* the wait before the next restart: interval x backoff^(n-1), capped */
static uint64_t
wsvc_backoff_ms(const struct wsvc *s)
{
	uint64_t d = s->c.interval_ms;
	unsigned i;

	if (s->restarts_in_row == 0)
		return 0;
	for (i = 1; i < s->restarts_in_row && d < s->c.restart_backoff_max_ms;
	     i++)
		d *= s->c.restart_backoff ? s->c.restart_backoff : 1;
	return d < s->c.restart_backoff_max_ms ? d
	                                       : s->c.restart_backoff_max_ms;
}

static void
wsvc_on_restart_done(const struct cmdrun_result *r, void *arg)
{
	struct wsvc *s = arg;
	char how[64];

	s->rcmd = NULL;
	cmdrun_describe(r, how, sizeof(how));
	snprintf(s->last_restart, sizeof(s->last_restart), "%s", how);
	if (r->exit_code == 0) {
		wsvc_event(s, "service_restarted",
		    json_pack("{sIss}", "ms", (json_int_t)r->elapsed_ms,
		        "output", r->tail),
		    "restart command: %s in %" PRIu64 " ms", how,
		    r->elapsed_ms);
		/* the verdict comes from the probes, after the grace */
		s->grace_until_mono = clock_mono_ms() + s->c.start_grace_ms;
		s->verdict_pending = 1;
		s->fails = 0;
		s->succs = 0;
	} else {
		wsvc_event(s, "restart_failed",
		    json_pack("{sIss}", "ms", (json_int_t)r->elapsed_ms,
		        "output", r->tail),
		    "restart command: %s", how);
		wsvc_restart_failed(s, how);
	}
	watch_changed(s->w);
}

static int
wsvc_in_maintenance(const struct wsvc *s)
{
	char key[2 * CONF_NAME_MAX + 2];

	if (s->w->hold_cb == NULL)
		return 0;
	wsvc_subject(s, key, sizeof(key));
	return s->w->hold_cb(key, s->w->hold_arg) != 0;
}

static void
wsvc_maybe_restart(struct wsvc *s)
{
	uint64_t now = clock_mono_ms(), wall = clock_wall_ms(), wait;
	char err[256];

	if (s->c.restart == NULL || s->rcmd != NULL || s->state != SV_DOWN ||
	    s->verdict_pending || s->w->once || wsvc_in_maintenance(s))
		return;
	if (s->breaker == BR_OPEN) {
		if (wall < s->opened_wall + s->c.breaker_cooldown_ms)
			return;
		s->breaker = BR_HALF_OPEN;
		wsvc_event(s, "circuit_half_open", NULL,
		    "cool-off over: one restart try");
		watch_save_breakers(s->w);
	}
	wait = wsvc_backoff_ms(s);
	if (s->restarts_in_row > 0 && now < s->last_restart_mono + wait)
		return;
	s->restarts_in_row++;
	s->restarts++;
	s->last_restart_mono = now;
	s->last_restart_wall = wall;
	wsvc_event(s, "service_restart",
	    json_pack("{sisI}", "attempt", (int)s->restarts_in_row,
	        "backoff_ms", (json_int_t)wait),
	    "restart %u in a row%s", s->restarts_in_row,
	    s->breaker == BR_HALF_OPEN ? " (half-open try)" : "");
	s->rcmd = cmdrun_start(s->w->base, s->c.restart,
	    s->c.restart_timeout_ms, wsvc_on_restart_done, s, err, sizeof(err));
	if (s->rcmd == NULL) {
		snprintf(s->last_restart, sizeof(s->last_restart), "%s", err);
		wsvc_event(s, "restart_failed", NULL, "%s", err);
		wsvc_restart_failed(s, err);
	}
}

/* --- deciding ----------------------------------------------------------------
 */

static void
wsvc_set_state(struct wsvc *s, enum wsvc_state st)
{
	uint64_t now = clock_mono_ms();

	if (s->state == st)
		return;
	s->state = st;
	s->since_wall = clock_wall_ms();
	if (st == SV_UP) {
		s->up_since_mono = now;
		wsvc_event(s, "service_up", NULL, "%s", s->detail);
		if (s->verdict_pending) {
			s->verdict_pending = 0;
			if (s->breaker != BR_CLOSED)
				wsvc_breaker_close(
				    s, "the service is up after a restart");
		}
	} else
		wsvc_event(s, "service_down",
		    json_pack("{si}", "failures", (int)s->fails), "%s",
		    s->detail);
	watch_changed(s->w);
}

static void
wsvc_result(struct wsvc *s, int ok)
{
	uint64_t now = clock_mono_ms();
	int in_grace = now < s->grace_until_mono;

	s->probes++;
	s->last_probe_wall = clock_wall_ms();
	if (ok) {
		s->succs++;
		s->fails = 0;
		if (s->succs >= s->c.successes_before_up || s->w->once)
			wsvc_set_state(s, SV_UP);
		/* up for three graces: the backoff starts over */
		if (s->state == SV_UP && s->restarts_in_row > 0 &&
		    now - s->up_since_mono >= 3 * s->c.start_grace_ms) {
			s->restarts_in_row = 0;
			if (s->nfail > 0 && s->breaker == BR_CLOSED) {
				s->nfail = 0;
				watch_save_breakers(s->w);
			}
		}
		return;
	}
	s->probe_failures++;
	s->succs = 0;
	if (in_grace)
		return; /* a starting service may fail: it does not count */
	if (s->verdict_pending && s->rcmd == NULL) {
		/* the grace ran out and the service is not up */
		wsvc_event(s, "restart_failed", NULL,
		    "still down %" PRIu64 " s after the restart: %s",
		    s->c.start_grace_ms / 1000, s->detail);
		snprintf(s->last_restart, sizeof(s->last_restart),
		    "still down after start_grace");
		wsvc_restart_failed(s, "still down after start_grace");
	}
	s->fails++;
	if (s->fails >= s->c.failures_before_restart || s->w->once) {
		wsvc_set_state(s, SV_DOWN);
		wsvc_maybe_restart(s);
	}
}

/* --- probes ------------------------------------------------------------------
 */

static size_t
wsvc_discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static void
wsvc_on_curl_done(CURL *easy, CURLcode rc, void *arg)
{
	struct wsvc *s = arg;
	long code = 0;
	int ok;

	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
	curlev_release(s->w->cv, easy);
	s->easy = NULL;
	if (s->c.probe_kind == CONF_PROBE_TCP) {
		ok = rc == CURLE_OK;
		snprintf(s->detail, sizeof(s->detail), "tcp %s: %s", s->c.probe,
		    ok ? "connected" : curl_easy_strerror(rc));
	} else {
		ok = rc == CURLE_OK && code >= 200 && code < 400;
		if (rc != CURLE_OK)
			snprintf(s->detail, sizeof(s->detail), "%s",
			    curl_easy_strerror(rc));
		else
			snprintf(
			    s->detail, sizeof(s->detail), "HTTP %ld", code);
	}
	wsvc_result(s, ok);
}

static int
wsvc_start_curl(struct wsvc *s)
{
	char url[1024];
	CURL *e;

	if ((e = curlev_easy(s->w->cv)) == NULL)
		return -1;
	if (s->c.probe_kind == CONF_PROBE_TCP) {
		const char *hp = s->c.probe;

		if (strncmp(hp, "tcp://", 6) == 0)
			hp += 6;
		/* curl connects and stops: no request is sent */
		snprintf(url, sizeof(url), "http://%s/", hp);
		curl_easy_setopt(e, CURLOPT_CONNECT_ONLY, 1L);
	} else
		snprintf(url, sizeof(url), "%s", s->c.probe);
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)s->c.timeout_ms);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, wsvc_discard);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "peerwatch-probe");
	if (curlev_add(s->w->cv, e, wsvc_on_curl_done, s) == -1) {
		curlev_release(s->w->cv, e);
		return -1;
	}
	s->easy = e;
	return 0;
}

static void
wsvc_on_exec_done(const struct cmdrun_result *r, void *arg)
{
	struct wsvc *s = arg;
	char how[64];

	s->cmd = NULL;
	cmdrun_describe(r, how, sizeof(how));
	snprintf(s->detail, sizeof(s->detail), "%s%s%s", how,
	    r->tail[0] ? ": " : "", r->tail);
	wsvc_result(s, r->exit_code == 0);
}

/* the newest beat: peerwatch beat NAME, or the beat file's mtime */
static uint64_t
wsvc_last_beat(struct wsvc *s)
{
	uint64_t last = s->last_beat_wall, m;
	struct stat st;
	int fd;

	if (s->c.beat_file == NULL)
		return last;
	fd = open(
	    s->c.beat_file, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd == -1)
		return last;
	if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) {
#ifdef __APPLE__
		m = (uint64_t)st.st_mtimespec.tv_sec * 1000 +
		    (uint64_t)st.st_mtimespec.tv_nsec / 1000000;
#else
		m = (uint64_t)st.st_mtim.tv_sec * 1000 +
		    (uint64_t)st.st_mtim.tv_nsec / 1000000;
#endif
		if (m > last)
			last = m;
	}
	close(fd);
	return last;
}

static void
wsvc_probe_beat(struct wsvc *s)
{
	uint64_t now = clock_wall_ms(), last = wsvc_last_beat(s);
	uint64_t watching = clock_mono_ms() - s->started_mono;

	if (last == 0 && s->w->once) {
		snprintf(s->detail, sizeof(s->detail), "%s",
		    s->c.beat_file ? "no beat file"
		                   : "not checked: beats go to the daemon");
		wsvc_result(s, s->c.beat_file == NULL);
		return;
	}
	if (last == 0) {
		/* none yet: the first period counts from the start */
		if (watching < s->c.beat_ms)
			return;
		snprintf(s->detail, sizeof(s->detail),
		    "no beat in %" PRIu64 " s", watching / 1000);
		wsvc_result(s, 0);
		return;
	}
	if (now < last || now - last <= s->c.beat_ms) {
		snprintf(s->detail, sizeof(s->detail), "beat %" PRIu64 " s ago",
		    now > last ? (now - last) / 1000 : 0);
		wsvc_result(s, 1);
	} else {
		snprintf(s->detail, sizeof(s->detail),
		    "last beat %" PRIu64 " s ago (limit %" PRIu64 " s)",
		    (now - last) / 1000, s->c.beat_ms / 1000);
		wsvc_result(s, 0);
	}
}

static void
wsvc_probe(struct wsvc *s)
{
	char err[256];

	if (s->easy != NULL || s->cmd != NULL)
		return; /* the last one has not finished */
	switch (s->c.probe_kind) {
	case CONF_PROBE_HTTP:
	case CONF_PROBE_TCP:
		if (wsvc_start_curl(s) == -1) {
			snprintf(
			    s->detail, sizeof(s->detail), "probe not started");
			wsvc_result(s, 0);
		}
		break;
	case CONF_PROBE_EXEC:
		s->cmd = cmdrun_start(s->w->base, s->c.probe, s->c.timeout_ms,
		    wsvc_on_exec_done, s, err, sizeof(err));
		if (s->cmd == NULL) {
			snprintf(s->detail, sizeof(s->detail), "%s", err);
			wsvc_result(s, 0);
		}
		break;
	case CONF_PROBE_BEAT:
		wsvc_probe_beat(s);
		break;
	}
	/* a restart held back by the backoff or the breaker may be due */
	if (s->state == SV_DOWN)
		wsvc_maybe_restart(s);
}

static void
wsvc_schedule(struct wsvc *s, uint64_t ms)
{
	struct timeval tv = {
	    (time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};

	evtimer_add(s->probe_ev, &tv);
}

static void
wsvc_on_probe_timer(evutil_socket_t fd, short what, void *arg)
{
	struct wsvc *s = arg;

	(void)fd;
	(void)what;
	wsvc_schedule(s, s->c.interval_ms);
	wsvc_probe(s);
}

/* --- services come and go ----------------------------------------------------
 */

static unsigned
wsvc_hash(const char *p)
{
	unsigned h = 5381;

	while (*p)
		h = h * 33 + (unsigned char)*p++;
	return h;
}

static struct wsvc *
wsvc_new(struct watch *w, const struct conf_service *c, const json_t *saved)
{
	struct wsvc *s = xcalloc(1, sizeof(*s));

	s->w = w;
	rule_copy(&s->c, c);
	s->started_mono = clock_mono_ms();
	s->since_wall = clock_wall_ms();
	snprintf(s->detail, sizeof(s->detail), "not probed yet");
	s->probe_ev = evtimer_new(w->base, wsvc_on_probe_timer, s);
	if (saved != NULL)
		watch_load_breaker(w, s, saved);
	/* still open across a restart: so is its incident (escalation knows
	 * whether it was sent) */
	if (s->breaker == BR_OPEN && w->inc != NULL && !w->once) {
		char subj[2 * CONF_NAME_MAX + 2];
		wsvc_subject(s, subj, sizeof(subj));
		incident_raise(w->inc, "circuit_open", subj,
		    s->opened_wall ? s->opened_wall : clock_wall_ms(),
		    "%s is down and its restarts failed; its breaker was "
		    "open when peerwatch restarted",
		    subj);
	}
	/* the first probe soon, spread by name so they do not all align */
	if (!w->once)
		wsvc_schedule(s, 20 + wsvc_hash(c->name) % 100);
	return s;
}

static void
wsvc_free(struct wsvc *s)
{
	event_free(s->probe_ev);
	if (s->easy)
		curlev_release(s->w->cv, s->easy);
	cmdrun_cancel(s->cmd);
	cmdrun_cancel(s->rcmd);
	rule_free(&s->c);
	free(s);
}

static int
watch_is_mine(const struct conf *c, size_t self, size_t i)
{
	return c->services[i].peer_idx == self;
}

struct watch *
watch_new(struct event_base *base, struct evlog *ev, struct incidents *inc,
    const struct conf *c, size_t self, watch_change_cb cb, void *arg)
{
	return watch_new_once(base, ev, inc, c, self, cb, arg, 0);
}

struct watch *
watch_new_once(struct event_base *base, struct evlog *ev, struct incidents *inc,
    const struct conf *c, size_t self, watch_change_cb cb, void *arg, int once)
{
	struct watch *w = xcalloc(1, sizeof(*w));

	w->once = once;
	w->base = base;
	w->ev = ev;
	w->inc = inc;
	w->change_cb = cb;
	w->arg = arg;
	w->cv = curlev_new(base);
	w->self_name = xstrdup(c->peers[self].name);
	w->state_dir = xstrdup(conf_state_dir(c, self));
	watch_reconf(w, c, self);
	return w;
}

void
watch_reconf(struct watch *w, const struct conf *c, size_t self)
{
	struct wsvc **pp, *s, *fresh = NULL, **tail = &fresh;
	json_t *saved;
	size_t i;
	int added = 0, removed = 0;

	free(w->self_name);
	w->self_name = xstrdup(c->peers[self].name);
	free(w->state_dir);
	w->state_dir = xstrdup(conf_state_dir(c, self));
	saved = watch_read_breakers(w);
	/* in the order of the file; unchanged probes keep their state */
	for (i = 0; i < c->nservices; i++) {
		if (!watch_is_mine(c, self, i))
			continue;
		for (pp = &w->svcs; *pp; pp = &(*pp)->next)
			if (strcmp((*pp)->c.name, c->services[i].name) == 0)
				break;
		if ((s = *pp) != NULL) {
			*pp = s->next;
			if (!rule_same_probe(&s->c, &c->services[i])) {
				/* a new probe starts undecided; the
				 * breaker and its history stay */
				s->state = SV_UNKNOWN;
				s->fails = s->succs = 0;
				s->since_wall = clock_wall_ms();
				s->started_mono = clock_mono_ms();
				if (s->easy) {
					curlev_release(w->cv, s->easy);
					s->easy = NULL;
				}
				cmdrun_cancel(s->cmd);
				s->cmd = NULL;
			}
			rule_free(&s->c);
			rule_copy(&s->c, &c->services[i]);
		} else {
			s = wsvc_new(w, &c->services[i], saved);
			if (w->loaded)
				wsvc_event(s, "service_watch_start", NULL,
				    "watching (%s)",
				    s->c.probe ? s->c.probe : "push beats");
			added++;
		}
		s->next = NULL;
		*tail = s;
		tail = &s->next;
	}
	/* what is left was removed from the config */
	while ((s = w->svcs) != NULL) {
		w->svcs = s->next;
		wsvc_event(
		    s, "service_watch_stop", NULL, "no longer in the config");
		wsvc_free(s);
		removed++;
	}
	w->svcs = fresh;
	w->loaded = 1;
	json_decref(saved);
	if (added || removed)
		watch_changed(w);
}

void
watch_free(struct watch *w)
{
	struct wsvc *s;

	if (w == NULL)
		return;
	while ((s = w->svcs) != NULL) {
		w->svcs = s->next;
		wsvc_free(s);
	}
	curlev_free(w->cv);
	free(w->self_name);
	free(w->state_dir);
	free(w->payload);
	free(w);
}

static struct wsvc *
watch_find(const struct watch *w, const char *name)
{
	struct wsvc *s;
	const char *at = strchr(name, '@');
	size_t n = at ? (size_t)(at - name) : strlen(name);

	/* NAME or NAME@SELF */
	if (at != NULL && strcmp(at + 1, w->self_name) != 0)
		return NULL;
	for (s = w->svcs; s; s = s->next)
		if (strlen(s->c.name) == n && strncmp(s->c.name, name, n) == 0)
			return s;
	return NULL;
}

int
watch_beat(struct watch *w, const char *name, char *err, size_t errlen)
{
	struct wsvc *s = watch_find(w, name);

	if (s == NULL) {
		snprintf(
		    err, errlen, "no service %s on %s", name, w->self_name);
		return -1;
	}
	if (s->c.probe_kind != CONF_PROBE_BEAT) {
		snprintf(err, errlen, "service %s is not watched by beats",
		    s->c.name);
		return -1;
	}
	s->last_beat_wall = clock_wall_ms();
	/* a beat from a down service counts at once, not at the next tick */
	if (s->state != SV_UP)
		wsvc_probe(s);
	return 0;
}

int
watch_reset(struct watch *w, const char *name, char *err, size_t errlen)
{
	struct wsvc *s = watch_find(w, name);

	if (s == NULL) {
		snprintf(
		    err, errlen, "no service %s on %s", name, w->self_name);
		return -1;
	}
	s->restarts_in_row = 0;
	s->verdict_pending = 0;
	s->grace_until_mono = 0;
	wsvc_event(s, "service_reset", NULL, "breaker %s -> closed by hand",
	    breaker_names[s->breaker]);
	wsvc_breaker_close(s, "reset by hand");
	wsvc_probe(s);
	return 0;
}

const char *
watch_service_state(
    const struct watch *w, const char *name, uint64_t since_wall)
{
	const struct wsvc *s = watch_find(w, name);

	if (s == NULL)
		return NULL;
	if (s->state != SV_UP)
		return s->state == SV_DOWN ? "d" : "?";
	/* up, and seen up again well after since: it came back (or stayed
	 * up through the restart) */
	if (s->since_wall > since_wall ||
	    s->last_probe_wall > since_wall + 2 * s->c.interval_ms)
		return "u";
	return "?";
}

void
watch_set_hold_cb(struct watch *w, watch_hold_cb cb, void *arg)
{
	w->hold_cb = cb;
	w->hold_arg = arg;
}

void
watch_probe_all(struct watch *w)
{
	struct wsvc *s;

	for (s = w->svcs; s; s = s->next)
		wsvc_probe(s);
}

int
watch_settled(const struct watch *w)
{
	const struct wsvc *s;

	for (s = w->svcs; s; s = s->next)
		if (s->state == SV_UNKNOWN)
			return 0;
	return 1;
}

size_t
watch_down_count(const struct watch *w)
{
	const struct wsvc *s;
	size_t n = 0;

	for (s = w->svcs; s; s = s->next)
		n += s->state == SV_DOWN;
	return n;
}

json_t *
watch_status_json(const struct watch *w)
{
	const struct wsvc *s;
	json_t *a = json_object(), *o;
	uint64_t now = clock_mono_ms();

	for (s = w->svcs; s; s = s->next) {
		o = json_pack("{sssssssssssIsIsisisIsIsI}", "name", s->c.name,
		    "state", state_names[s->state], "breaker",
		    breaker_names[s->breaker], "probe",
		    s->c.probe ? s->c.probe : "beat", "detail", s->detail,
		    "since", (json_int_t)s->since_wall, "last_probe",
		    (json_int_t)s->last_probe_wall, "failures", (int)s->fails,
		    "restarts_in_row", (int)s->restarts_in_row, "restarts",
		    (json_int_t)s->restarts, "restart_failures",
		    (json_int_t)s->restart_failures, "failed_restarts_window",
		    (json_int_t)s->nfail);
		json_object_set_new(o, "restarting", json_boolean(s->rcmd));
		json_object_set_new(
		    o, "maintenance", json_boolean(wsvc_in_maintenance(s)));
		json_object_set_new(
		    o, "in_grace", json_boolean(now < s->grace_until_mono));
		if (s->last_restart_wall != 0) {
			json_object_set_new(o, "last_restart",
			    json_integer((json_int_t)s->last_restart_wall));
			json_object_set_new(o, "last_restart_result",
			    json_string(s->last_restart));
		}
		if (s->breaker == BR_OPEN)
			json_object_set_new(o, "half_open_at",
			    json_integer(
			        (json_int_t)(s->opened_wall +
			                     s->c.breaker_cooldown_ms)));
		if (s->c.probe_kind == CONF_PROBE_BEAT && s->last_beat_wall)
			json_object_set_new(o, "last_beat",
			    json_integer((json_int_t)s->last_beat_wall));
		json_object_set_new(a, s->c.name, o);
	}
	return a;
}

void
watch_metrics(const struct watch *w, struct metrics *m)
{
	const struct wsvc *s;
	char lab[160];
	int st;

	metrics_family(m, "peerwatch_service_up", "gauge",
	    "1 if the service is up, 0 if down or not yet decided.");
	for (s = w->svcs; s; s = s->next) {
		snprintf(lab, sizeof(lab), "service=\"%s\"", s->c.name);
		metrics_u64(m, "peerwatch_service_up", lab, s->state == SV_UP);
	}
	metrics_family(m, "peerwatch_service_breaker", "gauge",
	    "1 for the breaker state the service is in.");
	for (s = w->svcs; s; s = s->next)
		for (st = BR_CLOSED; st <= BR_HALF_OPEN; st++) {
			snprintf(lab, sizeof(lab),
			    "service=\"%s\",state=\"%s\"", s->c.name,
			    breaker_names[st]);
			metrics_u64(m, "peerwatch_service_breaker", lab,
			    s->breaker == (enum wsvc_breaker)st);
		}
	metrics_family(m, "peerwatch_service_probes_total", "counter",
	    "Probes run, by result.");
	for (s = w->svcs; s; s = s->next) {
		snprintf(lab, sizeof(lab), "service=\"%s\",result=\"ok\"",
		    s->c.name);
		metrics_u64(m, "peerwatch_service_probes_total", lab,
		    s->probes - s->probe_failures);
		snprintf(lab, sizeof(lab), "service=\"%s\",result=\"failed\"",
		    s->c.name);
		metrics_u64(m, "peerwatch_service_probes_total", lab,
		    s->probe_failures);
	}
	metrics_family(m, "peerwatch_service_restarts_total", "counter",
	    "Restarts started, and those that failed.");
	for (s = w->svcs; s; s = s->next) {
		snprintf(lab, sizeof(lab), "service=\"%s\",result=\"started\"",
		    s->c.name);
		metrics_u64(
		    m, "peerwatch_service_restarts_total", lab, s->restarts);
		snprintf(lab, sizeof(lab), "service=\"%s\",result=\"failed\"",
		    s->c.name);
		metrics_u64(m, "peerwatch_service_restarts_total", lab,
		    s->restart_failures);
	}
}

const char *
watch_payload(struct watch *w, const char *base, size_t budget)
{
	const struct wsvc *s;
	json_t *o, *sv;
	char v[4];
	size_t used;

	if (w == NULL || w->svcs == NULL || budget < 16)
		return base;
	if ((o = json_loads(base, 0, NULL)) == NULL || !json_is_object(o)) {
		json_decref(o);
		return base;
	}
	sv = json_object();
	/* ,"sv":{} then per service "NAME":"u!", */
	used = 8;
	for (s = w->svcs; s; s = s->next) {
		v[0] = "?ud"[s->state];
		v[1] = s->breaker == BR_CLOSED ? '\0' : '!';
		v[2] = '\0';
		used += strlen(s->c.name) + 8;
		if (used > budget)
			break; /* the rest do not fit: say nothing of them */
		json_object_set_new(sv, s->c.name, json_string(v));
	}
	json_object_set_new(o, "sv", sv);
	free(w->payload);
	w->payload = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	return w->payload ? w->payload : base;
}
