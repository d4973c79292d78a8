/* SPDX-License-Identifier: ISC */
/*
 * status: the read-only HTTP surface on status_listen: GET /status (JSON,
 * the same object `peerwatch status --json` prints), GET /metrics
 * (Prometheus text) and GET / (a small HTML page). It never triggers an
 * action: anything but GET/HEAD is refused with 405.
 */
#ifndef PW_PEER_STATUS_H
#define PW_PEER_STATUS_H

#include <stddef.h>

#include <event2/event.h>
#include <jansson.h>

struct status;

/* new reference to the status object */
typedef json_t *(*status_json_cb)(void *arg);
/* Prometheus text, malloc'd */
typedef char *(*status_metrics_cb)(void *arg);

struct status *status_new(struct event_base *, const char *listen,
    status_json_cb, status_metrics_cb, void *arg, char *err, size_t errlen);
void status_free(struct status *);

#endif
