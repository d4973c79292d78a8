/* SPDX-License-Identifier: ISC */
/*
 * incident: open incidents in a small array (a mesh has a handful at most),
 * keyed by (kind, subject).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/clock.h"
#include "common/evlog.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "heal/incident.h"

struct incident {
	char *kind;
	char *subject;
	char detail[512];
	uint64_t since_ms;
	uint64_t updated_ms;
	unsigned count;
};

struct incidents {
	struct incident *v;
	size_t n;
	struct evlog *ev;
	incident_cb cb;
	void *arg;
};

struct incidents *
incidents_new(struct evlog *ev, incident_cb cb, void *arg)
{
	struct incidents *is = xcalloc(1, sizeof(*is));

	is->ev = ev;
	is->cb = cb;
	is->arg = arg;
	return is;
}

void
incidents_set_cb(struct incidents *is, incident_cb cb, void *arg)
{
	size_t k;

	is->cb = cb;
	is->arg = arg;
	for (k = 0; cb != NULL && k < is->n; k++)
		cb(INCIDENT_RAISED, is->v[k].kind, is->v[k].subject,
		    is->v[k].detail, arg);
}

static void
incident_clear(struct incident *i)
{
	free(i->kind);
	free(i->subject);
}

void
incidents_free(struct incidents *is)
{
	size_t k;

	if (is == NULL)
		return;
	for (k = 0; k < is->n; k++)
		incident_clear(&is->v[k]);
	free(is->v);
	free(is);
}

static struct incident *
incident_find(const struct incidents *is, const char *kind, const char *subject)
{
	size_t k;

	for (k = 0; k < is->n; k++)
		if (strcmp(is->v[k].kind, kind) == 0 &&
		    strcmp(is->v[k].subject, subject) == 0)
			return &is->v[k];
	return NULL;
}

int
incident_raise(struct incidents *is, const char *kind, const char *subject,
    uint64_t wall_ms, const char *fmt, ...)
{
	struct incident *i = incident_find(is, kind, subject);
	va_list ap;
	int isnew = i == NULL;

	if (isnew) {
		is->v = xreallocarray(is->v, is->n + 1, sizeof(*is->v));
		i = &is->v[is->n++];
		memset(i, 0, sizeof(*i));
		i->kind = xstrdup(kind);
		i->subject = xstrdup(subject);
		i->since_ms = wall_ms;
	}
	va_start(ap, fmt);
	vsnprintf(i->detail, sizeof(i->detail), fmt, ap);
	va_end(ap);
	i->updated_ms = wall_ms;
	i->count++;
	if (!isnew)
		return 0;
	log_warnx(
	    "escalation kind=%s subject=%s: %s", kind, subject, i->detail);
	if (is->ev)
		evlog_write_new(is->ev, "escalation", subject, i->detail,
		    json_pack("{ss}", "kind", kind));
	if (is->cb)
		is->cb(INCIDENT_RAISED, kind, subject, i->detail, is->arg);
	return 1;
}

void
incident_note(struct incidents *is, const char *kind, const char *subject,
    const char *detail)
{
	if (is->cb)
		is->cb(INCIDENT_NOTE, kind, subject, detail, is->arg);
}

static void
incident_remove(struct incidents *is, size_t k, const char *why)
{
	struct incident *i = &is->v[k];

	log_info(
	    "incident closed kind=%s subject=%s: %s", i->kind, i->subject, why);
	if (is->ev)
		evlog_write_new(is->ev, "incident_closed", i->subject, why,
		    json_pack("{sssI}", "kind", i->kind, "open_ms",
		        (json_int_t)(clock_wall_ms() > i->since_ms
		                         ? clock_wall_ms() - i->since_ms
		                         : 0)));
	if (is->cb)
		is->cb(INCIDENT_CLOSED, i->kind, i->subject, why, is->arg);
	incident_clear(i);
	memmove(i, i + 1, (is->n - k - 1) * sizeof(*i));
	is->n--;
}

int
incident_close(struct incidents *is, const char *kind, const char *subject,
    const char *why)
{
	size_t k = 0;
	int closed = 0;

	while (k < is->n) {
		if ((kind == NULL || strcmp(is->v[k].kind, kind) == 0) &&
		    strcmp(is->v[k].subject, subject) == 0) {
			incident_remove(is, k, why);
			closed++;
		} else
			k++;
	}
	return closed;
}

static int
incident_about(const char *subject, const char *peer)
{
	const char *at = strrchr(subject, '@');

	return strcmp(subject, peer) == 0 || (at && strcmp(at + 1, peer) == 0);
}

int
incident_close_peer(struct incidents *is, const char *peer, const char *why)
{
	size_t k = 0;
	int closed = 0;

	while (k < is->n) {
		if (incident_about(is->v[k].subject, peer)) {
			incident_remove(is, k, why);
			closed++;
		} else
			k++;
	}
	return closed;
}

int
incident_is_open(
    const struct incidents *is, const char *kind, const char *subject)
{
	return incident_find(is, kind, subject) != NULL;
}

size_t
incident_count(const struct incidents *is)
{
	return is->n;
}

json_t *
incidents_json(const struct incidents *is)
{
	char since[CLOCK_ISO_LEN], upd[CLOCK_ISO_LEN];
	json_t *a = json_array();
	size_t k;

	for (k = 0; k < is->n; k++) {
		const struct incident *i = &is->v[k];
		json_array_append_new(
		    a, json_pack("{sssssssssssi}", "kind", i->kind, "subject",
		           i->subject, "since",
		           clock_iso8601(i->since_ms, since, sizeof(since)),
		           "updated",
		           clock_iso8601(i->updated_ms, upd, sizeof(upd)),
		           "detail", i->detail, "count", (int)i->count));
	}
	return a;
}
