/* SPDX-License-Identifier: ISC */
/*
 * incident: the one seam for escalation. Something the mesh cannot fix by
 * itself is raised as an incident (kind + subject), deduplicated while it
 * stays open, updated with the latest detail, and closed when its cause is
 * gone. Raising writes one `escalation` event; closing writes
 * `incident_closed`. A later delivery (Telegram) hooks in here and nowhere
 * else. Never blocks, never exits.
 */
#ifndef PW_HEAL_INCIDENT_H
#define PW_HEAL_INCIDENT_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/evlog.h"

struct incidents;

/* what happened, for delivery */
enum incident_what {
	INCIDENT_CLOSED, /* detail: why */
	INCIDENT_RAISED, /* new; detail: what is wrong */
	INCIDENT_NOTE    /* a one-off report (a revive that worked) */
};
typedef void (*incident_cb)(enum incident_what, const char *kind,
    const char *subject, const char *detail, void *arg);

struct incidents *incidents_new(struct evlog *, incident_cb, void *arg);
void incidents_free(struct incidents *);
/* a new delivery (Telegram set up or removed by a reload): cb hears every
 * incident open now as raised, then whatever follows; NULL: none */
void incidents_set_cb(struct incidents *, incident_cb, void *arg);

/* raise or update; returns 1 if new (an escalation), 0 if updated */
int incident_raise(struct incidents *, const char *kind, const char *subject,
    uint64_t wall_ms, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* a one-off report for delivery (no incident is kept): the cb only */
void incident_note(struct incidents *, const char *kind, const char *subject,
    const char *detail);
/* close one (kind may be NULL: every kind for subject); returns count */
int incident_close(
    struct incidents *, const char *kind, const char *subject, const char *why);
/* close every incident whose subject is `peer` or ends in "@peer" */
int incident_close_peer(struct incidents *, const char *peer, const char *why);
int incident_is_open(
    const struct incidents *, const char *kind, const char *subject);
size_t incident_count(const struct incidents *);

/* [{"kind","subject","since","updated","detail","count"}] new reference */
json_t *incidents_json(const struct incidents *);

#endif
