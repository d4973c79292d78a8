/* SPDX-License-Identifier: ISC */
/*
 * alert: see alert.h. One timer (ALERT_TICK_MS) owns everything that
 * waits: grace, reminders, the burst window, explanations and the sender's
 * backoff. One message is in flight at a time, oldest outbox file first,
 * at most one a second (Telegram's per-chat pace).
 */
#include <sys/stat.h>

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <sodium.h>

#include "common/clock.h"
#include "common/evlog.h"
#include "common/log.h"
#include "common/metrics.h"
#include "common/mkdirs.h"
#include "common/statefile.h"
#include "common/xmalloc.h"
#include "config/conf.h"
#include "heal/alert.h"
#include "heal/alertfmt.h"
#include "heal/curlev.h"

#define ALERT_TICK_MS 200
#define ALERT_BURST_MS 1000         /* texts due this close go together */
#define ALERT_PACE_MS 1000          /* between two messages */
#define ALERT_BACKOFF_MIN_MS 1000   /* after a failed attempt, doubling */
#define ALERT_BACKOFF_MAX_MS 300000 /* 5 min */
#define ALERT_RETRY_AFTER_MAX 86400 /* s: a 429 asking longer is clamped */
#define ALERT_SEND_TIMEOUT_MS 15000
#define ALERT_TOKEN_MAX 256
#define ALERT_HOUR_MS (60 * 60 * 1000ULL)
#define ALERT_OUTBOX_MAX (256 * 1024)
#define ALERT_SENT_FILE "alerts.json"
#define ALERT_EXPLAIN_MAX 600  /* bytes of the model's answer kept */
#define ALERT_EVENTS_TAIL 8192 /* bytes of events.jsonl read for a prompt */
/* after a start the outbox waits for every peer's report, at most
 * down_after plus this (a full status payload comes every 3 s) */
#define ALERT_HOLD_EXTRA_MS 4000
/* a peer that held an incident this recently still counts as a holder
 * when it closes (peers see the subject return at slightly different
 * times; the first to close must not leave the recovery to nobody) */
#define ALERT_LINGER_MS 60000

struct al_inc {
	char *id; /* kind:subject */
	char *kind;
	char *subject;
	char detail[512];
	uint64_t opened_ms; /* mono */
	uint64_t opened_wall;
	uint64_t due_ms;    /* the first message, while !sent */
	uint64_t remind_ms; /* the next reminder, once sent */
	int sent;           /* its first message is queued (or not needed) */
	int delivered;      /* the API took it, here or on another peer */
};

struct al_piece {
	char *text;
	char *id;              /* a first message (PROBLEM): its incident */
	char *explain;         /* the model's answer, or NULL */
	struct curlev_get *ex; /* asking for it */
	uint64_t ex_deadline;
	struct alert *a;
};

/* an incident sent before a restart (alerts.json): re-raised, it is not
 * sent again */
struct al_known {
	char *id;
	uint64_t sent_wall;
	int delivered;
};

struct alert {
	struct event_base *base;
	struct evlog *ev;
	struct curlev *cv;
	struct event *timer;
	char *name, *api, *chat, *state_dir, *outdir, *model, *gen_url;
	char *token; /* sodium_malloc'd */
	uint64_t grace_ms, repeat_ms, explain_ms;
	unsigned flap_limit;
	struct al_inc *inc;
	size_t ninc;
	struct al_known *known;
	size_t nknown;
	struct alert_flaps *flaps;
	struct al_piece **batch;
	size_t nbatch;
	uint64_t batch_due;
	char **queue; /* outbox names, oldest first */
	size_t nqueue;
	unsigned seq;
	struct curlev_get *sending;
	uint64_t next_try_ms, backoff_ms;
	uint64_t sent, failed, rejected, held;
	char last_error[256];
	struct curlev_get *test;
	alert_test_cb test_cb;
	void *test_arg;
	/* exactly one sender: what the other peers delivered */
	struct alert_mesh *mesh;
	size_t npeers;
	uint64_t down_ms, hold_until;
	json_t *inflight; /* the incident ids of the message being sent */
	uint64_t dropped;
	char *payload;
	void (*change_cb)(void *);
	void *change_arg;
};

/* --- the token ------------------------------------------------------------ */

int
alert_read_token(
    const char *path, char *buf, size_t len, char *err, size_t errlen)
{
	struct stat st;
	ssize_t n;
	size_t k;
	int fd;

	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "telegram_token_file %s: %s%s", path,
		    strerror(errno),
		    errno == ELOOP ? " (a symbolic link)" : "");
		return -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen,
		    "telegram_token_file %s: not a regular file", path);
		goto fail;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen,
		    "telegram_token_file %s: readable by group or others "
		    "(mode %03o); chmod 600 it",
		    path, (unsigned)(st.st_mode & 0777));
		goto fail;
	}
	n = read(fd, buf, len - 1);
	if (n < 0) {
		snprintf(err, errlen, "telegram_token_file %s: %s", path,
		    strerror(errno));
		goto fail;
	}
	buf[n] = '\0';
	close(fd);
	k = strcspn(buf, "\r\n");
	buf[k] = '\0';
	for (k = 0; buf[k] != '\0'; k++)
		if (!isalnum((unsigned char)buf[k]) && buf[k] != ':' &&
		    buf[k] != '_' && buf[k] != '-')
			break;
	if (k == 0 || buf[k] != '\0' || strchr(buf, ':') == NULL) {
		sodium_memzero(buf, len);
		snprintf(err, errlen,
		    "telegram_token_file %s: no bot token on its first line "
		    "(expected digits, a colon and letters, digits, _ or -)",
		    path);
		return -1;
	}
	return 0;
fail:
	close(fd);
	return -1;
}

/* --- the sender ----------------------------------------------------------- */

static void alert_send_next(struct alert *);

static json_t *
alert_body(const struct alert *a, const char *text)
{
	const char *c = a->chat;
	size_t k = c[0] == '-' ? 1 : 0;

	while (isdigit((unsigned char)c[k]))
		k++;
	if (c[k] == '\0' && k > (c[0] == '-' ? 1u : 0u))
		return json_pack("{sIss}", "chat_id",
		    (json_int_t)strtoll(c, NULL, 10), "text", text);
	return json_pack("{ssss}", "chat_id", c, "text", text);
}

/* sendMessage: the URL with the token exists only in this frame */
static struct curlev_get *
alert_post(struct alert *a, const char *text, curlev_post_cb cb, void *arg)
{
	char url[1024];
	struct curlev_get *g;
	json_t *b = alert_body(a, text);
	char *body = b != NULL ? json_dumps(b, JSON_COMPACT) : NULL;

	json_decref(b);
	if (body == NULL) {
		log_warnx("alert: a message not encodable as JSON");
		return NULL;
	}
	snprintf(url, sizeof(url), "%s/bot%s/sendMessage", a->api, a->token);
	g = curlev_post_json(a->cv, url, body, ALERT_SEND_TIMEOUT_MS, cb, arg);
	sodium_memzero(url, sizeof(url));
	free(body);
	return g;
}

static void
alert_set_error(struct alert *a, const char *what, const char *why)
{
	char tmp[512];

	snprintf(tmp, sizeof(tmp), "%s: %s", what, why);
	alert_scrub(tmp, a->token, a->last_error, sizeof(a->last_error));
}

/* a queue entry that starts with this holds its text itself: its
 * outbox file could not be written (a full disk is when disk_critical
 * fires); sent from memory, lost only if the daemon dies first */
#define ALERT_MEM '\001'

static const char *
alert_head_name(const struct alert *a)
{
	return a->queue[0][0] == ALERT_MEM ? "(in memory)" : a->queue[0];
}

static void
alert_drop_head(struct alert *a)
{
	free(a->queue[0]);
	memmove(a->queue, a->queue + 1, (a->nqueue - 1) * sizeof(*a->queue));
	a->nqueue--;
}

static void
alert_unlink(struct alert *a, const char *name, const char *rename_to)
{
	char p[4096], q[4096];

	if (name[0] == ALERT_MEM)
		return;
	snprintf(p, sizeof(p), "%s/%s", a->outdir, name);
	if (rename_to != NULL) {
		snprintf(q, sizeof(q), "%s/%s", a->outdir, rename_to);
		if (rename(p, q) == -1)
			log_warn("rename %s", p);
	} else if (unlink(p) == -1 && errno != ENOENT)
		log_warn("unlink %s", p);
}

static void alert_known_save(struct alert *);

/* the incident's first message reached the chat (here or elsewhere): it
 * goes into our reports */
static void
alert_mark_delivered(struct alert *a, const char *id)
{
	size_t i;

	for (i = 0; i < a->ninc; i++)
		if (strcmp(a->inc[i].id, id) == 0 && !a->inc[i].delivered) {
			a->inc[i].delivered = 1;
			if (a->change_cb)
				a->change_cb(a->change_arg);
		}
	for (i = 0; i < a->nknown; i++)
		if (strcmp(a->known[i].id, id) == 0)
			a->known[i].delivered = 1;
	alert_known_save(a);
}

static void
alert_inflight_delivered(struct alert *a)
{
	json_t *e;
	size_t i;

	json_array_foreach(a->inflight, i, e)
		alert_mark_delivered(a, json_string_value(e));
	json_decref(a->inflight);
	a->inflight = NULL;
}

/* the API took the head of the queue */
static void
alert_sent_ok(struct alert *a, const json_t *ans, uint64_t now)
{
	json_int_t id = json_integer_value(
	    json_object_get(json_object_get(ans, "result"), "message_id"));

	log_info("alert sent: %s (message_id %lld)", alert_head_name(a),
	    (long long)id);
	evlog_write_new(a->ev, "alert_sent", a->name, alert_head_name(a),
	    json_pack("{sI}", "message_id", id));
	alert_unlink(a, a->queue[0], NULL);
	alert_drop_head(a);
	a->sent++;
	a->backoff_ms = 0;
	a->next_try_ms = now + ALERT_PACE_MS;
	alert_inflight_delivered(a);
}

/* 429: wait what the API asks (range-checked) */
static void
alert_sent_429(
    struct alert *a, const json_t *ans, const char *desc, uint64_t now)
{
	json_t *ra =
	    json_object_get(json_object_get(ans, "parameters"), "retry_after");
	json_int_t secs = json_is_integer(ra) ? json_integer_value(ra) : 0;

	if (secs < 1)
		secs = 1;
	if (secs > ALERT_RETRY_AFTER_MAX)
		secs = ALERT_RETRY_AFTER_MAX;
	alert_set_error(a, "429", desc ? desc : "Too Many Requests");
	log_warnx("alert %s: rate limited, retrying in %lld s",
	    alert_head_name(a), (long long)secs);
	a->next_try_ms = now + (uint64_t)secs * 1000;
}

/* 400: this payload would fail again; set it aside, go on */
static void
alert_sent_rejected(struct alert *a, long http, const char *desc, uint64_t now)
{
	char rej[64];

	snprintf(rej, sizeof(rej), "rejected-%s", alert_head_name(a));
	alert_set_error(a, "rejected", desc ? desc : "bad request");
	log_warnx("alert %s rejected by the API (HTTP %ld): %s; kept as %s",
	    alert_head_name(a), http, a->last_error, rej);
	evlog_writef_new(a->ev, "alert_rejected", a->name,
	    json_pack("{si}", "http", (int)http), "%s", a->last_error);
	alert_unlink(a, a->queue[0], rej);
	alert_drop_head(a);
	a->rejected++;
	a->next_try_ms = now + ALERT_PACE_MS;
}

/* anything else (network, timeout, 5xx, and 401/403/404, which a fixed
 * token or chat cures): try again later, doubling the wait */
static void
alert_sent_retry(struct alert *a, CURLcode rc, long http, const char *desc,
    const char *error, uint64_t now)
{
	char h[32];

	snprintf(h, sizeof(h), "HTTP %ld", http);
	alert_set_error(a, rc != CURLE_OK ? "transfer" : h,
	    rc != CURLE_OK ? error
	    : desc         ? desc
	                   : "no ok answer");
	a->backoff_ms =
	    a->backoff_ms ? a->backoff_ms * 2 : ALERT_BACKOFF_MIN_MS;
	if (a->backoff_ms > ALERT_BACKOFF_MAX_MS)
		a->backoff_ms = ALERT_BACKOFF_MAX_MS;
	log_warnx("alert %s not delivered (%s); retrying in %llu ms",
	    alert_head_name(a), a->last_error,
	    (unsigned long long)a->backoff_ms);
	a->next_try_ms = now + a->backoff_ms;
}

static void
alert_on_sent(
    CURLcode rc, long http, const json_t *ans, const char *error, void *arg)
{
	struct alert *a = arg;
	const char *desc =
	    json_string_value(json_object_get(ans, "description"));
	uint64_t now = clock_mono_ms();

	a->sending = NULL;
	if (rc == CURLE_OK && http == 200 &&
	    json_is_true(json_object_get(ans, "ok"))) {
		alert_sent_ok(a, ans, now);
		return;
	}
	a->failed++;
	if (rc == CURLE_OK && http == 429)
		alert_sent_429(a, ans, desc, now);
	else if (rc == CURLE_OK && http == 400)
		alert_sent_rejected(a, http, desc, now);
	else
		alert_sent_retry(a, rc, http, desc, error, now);
}

/*
 * The text of an outbox message without the incidents another peer
 * reports as delivered (each logged as alert_dropped): a new string, or
 * NULL when nothing is left. *ids gets the incident ids it still carries.
 */
static char *
alert_unsent_text(struct alert *a, const json_t *o, json_t **ids)
{
	const json_t *parts = json_object_get(o, "parts");
	const char *id, *text, *by;
	char *out = NULL, *t;
	json_t *e;
	size_t i;

	*ids = json_array();
	if (!json_is_array(parts))
		return xstrdup(json_string_value(json_object_get(o, "text")));
	json_array_foreach(parts, i, e) {
		id = json_string_value(json_object_get(e, "id"));
		text = json_string_value(json_object_get(e, "text"));
		if (id == NULL || text == NULL)
			continue;
		if ((by = alert_mesh_holder(a->mesh, id)) != NULL) {
			log_info("alert %s: %s was delivered by %s; not sent "
			         "again",
			    a->queue[0], id, by);
			evlog_write_new(a->ev, "alert_dropped", a->name, id,
			    json_pack("{ssss}", "by", by, "reason",
			        "delivered by another peer"));
			a->dropped++;
			alert_mark_delivered(a, id);
			continue;
		}
		json_array_append_new(*ids, json_string(id));
		t = out == NULL ? xstrdup(text)
		                : xasprintf("%s\n\n%s", out, text);
		free(out);
		out = t;
	}
	return out;
}

/* after a start, until every peer reported (or long enough): what it
 * delivered while we were away decides what we still send */
static int
alert_holding(const struct alert *a, uint64_t now)
{
	return now < a->hold_until &&
	       alert_mesh_nreported(a->mesh) + 1 < a->npeers;
}

static void
alert_send_next(struct alert *a)
{
	char err[512], *data = NULL, *text;
	json_t *o, *ids;

	while (a->sending == NULL && a->nqueue > 0 &&
	       clock_mono_ms() >= a->next_try_ms &&
	       !alert_holding(a, clock_mono_ms())) {
		if (a->queue[0][0] == ALERT_MEM) {
			/* its outbox write failed: no parts to check */
			json_decref(a->inflight);
			a->inflight = NULL;
			a->sending =
			    alert_post(a, a->queue[0] + 1, alert_on_sent, a);
			if (a->sending == NULL)
				a->next_try_ms =
				    clock_mono_ms() + ALERT_BACKOFF_MIN_MS;
			continue;
		}
		if (statefile_read(a->outdir, a->queue[0], ALERT_OUTBOX_MAX,
		        &data, err, sizeof(err)) == -1) {
			log_warnx("outbox: %s: dropped",
			    errno == ENOENT ? alert_head_name(a) : err);
			alert_drop_head(a);
			continue;
		}
		o = json_loads(data, 0, NULL);
		free(data);
		if (json_string_value(json_object_get(o, "text")) == NULL) {
			log_warnx("outbox %s: no text; set aside",
			    alert_head_name(a));
			json_decref(o);
			alert_unlink(a, a->queue[0], "rejected-unreadable");
			alert_drop_head(a);
			continue;
		}
		text = alert_unsent_text(a, o, &ids);
		json_decref(o);
		if (text == NULL) {
			log_info("alert %s: nothing left to send; dropped",
			    a->queue[0]);
			json_decref(ids);
			alert_unlink(a, a->queue[0], NULL);
			alert_drop_head(a);
			continue;
		}
		json_decref(a->inflight);
		a->inflight = ids;
		a->sending = alert_post(a, text, alert_on_sent, a);
		free(text);
		if (a->sending == NULL)
			a->next_try_ms = clock_mono_ms() + ALERT_BACKOFF_MIN_MS;
	}
}

/* --- the outbox ----------------------------------------------------------- */

static int
alert_cmp_names(const void *x, const void *y)
{
	return strcmp(*(char *const *)x, *(char *const *)y);
}

/* what a previous run left to send, oldest first */
static void
alert_outbox_scan(struct alert *a)
{
	struct dirent *d;
	DIR *dir;

	if ((dir = opendir(a->outdir)) == NULL)
		return;
	while ((d = readdir(dir)) != NULL) {
		if (!alert_outbox_name_ok(d->d_name))
			continue;
		a->queue =
		    xreallocarray(a->queue, a->nqueue + 1, sizeof(*a->queue));
		a->queue[a->nqueue++] = xstrdup(d->d_name);
	}
	closedir(dir);
	if (a->nqueue > 0) {
		qsort(a->queue, a->nqueue, sizeof(*a->queue), alert_cmp_names);
		log_info("outbox: %zu message(s) left from before; sending",
		    a->nqueue);
	}
}

static void
alert_outbox_put(struct alert *a, const char *text, json_t *parts)
{
	char name[ALERT_OUTBOX_NAME_LEN], err[512], iso[CLOCK_ISO_LEN];
	uint64_t wall = clock_wall_ms();
	char *s, *fixed = xstrdup(text);
	json_t *o;

	alert_utf8_fix(fixed);
	text = fixed;
	alert_outbox_name(name, sizeof(name), wall, a->seq++);
	o = json_pack("{ssss}", "created",
	    clock_iso8601(wall, iso, sizeof(iso)), "text", text);
	if (o != NULL && parts != NULL)
		json_object_set_new(o, "parts", parts);
	else
		json_decref(parts);
	s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;
	json_decref(o);
	a->queue = xreallocarray(a->queue, a->nqueue + 1, sizeof(*a->queue));
	if (s == NULL ||
	    statefile_write(a->outdir, name, s, err, sizeof(err)) == -1) {
		/* kept in memory only: still sent unless we die first */
		log_warnx("outbox: %s; the message is kept in memory",
		    s == NULL ? "not encoded" : err);
		a->queue[a->nqueue++] = xasprintf("%c%s", ALERT_MEM, text);
	} else
		a->queue[a->nqueue++] = xstrdup(name);
	free(s);
	free(fixed);
}

/* --- incidents already sent (survive a restart) --------------------------- */

static void
alert_known_save(struct alert *a)
{
	json_t *arr = json_array();
	char err[512], *s;
	size_t i;

	for (i = 0; i < a->ninc; i++)
		if (a->inc[i].sent)
			json_array_append_new(
			    arr, json_pack("{sssIsb}", "id", a->inc[i].id,
			             "sent", (json_int_t)a->inc[i].opened_wall,
			             "delivered", a->inc[i].delivered));
	for (i = 0; i < a->nknown; i++)
		json_array_append_new(
		    arr, json_pack("{sssIsb}", "id", a->known[i].id, "sent",
		             (json_int_t)a->known[i].sent_wall, "delivered",
		             a->known[i].delivered));
	s = json_dumps(arr, JSON_COMPACT);
	json_decref(arr);
	if (s == NULL)
		log_warnx("%s: not encoded", ALERT_SENT_FILE);
	else if (statefile_write(
	             a->state_dir, ALERT_SENT_FILE, s, err, sizeof(err)) == -1)
		log_warnx("%s", err);
	free(s);
}

static void
alert_known_load(struct alert *a)
{
	char err[512], *s = NULL;
	json_t *arr, *e;
	size_t i;

	if (statefile_read(a->state_dir, ALERT_SENT_FILE, 1024 * 1024, &s, err,
	        sizeof(err)) == -1) {
		if (errno != ENOENT)
			log_warnx("%s", err);
		return;
	}
	arr = json_loads(s, 0, NULL);
	free(s);
	json_array_foreach(arr, i, e) {
		const char *id = json_string_value(json_object_get(e, "id"));
		json_t *t = json_object_get(e, "sent");
		/* a day later it is news again */
		if (id == NULL || !json_is_integer(t) ||
		    json_integer_value(t) < 0 ||
		    (uint64_t)json_integer_value(t) + 24 * ALERT_HOUR_MS <
		        clock_wall_ms())
			continue;
		a->known =
		    xreallocarray(a->known, a->nknown + 1, sizeof(*a->known));
		a->known[a->nknown].id = xstrdup(id);
		a->known[a->nknown].delivered =
		    json_is_true(json_object_get(e, "delivered"));
		a->known[a->nknown++].sent_wall =
		    (uint64_t)json_integer_value(t);
	}
	json_decref(arr);
}

/* 1 (and forgotten) if id was sent before this run */
static int
alert_known_take(
    struct alert *a, const char *id, uint64_t *sent_wall, int *delivered)
{
	size_t i;

	for (i = 0; i < a->nknown; i++) {
		if (strcmp(a->known[i].id, id) != 0)
			continue;
		*sent_wall = a->known[i].sent_wall;
		*delivered = a->known[i].delivered;
		free(a->known[i].id);
		a->known[i] = a->known[--a->nknown];
		return 1;
	}
	return 0;
}

/* --- the explanation ------------------------------------------------------ */

/* the last events whose peer is the subject's host, as JSON lines */
static void
alert_recent_events(
    const struct alert *a, const char *subject, char *out, size_t outlen)
{
	char path[4096], buf[ALERT_EVENTS_TAIL + 1], needle[160];
	const char *host = strrchr(subject, '@');
	char *line, *nl;
	size_t o = 0;
	struct stat st;
	ssize_t n;
	int fd;

	out[0] = '\0';
	snprintf(needle, sizeof(needle), "\"peer\":\"%s\"",
	    host ? host + 1 : subject);
	snprintf(path, sizeof(path), "%s/events.jsonl", a->state_dir);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return;
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    (n = pread(fd, buf, ALERT_EVENTS_TAIL,
	         st.st_size > ALERT_EVENTS_TAIL ? st.st_size - ALERT_EVENTS_TAIL
	                                        : 0)) <= 0) {
		close(fd);
		return;
	}
	close(fd);
	buf[n] = '\0';
	for (line = buf; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
		*nl = '\0';
		if (strstr(line, needle) != NULL &&
		    o + (size_t)(nl - line) + 2 <= outlen)
			o +=
			    (size_t)snprintf(out + o, outlen - o, "%s\n", line);
	}
}

static void
alert_on_explained(
    CURLcode rc, long http, const json_t *ans, const char *error, void *arg)
{
	struct al_piece *p = arg;
	const char *r = json_string_value(json_object_get(ans, "response"));
	const char *t;
	size_t len;

	p->ex = NULL;
	if (rc != CURLE_OK || http != 200 || r == NULL) {
		log_info("explanation: none (%s)",
		    rc != CURLE_OK ? error : "no answer");
		return;
	}
	/* a thinking model's reasoning is not the diagnosis */
	if ((t = strstr(r, "</think>")) != NULL)
		r = t + strlen("</think>");
	while (isspace((unsigned char)*r))
		r++;
	len = strlen(r);
	while (len > 0 && isspace((unsigned char)r[len - 1]))
		len--;
	if (len == 0)
		return;
	p->explain =
	    xstrndup(r, len > ALERT_EXPLAIN_MAX ? ALERT_EXPLAIN_MAX : len);
	alert_utf8_fix(p->explain); /* the cut may split a character */
}

static void
alert_explain(struct alert *a, struct al_piece *p, const char *kind,
    const char *subject, const char *detail)
{
	char events[4096], *prompt, *body;
	json_t *o;

	alert_recent_events(a, subject, events, sizeof(events));
	prompt = xasprintf(
	    "You are the diagnostic helper of peerwatch, a mesh of hosts "
	    "that watch and revive each other. In 2-3 short lines, say the "
	    "most likely cause of this incident and the first thing a human "
	    "should check. No preamble.\n\nIncident: %s on %s: %s\n\n"
	    "Recent events about %s (JSON lines):\n%s",
	    kind, subject, detail, subject, events[0] ? events : "(none)\n");
	o = json_pack(
	    "{sssssb}", "model", a->model, "prompt", prompt, "stream", 0);
	body = json_dumps(o, JSON_COMPACT);
	json_decref(o);
	free(prompt);
	p->ex_deadline = clock_mono_ms() + a->explain_ms;
	p->ex = curlev_post_json(a->cv, a->gen_url, body, (long)a->explain_ms,
	    alert_on_explained, p);
	free(body);
}

/* --- the burst ------------------------------------------------------------ */

static void
alert_piece_free(struct alert *a, struct al_piece *p)
{
	curlev_get_cancel(a->cv, p->ex);
	free(p->text);
	free(p->id);
	free(p->explain);
	free(p);
}

/* a text for the next message; an escalation may ask the model first */
static void
alert_queue(struct alert *a, const char *text, const char *kind,
    const char *subject, const char *detail)
{
	struct al_piece *p = xcalloc(1, sizeof(*p));

	p->text = xstrdup(text);
	p->a = a;
	if (kind != NULL)
		p->id = xasprintf("%s:%s", kind, subject);
	if (a->model != NULL && kind != NULL)
		alert_explain(a, p, kind, subject, detail);
	if (a->nbatch == 0)
		a->batch_due = clock_mono_ms() + ALERT_BURST_MS;
	a->batch = xreallocarray(a->batch, a->nbatch + 1, sizeof(*a->batch));
	a->batch[a->nbatch++] = p;
}

static int
alert_batch_ready(const struct alert *a, uint64_t now)
{
	size_t i;

	if (a->nbatch == 0 || now < a->batch_due)
		return 0;
	for (i = 0; i < a->nbatch; i++)
		if (a->batch[i]->ex != NULL && now < a->batch[i]->ex_deadline)
			return 0;
	return 1;
}

/*
 * First messages (PROBLEM) go out in messages of their own whose outbox
 * file names each incident ("parts"), so that one another peer delivered
 * meanwhile can be left out; the rest is packed as it comes.
 */
static void
alert_put_firsts(struct alert *a, char **texts, char **ids, size_t n)
{
	json_t *parts = NULL;
	char *cur = NULL, *t, **m;
	size_t i, k, nm;

	for (i = 0; i <= n; i++) {
		if (cur != NULL &&
		    (i == n ||
		        strlen(cur) + 2 + strlen(texts[i]) > ALERT_MSG_MAX)) {
			alert_outbox_put(a, cur, parts);
			free(cur);
			cur = NULL;
			parts = NULL;
		}
		if (i == n)
			break;
		if (strlen(texts[i]) > ALERT_MSG_MAX) {
			/* cut into several: sent as it is */
			nm = alert_pack((const char *const *)&texts[i], 1,
			    ALERT_MSG_MAX, &m);
			for (k = 0; k < nm; k++)
				alert_outbox_put(a, m[k], NULL);
			alert_pack_free(m, nm);
			continue;
		}
		if (parts == NULL)
			parts = json_array();
		json_array_append_new(
		    parts, json_pack("{ssss}", "id", ids[i], "text", texts[i]));
		t = cur == NULL ? xstrdup(texts[i])
		                : xasprintf("%s\n\n%s", cur, texts[i]);
		free(cur);
		cur = t;
	}
}

static void
alert_flush(struct alert *a)
{
	char **texts = xreallocarray(NULL, a->nbatch, sizeof(*texts)), **m;
	char **firsts = xreallocarray(NULL, a->nbatch, sizeof(*firsts));
	char **ids = xreallocarray(NULL, a->nbatch, sizeof(*ids));
	size_t i, n, nt = 0, nf = 0;

	for (i = 0; i < a->nbatch; i++) {
		struct al_piece *p = a->batch[i];
		char *t;
		if (p->ex != NULL)
			log_info("explanation: none within %llu ms; sending "
			         "without",
			    (unsigned long long)a->explain_ms);
		t = p->explain == NULL
		        ? xstrdup(p->text)
		        : xasprintf("%s\nThe model's guess (%s, "
		                    "unverified): %s",
		              p->text, a->model ? a->model : "a model",
		              p->explain);
		if (p->id != NULL) {
			/* the parts go into JSON as they are */
			alert_utf8_fix(t);
			ids[nf] = xstrdup(p->id);
			alert_utf8_fix(ids[nf]);
			firsts[nf++] = t;
		} else
			texts[nt++] = t;
		alert_piece_free(a, p);
	}
	a->nbatch = 0;
	alert_put_firsts(a, firsts, ids, nf);
	n = alert_pack((const char *const *)texts, nt, ALERT_MSG_MAX, &m);
	for (i = 0; i < n; i++)
		alert_outbox_put(a, m[i], NULL);
	alert_pack_free(m, n);
	for (i = 0; i < nt; i++)
		free(texts[i]);
	for (i = 0; i < nf; i++) {
		free(firsts[i]);
		free(ids[i]);
	}
	free(texts);
	free(firsts);
	free(ids);
	alert_known_save(a);
}

/* --- incidents ------------------------------------------------------------ */

static struct al_inc *
alert_find(struct alert *a, const char *id)
{
	size_t i;

	for (i = 0; i < a->ninc; i++)
		if (strcmp(a->inc[i].id, id) == 0)
			return &a->inc[i];
	return NULL;
}

static struct al_inc *
alert_add(
    struct alert *a, const char *kind, const char *subject, const char *detail)
{
	struct al_inc *i;
	uint64_t now = clock_mono_ms(), sent_wall;

	a->inc = xreallocarray(a->inc, a->ninc + 1, sizeof(*a->inc));
	i = &a->inc[a->ninc++];
	memset(i, 0, sizeof(*i));
	i->id = xasprintf("%s:%s", kind, subject);
	i->kind = xstrdup(kind);
	i->subject = xstrdup(subject);
	snprintf(i->detail, sizeof(i->detail), "%s", detail);
	i->opened_ms = now;
	i->opened_wall = clock_wall_ms();
	i->due_ms = now + a->grace_ms;
	if (alert_known_take(a, i->id, &sent_wall, &i->delivered)) {
		/* sent before a restart: remind on the old schedule */
		log_info(
		    "incident %s was sent before this start; not again", i->id);
		i->sent = 1;
		i->opened_wall = sent_wall;
		i->remind_ms = now + a->repeat_ms;
	}
	return i;
}

/* save: record that it is no longer open (not when shutting down: what
 * was sent stays known for the next start) */
static void
alert_remove(struct alert *a, struct al_inc *i, int save)
{
	int was_sent = i->sent;

	if (i->delivered && save && a->change_cb)
		a->change_cb(a->change_arg);
	free(i->id);
	free(i->kind);
	free(i->subject);
	*i = a->inc[--a->ninc];
	if (was_sent && save)
		alert_known_save(a);
}

static void
alert_on_raised(
    struct alert *a, const char *kind, const char *subject, const char *detail)
{
	/* ids as long as their subjects: a cut one would never match */
	char *id = xasprintf("%s:%s", kind, subject), *fid;
	unsigned opens;
	struct al_inc *f;

	opens = alert_flaps_open(a->flaps, id, clock_mono_ms());
	if (a->flap_limit == 0 || opens <= a->flap_limit) {
		if (alert_find(a, id) == NULL)
			alert_add(a, kind, subject, detail);
		free(id);
		return;
	}
	fid = xasprintf("flapping:%s", id);
	if ((f = alert_find(a, fid)) == NULL) {
		f = alert_add(a, "flapping", id, "");
		f->due_ms = clock_mono_ms(); /* it has lasted long enough */
		log_warnx(
		    "incident %s flapping: %u opens in an hour", id, opens);
	}
	snprintf(f->detail, sizeof(f->detail),
	    "opened %u times in the last hour; latest: %s", opens, detail);
	free(fid);
	free(id);
}

static void
alert_on_closed(
    struct alert *a, const char *kind, const char *subject, const char *why)
{
	char *id = xasprintf("%s:%s", kind, subject), text[2048];
	char since[CLOCK_ISO_LEN];
	struct al_inc *i = alert_find(a, id);
	const char *holder;
	uint64_t open_s, now;

	if (i == NULL) {
		free(id);
		return; /* flapping: its own entry closes later */
	}
	open_s = (clock_mono_ms() - i->opened_ms + 500) / 1000;
	if (!i->sent) {
		a->held++;
		log_info("incident %s closed after %llu s, within alert_grace: "
		         "not sent",
		    id, (unsigned long long)open_s);
		alert_remove(a, i, 1);
		free(id);
		return;
	}
	now = clock_mono_ms();
	holder = alert_mesh_first_holder(a->mesh, id,
	    now > a->down_ms ? now - a->down_ms : 0,
	    now > ALERT_LINGER_MS ? now - ALERT_LINGER_MS : 0);
	if (holder != NULL && strcmp(holder, a->name) < 0) {
		/* it holds it too: one recovery, from the first name */
		log_info("incident %s closed; %s holds it too and sends the "
		         "recovery",
		    id, holder);
		evlog_write_new(a->ev, "alert_dropped", a->name, id,
		    json_pack("{ssss}", "by", holder, "reason",
		        "recovery sent by another holder"));
		a->dropped++;
		alert_remove(a, i, 1);
		free(id);
		return;
	}
	snprintf(text, sizeof(text),
	    "RESOLVED %s %s: %s\n(open since %s, %llu s; from %s)", kind,
	    subject, why, clock_iso8601(i->opened_wall, since, sizeof(since)),
	    (unsigned long long)open_s, a->name);
	alert_queue(a, text, NULL, NULL, NULL);
	alert_remove(a, i, 1);
	free(id);
}

void
alert_on_incident(enum incident_what w, const char *kind, const char *subject,
    const char *detail, void *arg)
{
	struct alert *a = arg;
	char text[1024];

	switch (w) {
	case INCIDENT_RAISED:
		alert_on_raised(a, kind, subject, detail);
		break;
	case INCIDENT_CLOSED:
		alert_on_closed(a, kind, subject, detail);
		break;
	case INCIDENT_NOTE:
		snprintf(text, sizeof(text), "REVIVED %s: %s (by %s)", subject,
		    detail, a->name);
		alert_queue(a, text, NULL, NULL, NULL);
		break;
	}
}

/* the first message of an incident, or a reminder */
static void
alert_due(struct alert *a, struct al_inc *i, uint64_t now)
{
	char text[2048], since[CLOCK_ISO_LEN];
	int first = !i->sent;
	const char *by;

	if (first && (by = alert_mesh_holder(a->mesh, i->id)) != NULL) {
		/* another peer sent it (and died, or acted before us): it is
		 * ours now, for reminders and the recovery, not sent twice */
		log_info("incident %s was delivered by %s; taken over, not "
		         "sent again",
		    i->id, by);
		evlog_write_new(a->ev, "alert_dropped", a->name, i->id,
		    json_pack("{ssss}", "by", by, "reason",
		        "delivered by another peer"));
		a->dropped++;
		i->sent = 1;
		i->remind_ms = now + a->repeat_ms;
		alert_mark_delivered(a, i->id);
		return;
	}
	snprintf(text, sizeof(text), "%s %s %s: %s\n(open since %s; from %s)",
	    first ? "PROBLEM" : "STILL OPEN", i->kind, i->subject, i->detail,
	    clock_iso8601(i->opened_wall, since, sizeof(since)), a->name);
	alert_queue(a, text, first ? i->kind : NULL, i->subject, i->detail);
	i->remind_ms = now + a->repeat_ms;
	/* remembered as sent once its text is in the outbox (alert_flush) */
	i->sent = 1;
}

static void
alert_tick_incidents(struct alert *a, uint64_t now)
{
	size_t k = 0;
	struct al_inc *i;

	while (k < a->ninc) {
		i = &a->inc[k];
		/* a flapping entry ends after an hour without opens */
		if (strcmp(i->kind, "flapping") == 0 &&
		    alert_flaps_count(a->flaps, i->subject, now) == 0) {
			size_t before = a->ninc;

			alert_on_closed(
			    a, i->kind, i->subject, "no opens for an hour");
			if (a->ninc == before)
				k++; /* not found by its id: never loop */
			continue;
		}
		if ((!i->sent && now >= i->due_ms) ||
		    (i->sent && now >= i->remind_ms))
			alert_due(a, i, now);
		k++;
	}
}

static void
alert_on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct alert *a = arg;
	uint64_t now = clock_mono_ms();

	(void)fd;
	(void)what;
	alert_tick_incidents(a, now);
	if (alert_batch_ready(a, now))
		alert_flush(a);
	alert_send_next(a);
}

/* --- setup ---------------------------------------------------------------- */

static void
alert_settings(struct alert *a, const struct conf *c, size_t self)
{
	free(a->api);
	free(a->chat);
	free(a->model);
	free(a->gen_url);
	a->api = xstrdup(c->mesh.telegram_api);
	/* "https://host/" and "https://host" mean the same */
	if (strlen(a->api) > 0 && a->api[strlen(a->api) - 1] == '/')
		a->api[strlen(a->api) - 1] = '\0';
	a->chat = xstrdup(c->mesh.telegram_chat);
	a->model = c->mesh.alert_explain_model
	               ? xstrdup(c->mesh.alert_explain_model)
	               : NULL;
	a->gen_url =
	    xasprintf("http://%s/api/generate", conf_ollama_listen(c, self));
	a->grace_ms = c->mesh.alert_grace_ms;
	a->repeat_ms = c->mesh.alert_repeat_ms;
	a->flap_limit = c->mesh.alert_flap_limit;
	a->explain_ms = c->mesh.alert_explain_timeout_ms;
	a->npeers = c->npeers;
	a->down_ms = c->mesh.down_after_ms;
}

struct alert *
alert_new(struct event_base *base, struct evlog *ev, const struct conf *c,
    size_t self, char *err, size_t errlen)
{
	struct timeval tv = {0, ALERT_TICK_MS * 1000};
	struct alert *a;

	err[0] = '\0';
	if (c->mesh.telegram_token_file == NULL)
		return NULL;
	a = xcalloc(1, sizeof(*a));
	if ((a->token = sodium_malloc(ALERT_TOKEN_MAX)) == NULL) {
		snprintf(err, errlen, "sodium_malloc failed");
		free(a);
		return NULL;
	}
	if (alert_read_token(c->mesh.telegram_token_file, a->token,
	        ALERT_TOKEN_MAX, err, errlen) == -1) {
		alert_free(a);
		return NULL;
	}
	a->base = base;
	a->ev = ev;
	a->name = xstrdup(c->peers[self].name);
	a->state_dir = xstrdup(conf_state_dir(c, self));
	a->outdir = xasprintf("%s/outbox", a->state_dir);
	if (mkdirs(a->outdir, 0700, err, errlen) == -1) {
		alert_free(a);
		return NULL;
	}
	alert_settings(a, c, self);
	a->cv = curlev_new(base);
	a->flaps = alert_flaps_new();
	a->mesh = alert_mesh_new();
	a->hold_until = clock_mono_ms() + a->down_ms + ALERT_HOLD_EXTRA_MS;
	alert_known_load(a);
	alert_outbox_scan(a);
	a->timer = event_new(base, -1, EV_PERSIST, alert_on_tick, a);
	event_add(a->timer, &tv);
	return a;
}

void
alert_reconf(struct alert *a, const struct conf *c, size_t self)
{
	char tok[ALERT_TOKEN_MAX], err[512];
	uint64_t next = clock_mono_ms();
	size_t i;

	if (a == NULL)
		return;
	if (c->mesh.telegram_token_file == NULL)
		return; /* removed: the caller frees the alert */
	alert_settings(a, c, self);
	/* a shorter alert_repeat applies to the open incidents at once */
	next += a->repeat_ms;
	for (i = 0; i < a->ninc; i++)
		if (a->inc[i].sent && a->inc[i].remind_ms > next)
			a->inc[i].remind_ms = next;
	if (alert_read_token(c->mesh.telegram_token_file, tok, sizeof(tok), err,
	        sizeof(err)) == -1)
		log_warnx("reload: keeping the old token: %s", err);
	else
		memcpy(a->token, tok, sizeof(tok));
	sodium_memzero(tok, sizeof(tok));
}

void
alert_free(struct alert *a)
{
	size_t i;

	if (a == NULL)
		return;
	if (a->timer)
		event_free(a->timer);
	if (a->cv != NULL) {
		curlev_get_cancel(a->cv, a->sending);
		curlev_get_cancel(a->cv, a->test);
		/* what is due goes to the outbox, for the next start */
		if (a->nbatch > 0)
			alert_flush(a);
	}
	free(a->batch);
	while (a->ninc > 0)
		alert_remove(a, &a->inc[0], 0);
	free(a->inc);
	for (i = 0; i < a->nknown; i++)
		free(a->known[i].id);
	free(a->known);
	for (i = 0; i < a->nqueue; i++)
		free(a->queue[i]);
	free(a->queue);
	alert_flaps_free(a->flaps);
	alert_mesh_free(a->mesh);
	json_decref(a->inflight);
	free(a->payload);
	curlev_free(a->cv);
	if (a->token)
		sodium_free(a->token);
	free(a->name);
	free(a->api);
	free(a->chat);
	free(a->model);
	free(a->gen_url);
	free(a->state_dir);
	free(a->outdir);
	free(a);
}

/* --- alert-test, /status, /metrics ---------------------------------------- */

static void
alert_on_test(
    CURLcode rc, long http, const json_t *ans, const char *error, void *arg)
{
	struct alert *a = arg;
	char clean[512];
	json_t *r;

	a->test = NULL;
	r = json_pack("{sbsi}", "ok",
	    rc == CURLE_OK && http == 200 &&
	        json_is_true(json_object_get(ans, "ok")),
	    "http", (int)http);
	if (ans != NULL)
		json_object_set_new(r, "answer", json_deep_copy(ans));
	if (rc != CURLE_OK) {
		alert_scrub(error, a->token, clean, sizeof(clean));
		json_object_set_new(r, "error", json_string(clean));
	}
	a->test_cb(r, a->test_arg);
}

int
alert_test(
    struct alert *a, alert_test_cb cb, void *arg, char *err, size_t errlen)
{
	char text[256];

	if (a->test != NULL) {
		snprintf(err, errlen, "busy: a test message is on its way");
		return -1;
	}
	snprintf(text, sizeof(text),
	    "peerwatch alert-test from %s: escalation works.", a->name);
	a->test_cb = cb;
	a->test_arg = arg;
	if ((a->test = alert_post(a, text, alert_on_test, a)) == NULL) {
		snprintf(err, errlen, "could not start the request");
		return -1;
	}
	return 0;
}

void
alert_test_abort(struct alert *a, const char *why)
{
	if (a == NULL || a->test == NULL)
		return;
	curlev_get_cancel(a->cv, a->test);
	a->test = NULL;
	a->test_cb(json_pack("{sbss}", "ok", 0, "error", why), a->test_arg);
}

json_t *
alert_status_json(const struct alert *a)
{
	const char *ids[64], *peers[64];
	size_t i, n = alert_mesh_current(a->mesh, ids, peers, 64);
	json_t *o, *d = json_object();

	/* {"id":{"peer":true}}: what the others report delivered */
	for (i = 0; i < n; i++) {
		json_t *by = json_object_get(d, ids[i]);
		if (by == NULL) {
			by = json_object();
			json_object_set_new(d, ids[i], by);
		}
		json_object_set_new(by, peers[i], json_true());
	}
	o = json_pack("{sbsIsIsIsIsIsIsssO}", "enabled", 1, "outbox",
	    (json_int_t)a->nqueue, "sent", (json_int_t)a->sent, "failed",
	    (json_int_t)a->failed, "rejected", (json_int_t)a->rejected, "held",
	    (json_int_t)a->held, "dropped", (json_int_t)a->dropped,
	    "last_error", a->last_error, "delivered_by", d);
	json_decref(d);
	return o;
}

/* --- what the other peers delivered --------------------------------------- */

void
alert_on_heartbeat(struct alert *a, const char *peer, const json_t *payload)
{
	const char *ids[ALERT_MESH_IDS_MAX];
	const json_t *al, *e;
	size_t i, n = 0;

	if (a == NULL)
		return;
	if (payload == NULL) {
		alert_mesh_heard(a->mesh, peer, clock_mono_ms());
		return;
	}
	al = json_object_get(payload, "al");
	json_array_foreach(al, i, e) {
		if (n == ALERT_MESH_IDS_MAX)
			break;
		if (json_is_string(e))
			ids[n++] = json_string_value(e);
	}
	alert_mesh_report(a->mesh, peer, ids, n, clock_mono_ms());
}

static int
alert_cmp_newest(const void *x, const void *y)
{
	const struct al_inc *const *p = x, *const *q = y;

	if ((*p)->opened_wall != (*q)->opened_wall)
		return (*p)->opened_wall > (*q)->opened_wall ? -1 : 1;
	return strcmp((*p)->id, (*q)->id);
}

/* an incident this peer holds for the mesh: about another peer, delivered */
static int
alert_reportable(const struct alert *a, const struct al_inc *i)
{
	const char *host = strrchr(i->subject, '@');

	return i->delivered && strcmp(i->kind, "flapping") != 0 &&
	       strcmp(host ? host + 1 : i->subject, a->name) != 0;
}

const char *
alert_payload(struct alert *a, const char *base, size_t budget)
{
	const struct al_inc **v;
	const char **ids;
	size_t i, n = 0, *keep, nk;
	json_t *o, *arr;
	char *out;

	if (a == NULL)
		return base;
	v = xreallocarray(NULL, a->ninc + 1, sizeof(*v));
	for (i = 0; i < a->ninc; i++)
		if (alert_reportable(a, &a->inc[i]))
			v[n++] = &a->inc[i];
	if (n == 0 || (o = json_loads(base, 0, NULL)) == NULL) {
		free(v);
		return base;
	}
	qsort(v, n, sizeof(*v), alert_cmp_newest);
	ids = xreallocarray(NULL, n, sizeof(*ids));
	keep = xreallocarray(NULL, n, sizeof(*keep));
	for (i = 0; i < n; i++)
		ids[i] = v[i]->id;
	nk = alert_ids_fit(ids, n, budget, keep);
	arr = json_array();
	for (i = 0; i < nk; i++)
		json_array_append_new(arr, json_string(ids[keep[i]]));
	free(v);
	free(ids);
	free(keep);
	if (nk == 0 || !json_is_object(o) ||
	    json_object_set_new(o, "al", arr) == -1) {
		if (nk == 0 || !json_is_object(o))
			json_decref(arr);
		json_decref(o);
		return base;
	}
	out = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (out == NULL || strlen(out) > strlen(base) + budget) {
		free(out);
		return base;
	}
	free(a->payload);
	a->payload = out;
	return out;
}

void
alert_set_change_cb(struct alert *a, void (*cb)(void *), void *arg)
{
	if (a == NULL)
		return;
	a->change_cb = cb;
	a->change_arg = arg;
}

static void
alert_metric(struct metrics *m, const char *name, const char *type,
    const char *help, uint64_t v)
{
	metrics_family(m, name, type, help);
	metrics_u64(m, name, NULL, v);
}

void
alert_metrics(const struct alert *a, struct metrics *m)
{
	alert_metric(m, "peerwatch_alerts_sent_total", "counter",
	    "Telegram messages the API accepted.", a->sent);
	alert_metric(m, "peerwatch_alert_failures_total", "counter",
	    "Telegram send attempts that failed (retried or set aside).",
	    a->failed);
	alert_metric(m, "peerwatch_alert_outbox", "gauge",
	    "Messages waiting in the outbox.", a->nqueue);
	alert_metric(m, "peerwatch_alerts_held_total", "counter",
	    "Incidents closed within alert_grace, only logged.", a->held);
}
