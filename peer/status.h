/* SPDX-License-Identifier: ISC */
/*
 * status: the read-only HTTP surface on status_listen: GET /status (JSON,
 * the same object `peerwatch status --json` prints), GET /metrics
 * (Prometheus text), GET /events?n=N (the last N events, JSON, newest
 * last, N at most 200, 50 without it) and the status page: GET / with its
 * /app.css and /app.js, embedded in the binary; HEAD of each. It never
 * triggers an action: any other method is refused with 405. One request
 * per connection, at most STATUS_MAX_OPEN connections, each cut
 * STATUS_DEADLINE_MS after it was accepted; the Host header must be an IP
 * literal, localhost or a name from peers.conf (403 otherwise).
 */
#ifndef PW_PEER_STATUS_H
#define PW_PEER_STATUS_H

#include <stddef.h>

#include <event2/event.h>
#include <jansson.h>

#include "config/conf.h"

#define STATUS_MAX_OPEN 32
#define STATUS_DEADLINE_MS 10000
#define STATUS_MAX_HEAD 8192

struct status;

/* new reference to the status object */
typedef json_t *(*status_json_cb)(void *arg);
/* Prometheus text, malloc'd */
typedef char *(*status_metrics_cb)(void *arg);
/* the last n (<= EVLOG_RECENT_MAX) events as a JSON array text, malloc'd */
typedef char *(*status_events_cb)(size_t n, void *arg);

/* listens on conf_status_listen(conf, self); conf is not kept */
struct status *status_new(struct event_base *, const struct conf *, size_t self,
    status_json_cb, status_metrics_cb, status_events_cb, void *arg, char *err,
    size_t errlen);
/* after a reload: the names accepted in Host (the socket stays) */
void status_reconf(struct status *, const struct conf *, size_t self);
void status_free(struct status *);

#endif
