/* SPDX-License-Identifier: ISC */
/*
 * resguard: disk and swap guards of the local watch (see resguard.h).
 * One timer asks the reader thread (resread) for the figures; the answer
 * comes back on the loop, where levels change with hysteresis and
 * crossings write events, run the disk cleanup, unload Ollama models and
 * raise or close incidents. A reading that does not return (a hung file
 * system) is said once and its figures become unknown; the loop goes on.
 * Never blocks, never exits.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>

#include "common/clock.h"
#include "common/evlog.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/sysinfo.h"
#include "common/xmalloc.h"
#include "config/conf.h"
#include "heal/cmdrun.h"
#include "heal/curlev.h"
#include "heal/incident.h"
#include "heal/resguard.h"
#include "heal/resread.h"

#define RG_CLEANUP_TIMEOUT_MS (5 * 60 * 1000)
#define RG_HTTP_TIMEOUT_MS 30000L
#define RG_MIN_INTERVAL_MS 100
#define RG_MODEL_MAX 256 /* bytes of a model name we act on */
/* a reading still in flight after this many intervals, and at least
 * RG_STUCK_MIN_MS, is stuck */
#define RG_STUCK_INTERVALS 3
#define RG_STUCK_MIN_MS 10000

/* said once per swap crossing, not every interval */
#define RG_SAID_KEPT 0x1
#define RG_SAID_NONE 0x2
#define RG_SAID_PS 0x4

struct rdisk {
	char *path;
	int have, read_failed; /* read_failed: said once */
	uint64_t total, avail;
	unsigned pct;
	enum resguard_level level;
	int incident;
};

struct resguard {
	struct event_base *base;
	struct evlog *ev;
	struct incidents *inc;
	struct curlev *cv;
	struct event *tick;
	char *host;
	int (*hold_cb)(const char *key, void *arg);
	void *hold_arg;
	int once;                /* run --once: one reading, quiet, hands off */
	int answered;            /* a reading came back */
	char *ollama;            /* without a trailing '/', or NULL */
	struct conf_resources c; /* c.disk, c.disk_cleanup: NULL */
	char *cleanup;
	struct rdisk *disks;
	size_t ndisk;
	/* swap */
	int have_swap, swap_failed;
	uint64_t swap_total, swap_used;
	enum resguard_level swap_level;
	int swap_incident;
	unsigned said;
	/* the disk cleanup running, and for which disk */
	struct cmdrun *cmd;
	char *cmd_path;
	uint64_t cleanups;
	/* the unload in flight: GET /api/ps, then the POST */
	struct curlev_get *ps;
	CURL *post;
	struct curl_slist *hdrs;
	char model[RG_MODEL_MAX + 1];
	uint64_t model_bytes;
	uint64_t unloads, unload_failures;
	uint64_t next_unload_ms; /* mono: swap gets time to drop after one */
	/* the reader thread, and a reading stuck in it */
	struct resread *rd;
	int stuck;
	uint64_t stuck_since_ms;
	char stuck_on[RESGUARD_PATH_MAX + 16]; /* "disk /mnt/x", "swap" */
	int again; /* reconfigured while reading: read again at once */
	/* the test hook */
	char *test_file;
	char test_err[RESREAD_ERR_MAX]; /* the last warning about it */
	char *payload;
};

static const char *const level_names[] = {"ok", "warn", "critical"};

const char *
resguard_level_name(enum resguard_level l)
{
	return l <= RESGUARD_CRITICAL ? level_names[l] : "?";
}

/* ---- pure helpers ----------------------------------------------------- */

/* a level is kept while the value is above its line less the margin */
static int
rg_above(uint64_t value, uint64_t line, uint64_t margin)
{
	return value > (line > margin ? line - margin : 0);
}

enum resguard_level
resguard_level(enum resguard_level was, uint64_t value, uint64_t warn,
    uint64_t crit, uint64_t margin)
{
	if (crit != 0 && (value > crit || (was == RESGUARD_CRITICAL &&
	                                      rg_above(value, crit, margin))))
		return RESGUARD_CRITICAL;
	if (warn != 0 && (value > warn || (was != RESGUARD_OK &&
	                                      rg_above(value, warn, margin))))
		return RESGUARD_WARN;
	return RESGUARD_OK;
}

unsigned
resguard_disk_pct(uint64_t total, uint64_t avail)
{
	uint64_t used;

	if (total == 0)
		return 0;
	used = avail < total ? total - avail : 0;
	/* the ratio survives halving both; used * 100 must fit */
	while (used > UINT64_MAX / 100) {
		used >>= 1;
		total >>= 1;
	}
	return (unsigned)((used * 100 + total - 1) / total);
}

uint64_t
resguard_swap_bytes(uint64_t level, int pct, uint64_t total)
{
	if (!pct)
		return level;
	if (level > 100)
		level = 100;
	return total / 100 * level + total % 100 * level / 100;
}

/* a decimal number, no sign, no overflow */
static int
rg_parse_u64(const char *s, uint64_t *out)
{
	uint64_t n = 0;

	if (*s == '\0')
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (n > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		n = n * 10 + (uint64_t)(*s - '0');
	}
	*out = n;
	return 0;
}

/* split line (modified) into at most max blank-separated words */
static size_t
rg_words(char *line, char **w, size_t max)
{
	size_t n = 0;
	char *p = line;

	while (*p) {
		while (*p == ' ' || *p == '\t' || *p == '\r')
			*p++ = '\0';
		if (*p == '\0')
			break;
		if (n == max)
			return max + 1;
		w[n++] = p;
		while (*p && *p != ' ' && *p != '\t' && *p != '\r')
			p++;
	}
	return n;
}

/* one line of a test-hook file: NULL, or what is wrong with it */
static const char *
rg_parse_line(char *line, struct resguard_figures *fig, int *seen)
{
	char *w[5];
	size_t n = rg_words(line, w, 4), i;
	uint64_t a, b;

	if (n == 0 || w[0][0] == '#')
		return NULL;
	if (strcmp(w[0], "swap_total") == 0 || strcmp(w[0], "swap_used") == 0) {
		int bit = w[0][5] == 't' ? 1 : 2;

		if (n != 2 || rg_parse_u64(w[1], &a) == -1)
			return "expected a number of bytes";
		if (*seen & bit)
			return "given twice";
		*seen |= bit;
		if (bit == 1)
			fig->swap_total = a;
		else
			fig->swap_used = a;
		return NULL;
	}
	if (strcmp(w[0], "disk") != 0)
		return "unknown key (expected swap_total, swap_used or disk)";
	if (n != 4 || w[1][0] != '/' || rg_parse_u64(w[2], &a) == -1 ||
	    rg_parse_u64(w[3], &b) == -1)
		return "expected disk /PATH TOTAL AVAIL";
	if (strlen(w[1]) >= RESGUARD_PATH_MAX)
		return "path too long";
	if (a == 0 || b > a)
		return "total must be more than 0 and avail at most total";
	for (i = 0; i < fig->ndisk; i++)
		if (strcmp(fig->disk[i].path, w[1]) == 0)
			return "disk given twice";
	if (fig->ndisk == RESGUARD_FIG_MAX_DISKS)
		return "too many disks";
	snprintf(fig->disk[fig->ndisk].path, RESGUARD_PATH_MAX, "%s", w[1]);
	fig->disk[fig->ndisk].total = a;
	fig->disk[fig->ndisk].avail = b;
	fig->ndisk++;
	return NULL;
}

int
resguard_parse_figures(const char *text, size_t len, const char *name,
    struct resguard_figures *fig, char *err, size_t errlen)
{
	const char *p = text, *end = text + len, *nl, *why;
	char *line;
	size_t n;
	int seen = 0, bad = 0;
	unsigned lineno = 0;

	memset(fig, 0, sizeof(*fig));
	if (errlen > 0)
		err[0] = '\0';
	while (p < end) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		n = (size_t)(nl - p);
		lineno++;
		if (memchr(p, '\0', n) != NULL)
			why = "a NUL byte";
		else {
			line = xstrndup(p, n);
			why = rg_parse_line(line, fig, &seen);
			free(line);
		}
		if (why != NULL && bad++ == 0)
			snprintf(err, errlen, "%s:%u: %s", name, lineno, why);
		if (nl == end)
			break;
		p = nl + 1;
	}
	if (seen == 3 && fig->swap_used <= fig->swap_total)
		fig->have_swap = 1;
	else if (seen != 0) {
		if (bad++ == 0)
			snprintf(err, errlen,
			    "%s: swap_total and swap_used must both be given, "
			    "used at most total",
			    name);
		fig->swap_total = fig->swap_used = 0;
	}
	return bad;
}

/*
 * /api/ps's answer: how many models are loaded (-1 if it is not
 * {"models": [...]}), and the heaviest (largest size) of them.
 */
int
resguard_heaviest(const json_t *ps, char *model, size_t len, uint64_t *bytes)
{
	const json_t *ms = json_object_get(ps, "models"), *m;
	const char *name;
	json_int_t size;
	size_t i;
	int n = 0;

	if (!json_is_array(ms))
		return -1;
	*bytes = 0;
	json_array_foreach(ms, i, m) {
		name = json_string_value(json_object_get(m, "name"));
		if (name == NULL)
			name = json_string_value(json_object_get(m, "model"));
		size = json_integer_value(json_object_get(m, "size"));
		if (name == NULL || name[0] == '\0' || strlen(name) >= len ||
		    !json_is_integer(json_object_get(m, "size")) || size < 0)
			continue;
		if (n++ == 0 || (uint64_t)size > *bytes) {
			snprintf(model, len, "%s", name);
			*bytes = (uint64_t)size;
		}
	}
	return n;
}

/* ---- the guard -------------------------------------------------------- */

static int
rg_active(const struct resguard *g)
{
	return g->ndisk > 0 || g->c.swap_warn != 0 || g->c.swap_critical != 0;
}

static void rg_event(struct resguard *g, const char *type, json_t *fields,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
rg_event(
    struct resguard *g, const char *type, json_t *fields, const char *fmt, ...)
{
	char detail[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	if (!g->once)
		log_info("%s: %s", type, detail);
	evlog_write_new(g->ev, type, g->host, detail, fields);
}

/* ---- readings ------------------------------------------------------- */

/* a complaint about the test-hook file, once per distinct one */
static void
rg_test_said(struct resguard *g, const struct resread_answer *a)
{
	if (a->test_err[0] != '\0' && strcmp(a->test_err, g->test_err) != 0)
		log_warnx("%s: %s (%s)", RESGUARD_TEST_ENV, a->test_err,
		    a->test_rc == 0 ? "bad lines not used" : "no readings");
	snprintf(g->test_err, sizeof(g->test_err), "%s", a->test_err);
}

/* a reading failed on this host: said once until it works again */
static void
rg_read_failed(int *said, int err, const char *what)
{
	if (!*said)
		log_warnx("resources: cannot read %s: %s", what, strerror(err));
	*said = 1;
}

/* ---- disk ------------------------------------------------------------- */

static void
rg_on_cleanup_done(const struct cmdrun_result *r, void *arg)
{
	struct resguard *g = arg;
	char how[128];

	g->cmd = NULL;
	cmdrun_describe(r, how, sizeof(how));
	rg_event(g, "disk_cleanup",
	    json_pack("{sssisIss}", "path", g->cmd_path, "exit_code",
	        r->exit_code, "ms", (json_int_t)r->elapsed_ms, "tail", r->tail),
	    "%s: cleanup %s", g->cmd_path, how);
}

/* disk_cleanup, once per crossing of disk_warn */
static void
rg_cleanup(struct resguard *g, const struct rdisk *d)
{
	char err[256];

	if (g->cleanup == NULL)
		return;
	if (g->cmd != NULL) {
		log_info("disk_cleanup for %s not started: the one for %s "
		         "still runs",
		    d->path, g->cmd_path);
		return;
	}
	free(g->cmd_path);
	g->cmd_path = xstrdup(d->path);
	g->cmd = cmdrun_start(g->base, g->cleanup, RG_CLEANUP_TIMEOUT_MS,
	    rg_on_cleanup_done, g, err, sizeof(err));
	if (g->cmd == NULL) {
		rg_event(g, "disk_cleanup",
		    json_pack("{sssi}", "path", d->path, "exit_code", -1),
		    "%s: cleanup not started: %s", d->path, err);
		return;
	}
	g->cleanups++;
}

/* this host in maintenance: read and log, act on nothing */
static int
rg_held(const struct resguard *g)
{
	return g->once ||
	       (g->hold_cb != NULL && g->hold_cb(g->host, g->hold_arg) != 0);
}

static void
rg_disk_update(
    struct resguard *g, struct rdisk *d, uint64_t total, uint64_t avail)
{
	enum resguard_level was = d->level;
	char subject[RESGUARD_PATH_MAX + 128];
	int held = rg_held(g);

	d->have = 1;
	d->total = total;
	d->avail = avail;
	d->pct = resguard_disk_pct(total, avail);
	d->level = resguard_level(was, d->pct, g->c.disk_warn,
	    g->c.disk_critical, RESGUARD_MARGIN_PCT);
	snprintf(subject, sizeof(subject), "%s@%s", d->path, g->host);
	if (was == RESGUARD_OK && d->level != RESGUARD_OK) {
		rg_event(g, "disk_warn",
		    json_pack("{sssisIsI}", "path", d->path, "used_pct",
		        (int)d->pct, "total", (json_int_t)total, "avail",
		        (json_int_t)avail),
		    "%s %u%% used (warn above %u%%%s)", d->path, d->pct,
		    g->c.disk_warn,
		    held && g->cleanup ? "; maintenance: no cleanup" : "");
		if (!held)
			rg_cleanup(g, d);
	}
	if (d->level == RESGUARD_CRITICAL && !d->incident && !held) {
		incident_raise(g->inc, "disk_critical", subject,
		    clock_wall_ms(), "%s %u%% used (critical above %u%%)",
		    d->path, d->pct, g->c.disk_critical);
		d->incident = 1;
	}
	if (d->level == RESGUARD_OK && was != RESGUARD_OK) {
		rg_event(g, "disk_ok",
		    json_pack(
		        "{sssi}", "path", d->path, "used_pct", (int)d->pct),
		    "%s %u%% used, back below %u%%", d->path, d->pct,
		    g->c.disk_warn);
		if (d->incident)
			incident_close(g->inc, "disk_critical", subject,
			    "back below disk_warn");
		d->incident = 0;
	}
}

/* ---- swap and Ollama unloads ------------------------------------------ */

static size_t
rg_discard(char *p, size_t size, size_t n, void *arg)
{
	(void)p;
	(void)arg;
	return size * n;
}

static void
rg_on_post_done(CURL *easy, CURLcode rc, void *arg)
{
	struct resguard *g = arg;
	long code = 0;
	char why[128];

	curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &code);
	curlev_release(g->cv, easy);
	g->post = NULL;
	curl_slist_free_all(g->hdrs);
	g->hdrs = NULL;
	if (rc == CURLE_OK && code == 200) {
		g->unloads++;
		/* swap in use falls slowly after memory is freed: three
		 * readings before the next model goes */
		g->next_unload_ms = clock_mono_ms() + 3 * g->c.interval_ms;
		rg_event(g, "ollama_unload",
		    json_pack("{sssIss}", "model", g->model, "bytes",
		        (json_int_t)g->model_bytes, "result", "ok"),
		    "unloaded %s (%" PRIu64 " bytes per /api/ps)", g->model,
		    g->model_bytes);
		return;
	}
	g->unload_failures++;
	if (rc != CURLE_OK)
		snprintf(why, sizeof(why), "%s", curl_easy_strerror(rc));
	else
		snprintf(why, sizeof(why), "HTTP %ld", code);
	rg_event(g, "ollama_unload",
	    json_pack("{sssIss}", "model", g->model, "bytes",
	        (json_int_t)g->model_bytes, "result", "failed"),
	    "unloading %s failed: %s", g->model, why);
}

static void
rg_unload(struct resguard *g)
{
	json_t *body;
	char *url, *text;
	CURL *e;

	if ((e = curlev_easy(g->cv)) == NULL)
		return;
	body = json_pack("{sssi}", "model", g->model, "keep_alive", 0);
	text = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	url = xasprintf("%s/api/generate", g->ollama);
	g->hdrs = curl_slist_append(NULL, "Content-Type: application/json");
	curl_easy_setopt(e, CURLOPT_URL, url);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, RG_HTTP_TIMEOUT_MS);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, g->hdrs);
	curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, text ? text : "{}");
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, rg_discard);
	curl_easy_setopt(e, CURLOPT_USERAGENT, "peerwatch-resguard");
	free(url);
	free(text);
	if (curlev_add(g->cv, e, rg_on_post_done, g) == -1) {
		curlev_release(g->cv, e);
		curl_slist_free_all(g->hdrs);
		g->hdrs = NULL;
		return;
	}
	g->post = e;
}

static void
rg_on_ps(const json_t *ps, void *arg)
{
	struct resguard *g = arg;
	int n;

	g->ps = NULL;
	n = ps ? resguard_heaviest(
	             ps, g->model, sizeof(g->model), &g->model_bytes)
	       : -1;
	if (n == -1) {
		if (!(g->said & RG_SAID_PS))
			rg_event(g, "ollama_unload",
			    json_pack("{ss}", "result", "failed"),
			    "no model list from %s/api/ps", g->ollama);
		g->said |= RG_SAID_PS;
	} else if (n == 0) {
		if (!(g->said & RG_SAID_NONE))
			rg_event(g, "ollama_unload",
			    json_pack("{ss}", "result", "none"),
			    "no model loaded: nothing to unload");
		g->said |= RG_SAID_NONE;
	} else if (n == 1) {
		if (!(g->said & RG_SAID_KEPT))
			rg_event(g, "ollama_unload",
			    json_pack("{sssIss}", "model", g->model, "bytes",
			        (json_int_t)g->model_bytes, "result", "kept"),
			    "kept %s: the last loaded model", g->model);
		g->said |= RG_SAID_KEPT;
	} else
		rg_unload(g);
}

/* at most one unload in flight, and three readings after each before the
 * next */
static void
rg_unload_start(struct resguard *g)
{
	char *url;

	if (g->ollama == NULL || g->ps != NULL || g->post != NULL ||
	    clock_mono_ms() < g->next_unload_ms)
		return;
	url = xasprintf("%s/api/ps", g->ollama);
	g->ps = curlev_get_json(g->cv, url, RG_HTTP_TIMEOUT_MS, rg_on_ps, g);
	free(url);
}

static void
rg_unload_cancel(struct resguard *g)
{
	if (g->ps != NULL)
		curlev_get_cancel(g->cv, g->ps);
	g->ps = NULL;
	if (g->post != NULL)
		curlev_release(g->cv, g->post);
	g->post = NULL;
	curl_slist_free_all(g->hdrs);
	g->hdrs = NULL;
}

static void
rg_swap_update(struct resguard *g, uint64_t total, uint64_t used)
{
	enum resguard_level was = g->swap_level;
	uint64_t warn, crit;
	char subject[256];

	g->have_swap = 1;
	g->swap_total = total;
	g->swap_used = used;
	warn = resguard_swap_bytes(g->c.swap_warn, g->c.swap_warn_pct, total);
	crit = resguard_swap_bytes(
	    g->c.swap_critical, g->c.swap_critical_pct, total);
	g->swap_level = resguard_level(was, used, warn, crit,
	    resguard_swap_bytes(RESGUARD_MARGIN_PCT, 1, total));
	snprintf(subject, sizeof(subject), "swap@%s", g->host);
	if (was == RESGUARD_OK && g->swap_level != RESGUARD_OK) {
		g->said = 0;
		rg_event(g, "swap_warn",
		    json_pack("{sIsI}", "used", (json_int_t)used, "total",
		        (json_int_t)total),
		    "swap %" PRIu64 " of %" PRIu64 " bytes in use", used,
		    total);
	}
	if (g->swap_level == RESGUARD_CRITICAL && !g->swap_incident &&
	    !rg_held(g)) {
		incident_raise(g->inc, "swap_critical", subject,
		    clock_wall_ms(),
		    "swap %" PRIu64 " of %" PRIu64 " bytes in use", used,
		    total);
		g->swap_incident = 1;
	}
	if (g->swap_level == RESGUARD_OK && was != RESGUARD_OK) {
		rg_event(g, "swap_ok",
		    json_pack("{sIsI}", "used", (json_int_t)used, "total",
		        (json_int_t)total),
		    "swap %" PRIu64 " bytes in use, back below warn", used);
		if (g->swap_incident)
			incident_close(g->inc, "swap_critical", subject,
			    "back below swap_warn");
		g->swap_incident = 0;
	}
	if (warn != 0 && used > warn && !rg_held(g))
		rg_unload_start(g);
}

/* the answer's reading of path, or NULL if it was not asked */
static const struct resread_disk *
rg_answer_disk(const struct resread_answer *a, const char *path)
{
	size_t i;

	for (i = 0; i < a->ndisk; i++)
		if (strcmp(a->disk[i].path, path) == 0)
			return &a->disk[i];
	return NULL;
}

/* the figures unknown until a reading comes back */
static void
rg_unknown(struct resguard *g)
{
	size_t i;

	for (i = 0; i < g->ndisk; i++)
		g->disks[i].have = 0;
	g->have_swap = 0;
}

/* the stuck reading has returned */
static void
rg_resumed(struct resguard *g)
{
	uint64_t secs = (clock_mono_ms() - g->stuck_since_ms) / 1000;
	char detail[RESGUARD_PATH_MAX + 128];

	snprintf(detail, sizeof(detail),
	    "reading %s returned after %" PRIu64 " s", g->stuck_on, secs);
	log_warnx("resources: %s", detail);
	evlog_write_new(g->ev, "resources_resumed", g->host, detail,
	    json_pack(
	        "{sssI}", "reading", g->stuck_on, "seconds", (json_int_t)secs));
	g->stuck = 0;
}

/* a reading came back from the reader thread (on the loop) */
static void
rg_on_answer(const struct resread_answer *a, void *arg)
{
	struct resguard *g = arg;
	const struct resread_disk *r;
	struct rdisk *d;
	char what[RESGUARD_PATH_MAX + 16];
	size_t i;

	if (g->stuck)
		rg_resumed(g);
	if (g->test_file != NULL)
		rg_test_said(g, a);
	for (i = 0; i < g->ndisk; i++) {
		d = &g->disks[i];
		/* a disk added by a reload since: read next time */
		if ((r = rg_answer_disk(a, d->path)) == NULL)
			continue;
		if (r->rc == 0) {
			d->read_failed = 0;
			rg_disk_update(g, d, r->total, r->avail);
			continue;
		}
		d->have = 0;
		snprintf(what, sizeof(what), "disk %s", d->path);
		if (g->test_file == NULL)
			rg_read_failed(&d->read_failed, r->err, what);
	}
	if (a->swap_rc == 0) {
		g->swap_failed = 0;
		rg_swap_update(g, a->swap_total, a->swap_used);
	} else {
		g->have_swap = 0;
		if (g->test_file == NULL)
			rg_read_failed(&g->swap_failed, a->swap_err, "swap");
	}
	g->answered = 1;
	if (g->once) {
		event_del(g->tick);
		return;
	}
	if (g->again && rg_active(g))
		event_active(g->tick, EV_TIMEOUT, 0);
	g->again = 0;
}

/* a reading in flight for too long: said once, its figures unknown */
static void
rg_check_stuck(struct resguard *g, uint64_t since_ms, const char *what)
{
	uint64_t limit = RG_STUCK_INTERVALS * g->c.interval_ms, now, secs;
	char detail[RESGUARD_PATH_MAX + 128];

	if (limit < RG_STUCK_MIN_MS)
		limit = RG_STUCK_MIN_MS;
	now = clock_mono_ms();
	if (g->stuck || now < since_ms + limit)
		return;
	g->stuck = 1;
	g->stuck_since_ms = since_ms;
	snprintf(g->stuck_on, sizeof(g->stuck_on), "%s", what);
	secs = (now - since_ms) / 1000;
	snprintf(detail, sizeof(detail),
	    "reading %s has not returned for %" PRIu64
	    " s (a hung file system?)",
	    what, secs);
	log_warnx("resources: %s", detail);
	evlog_write_new(g->ev, "resources_stuck", g->host, detail,
	    json_pack("{sssI}", "reading", what, "seconds", (json_int_t)secs));
	rg_unknown(g);
}

static void
rg_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct resguard *g = arg;
	char on[RESGUARD_PATH_MAX + 16];
	char **paths;
	uint64_t since;
	size_t i;

	(void)fd;
	(void)what;
	if (g->rd == NULL)
		return;
	if (resread_busy(g->rd, &since, on, sizeof(on))) {
		rg_check_stuck(g, since, on);
		return;
	}
	g->again = 0;
	paths = xcalloc(g->ndisk ? g->ndisk : 1, sizeof(*paths));
	for (i = 0; i < g->ndisk; i++)
		paths[i] = g->disks[i].path;
	(void)resread_start(g->rd, paths, g->ndisk); /* copies them */
	free(paths);
}

/* ---- life cycle ------------------------------------------------------- */

static void
rg_close_disk(struct resguard *g, struct rdisk *d, const char *why)
{
	char subject[RESGUARD_PATH_MAX + 128];

	if (d->incident) {
		snprintf(subject, sizeof(subject), "%s@%s", d->path, g->host);
		incident_close(g->inc, "disk_critical", subject, why);
	}
	d->incident = 0;
}

static void
rg_close_swap(struct resguard *g, const char *why)
{
	char subject[256];

	if (g->swap_incident) {
		snprintf(subject, sizeof(subject), "swap@%s", g->host);
		incident_close(g->inc, "swap_critical", subject, why);
	}
	g->swap_incident = 0;
	g->swap_level = RESGUARD_OK;
}

/* the disks of r, keeping the state of those already watched */
static void
rg_apply_disks(struct resguard *g, const struct conf_resources *r)
{
	struct rdisk *nd = xcalloc(r->ndisk ? r->ndisk : 1, sizeof(*nd));
	size_t i, j;

	for (i = 0; i < r->ndisk; i++) {
		for (j = 0; j < g->ndisk; j++)
			if (g->disks[j].path != NULL &&
			    strcmp(g->disks[j].path, r->disk[i]) == 0)
				break;
		if (j < g->ndisk) {
			nd[i] = g->disks[j];
			g->disks[j].path = NULL; /* moved */
		} else
			nd[i].path = xstrdup(r->disk[i]);
	}
	for (j = 0; j < g->ndisk; j++) {
		if (g->disks[j].path == NULL)
			continue;
		rg_close_disk(g, &g->disks[j], "no longer watched");
		free(g->disks[j].path);
	}
	free(g->disks);
	g->disks = nd;
	g->ndisk = r->ndisk;
}

/* this host's Ollama URL (NULL: none); an unload in flight to another
 * URL is dropped */
static void
rg_apply_ollama(struct resguard *g, const char *url)
{
	size_t len = url ? strlen(url) : 0;

	while (len > 0 && url[len - 1] == '/')
		len--;
	if (g->ollama == NULL || url == NULL ||
	    strncmp(g->ollama, url, len) != 0 || g->ollama[len] != '\0')
		rg_unload_cancel(g);
	free(g->ollama);
	g->ollama = url ? xstrndup(url, len) : NULL;
}

/* take c's levels, disks, cleanup, Ollama URL and interval */
static void
rg_apply(struct resguard *g, const struct conf *c, size_t self)
{
	const struct conf_resources *r = &c->mesh.res;
	struct timeval tv;

	rg_apply_disks(g, r);
	g->c = *r;
	g->c.disk = NULL; /* the config's, and g->disks has them */
	g->c.disk_cleanup = NULL;
	free(g->cleanup);
	g->cleanup = r->disk_cleanup ? xstrdup(r->disk_cleanup) : NULL;
	if (r->swap_warn == 0 && r->swap_critical == 0)
		rg_close_swap(g, "swap no longer guarded");
	rg_apply_ollama(g, c->peers[self].ollama);
	/* a reading in flight was asked for the old disks */
	g->again = 1;
	/* a reading can mean a statvfs per disk: not more often than this */
	if (g->c.interval_ms < RG_MIN_INTERVAL_MS)
		g->c.interval_ms = RG_MIN_INTERVAL_MS;
	event_del(g->tick);
	if (rg_active(g)) {
		tv.tv_sec = (time_t)(g->c.interval_ms / 1000);
		tv.tv_usec = (suseconds_t)(g->c.interval_ms % 1000) * 1000;
		event_add(g->tick, &tv);
		/* a reading on the loop's next turn, not an interval late */
		event_active(g->tick, EV_TIMEOUT, 0);
	}
}

struct resguard *
resguard_new(struct event_base *base, struct evlog *ev, struct incidents *inc,
    const struct conf *c, size_t self)
{
	struct resguard *g = xcalloc(1, sizeof(*g));
	const char *tf = getenv(RESGUARD_TEST_ENV);
	const char *hf = getenv(RESGUARD_TEST_HANG_ENV);

	g->base = base;
	g->ev = ev;
	g->inc = inc;
	g->cv = curlev_new(base);
	g->host = xstrdup(c->peers[self].name);
	if (tf != NULL && tf[0] != '\0') {
		g->test_file = xstrdup(tf);
		log_warnx("resources: figures from %s=%s, not this host",
		    RESGUARD_TEST_ENV, tf);
	}
	if (hf != NULL && hf[0] != '\0')
		log_warnx("resources: readings wait while %s=%s exists",
		    RESGUARD_TEST_HANG_ENV, hf);
	else
		hf = NULL;
	g->rd = resread_new(base, g->test_file, hf, rg_on_answer, g);
	g->tick = event_new(base, -1, EV_PERSIST, rg_on_tick, g);
	rg_apply(g, c, self);
	return g;
}

struct resguard *
resguard_new_once(struct event_base *base, const struct conf *c, size_t self)
{
	struct resguard *g = resguard_new(base, NULL, NULL, c, self);

	g->once = 1;
	return g;
}

int
resguard_active(const struct resguard *g)
{
	return rg_active(g);
}

int
resguard_settled(const struct resguard *g)
{
	return g->answered || !rg_active(g);
}

unsigned
resguard_critical(const struct resguard *g)
{
	unsigned n = 0;
	size_t i;

	for (i = 0; i < g->ndisk; i++)
		if (g->disks[i].have && g->disks[i].level == RESGUARD_CRITICAL)
			n++;
	if (g->have_swap && g->swap_level == RESGUARD_CRITICAL)
		n++;
	return n;
}

void
resguard_set_hold_cb(
    struct resguard *g, int (*cb)(const char *key, void *arg), void *arg)
{
	g->hold_cb = cb;
	g->hold_arg = arg;
}

void
resguard_reconf(struct resguard *g, const struct conf *c, size_t self)
{
	size_t i;

	if (g == NULL)
		return;
	if (strcmp(g->host, c->peers[self].name) != 0) {
		/* subjects name the host: close what the old name raised;
		 * the next reading raises it again under the new one */
		for (i = 0; i < g->ndisk; i++) {
			rg_close_disk(g, &g->disks[i], "host renamed");
			g->disks[i].level = RESGUARD_OK;
		}
		rg_close_swap(g, "host renamed");
		free(g->host);
		g->host = xstrdup(c->peers[self].name);
	}
	rg_apply(g, c, self);
}

void
resguard_free(struct resguard *g)
{
	size_t i;

	if (g == NULL)
		return;
	/* never waits for a stuck reading; no answer after this */
	resread_free(g->rd);
	if (g->tick)
		event_free(g->tick);
	if (g->cmd != NULL)
		cmdrun_cancel(g->cmd);
	rg_unload_cancel(g);
	curlev_free(g->cv);
	for (i = 0; i < g->ndisk; i++)
		free(g->disks[i].path);
	free(g->disks);
	free(g->cleanup);
	free(g->cmd_path);
	free(g->ollama);
	free(g->host);
	free(g->test_file);
	free(g->payload);
	free(g);
}

/* ---- reporting -------------------------------------------------------- */

json_t *
resguard_status_json(const struct resguard *g)
{
	json_t *o = json_object(), *disk = json_object(), *d;
	size_t i;

	json_object_set_new(o, "disk", disk);
	if (g == NULL) {
		json_object_set_new(o, "swap", json_null());
		json_object_set_new(o, "unloads", json_integer(0));
		return o;
	}
	for (i = 0; i < g->ndisk; i++) {
		const struct rdisk *r = &g->disks[i];

		if (r->have)
			d = json_pack("{sisIsIss}", "used_pct", (int)r->pct,
			    "total", (json_int_t)r->total, "avail",
			    (json_int_t)r->avail, "level",
			    resguard_level_name(r->level));
		else
			d = json_pack("{ss}", "level", "unknown");
		json_object_set_new(disk, r->path, d);
	}
	if (g->have_swap)
		json_object_set_new(o, "swap",
		    json_pack("{sIsIss}", "used", (json_int_t)g->swap_used,
		        "total", (json_int_t)g->swap_total, "level",
		        resguard_level_name(g->swap_level)));
	else
		json_object_set_new(o, "swap", json_null());
	json_object_set_new(o, "unloads", json_integer((json_int_t)g->unloads));
	json_object_set_new(
	    o, "unload_failures", json_integer((json_int_t)g->unload_failures));
	json_object_set_new(
	    o, "cleanups", json_integer((json_int_t)g->cleanups));
	if (g->stuck)
		json_object_set_new(o, "stuck",
		    json_pack("{sssI}", "reading", g->stuck_on, "seconds",
		        (json_int_t)((clock_mono_ms() - g->stuck_since_ms) /
		                     1000)));
	return o;
}

/* a label value: backslash, quote and newline escaped */
static void
rg_label(char *buf, size_t len, const char *name, const char *v)
{
	size_t n = (size_t)snprintf(buf, len, "%s=\"", name);

	for (; *v && n + 3 < len; v++) {
		if (*v == '\\' || *v == '"' || *v == '\n') {
			buf[n++] = '\\';
			buf[n++] = *v == '\n' ? 'n' : *v;
		} else
			buf[n++] = *v;
	}
	snprintf(buf + n, len - n, "\"");
}

/* one sample per disk read: its used percent, or (avail) its free bytes */
static void
rg_metrics_disk_u64(
    const struct resguard *g, struct metrics *m, const char *name, int avail)
{
	char path[RESGUARD_PATH_MAX * 2 + 16];
	size_t i;

	for (i = 0; i < g->ndisk; i++) {
		if (!g->disks[i].have)
			continue;
		rg_label(path, sizeof(path), "path", g->disks[i].path);
		metrics_u64(
		    m, name, path, avail ? g->disks[i].avail : g->disks[i].pct);
	}
}

static void
rg_metrics_disk(const struct resguard *g, struct metrics *m)
{
	char lab[RESGUARD_PATH_MAX * 2 + 64], path[RESGUARD_PATH_MAX * 2 + 16];
	size_t i, have = 0;
	int l;

	for (i = 0; i < g->ndisk; i++)
		have += g->disks[i].have;
	if (have == 0)
		return;
	metrics_family(m, "peerwatch_disk_used_percent", "gauge",
	    "Used space of a watched mount point, percent as df shows it.");
	rg_metrics_disk_u64(g, m, "peerwatch_disk_used_percent", 0);
	metrics_family(m, "peerwatch_disk_avail_bytes", "gauge",
	    "Space an unprivileged user may still use on a watched mount.");
	rg_metrics_disk_u64(g, m, "peerwatch_disk_avail_bytes", 1);
	metrics_family(m, "peerwatch_disk_level", "gauge",
	    "1 for the guard level a watched mount point is at.");
	for (i = 0; i < g->ndisk; i++) {
		if (!g->disks[i].have)
			continue;
		rg_label(path, sizeof(path), "path", g->disks[i].path);
		for (l = RESGUARD_OK; l <= RESGUARD_CRITICAL; l++) {
			snprintf(lab, sizeof(lab), "%s,level=\"%s\"", path,
			    level_names[l]);
			metrics_u64(m, "peerwatch_disk_level", lab,
			    g->disks[i].level == (enum resguard_level)l);
		}
	}
	metrics_family(m, "peerwatch_disk_cleanups_total", "counter",
	    "disk_cleanup commands started.");
	metrics_u64(m, "peerwatch_disk_cleanups_total", NULL, g->cleanups);
}

void
resguard_metrics(const struct resguard *g, struct metrics *m)
{
	char lab[64];
	int l;

	if (g == NULL || !rg_active(g))
		return;
	rg_metrics_disk(g, m);
	if (!g->have_swap)
		return;
	metrics_family(m, "peerwatch_swap_used_bytes", "gauge",
	    "Swap space in use on this host.");
	metrics_u64(m, "peerwatch_swap_used_bytes", NULL, g->swap_used);
	metrics_family(m, "peerwatch_swap_total_bytes", "gauge",
	    "Swap space configured on this host.");
	metrics_u64(m, "peerwatch_swap_total_bytes", NULL, g->swap_total);
	metrics_family(m, "peerwatch_swap_level", "gauge",
	    "1 for the guard level swap is at.");
	for (l = RESGUARD_OK; l <= RESGUARD_CRITICAL; l++) {
		snprintf(lab, sizeof(lab), "level=\"%s\"", level_names[l]);
		metrics_u64(m, "peerwatch_swap_level", lab,
		    g->swap_level == (enum resguard_level)l);
	}
	metrics_family(m, "peerwatch_ollama_unloads_total", "counter",
	    "Models unloaded from the local Ollama for swap, by result.");
	metrics_u64(
	    m, "peerwatch_ollama_unloads_total", "result=\"ok\"", g->unloads);
	metrics_u64(m, "peerwatch_ollama_unloads_total", "result=\"failed\"",
	    g->unload_failures);
}

/* swap used, percent of total rounded up (0 without swap) */
static unsigned
rg_swap_pct(const struct resguard *g)
{
	return g->swap_total ? resguard_disk_pct(
	                           g->swap_total, g->swap_total - g->swap_used)
	                     : 0;
}

const char *
resguard_payload(struct resguard *g, const char *base, size_t budget)
{
	json_t *o, *res, *d;
	size_t i, used, need;
	char *out;

	if (g == NULL || !rg_active(g))
		return base;
	if ((o = json_loads(base, 0, NULL)) == NULL || !json_is_object(o)) {
		json_decref(o);
		return base;
	}
	res = json_object();
	d = json_object();
	/* ,"res":{} and "s":100, and "d":{}, */
	used = 9 + (g->have_swap ? 8 : 0) + 7;
	if (g->have_swap)
		json_object_set_new(res, "s", json_integer(rg_swap_pct(g)));
	for (i = 0; i < g->ndisk; i++) {
		if (!g->disks[i].have)
			continue;
		/* "PATH":100, (a path needing escapes may cost more) */
		need = strlen(g->disks[i].path) * 2 + 7;
		if (used + need > budget)
			continue; /* left out; a shorter one may fit */
		if (json_object_set_new(d, g->disks[i].path,
		        json_integer(g->disks[i].pct)) == 0)
			used += need;
	}
	if (json_object_size(d) > 0)
		json_object_set_new(res, "d", d);
	else
		json_decref(d);
	if (json_object_size(res) == 0 || used > budget) {
		json_decref(res);
		json_decref(o);
		return base;
	}
	json_object_set_new(o, "res", res);
	out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (out == NULL || strlen(out) > strlen(base) + budget) {
		free(out);
		return base;
	}
	free(g->payload);
	g->payload = out;
	return g->payload;
}
