/* SPDX-License-Identifier: ISC */
/*
 * proxy: the Ollama failover endpoint on ollama_listen. Forwards every
 * request (method, headers, body) to a backend Ollama through curl multi
 * on the daemon's loop and streams the answer back chunk by chunk. Picks
 * backends per request (ollama_route), retries on the next one while no
 * response byte reached the client, and never disguises a backend that
 * dies mid-stream: the client gets one final {"error":...} line (an SSE
 * error event on /v1/) and the backend is marked down. Never blocks,
 * never exits.
 */
#ifndef PW_HEAL_PROXY_H
#define PW_HEAL_PROXY_H

#include <stddef.h>

#include <event2/event.h>
#include <jansson.h>

#include "common/evlog.h"
#include "common/metrics.h"
#include "config/conf.h"
#include "heal/curlev.h"
#include "heal/ollama/ollama_report.h"

struct proxy;

/* 1 if any peer has an ollama URL: the endpoint is wanted */
int proxy_wanted(const struct conf *);

/*
 * Listen on conf_ollama_listen(conf, self). conf is borrowed until the
 * next proxy_reconf; cv and ev must outlive the proxy.
 */
struct proxy *proxy_new(struct event_base *, struct curlev *, struct evlog *,
    const struct conf *, size_t self, char *err, size_t errlen);
void proxy_free(struct proxy *);
/*
 * A reload's first half, where it can fail: a listening socket for the
 * new conf_ollama_listen when it differs from the one in use (*fd is -1
 * when it does not). -1 with err: refuse the reload; nothing changed.
 */
int proxy_listen_prepare(const struct proxy *, const struct conf *, size_t self,
    int *fd, char *err, size_t errlen);
/* the second half: the new backends, and fd from proxy_listen_prepare
 * (or -1) becomes the listener; connections open on the old one finish */
void proxy_reconf(struct proxy *, const struct conf *, size_t self, int fd);

/* a backend owner's report: from a heartbeat payload's "ollama" object
 * (peer != self), or this host's own probe */
void proxy_on_payload(struct proxy *, size_t peer, const json_t *ollama);
void proxy_on_local(struct proxy *, const struct ollama_report *);

/* "ollama": backends, their models and health, for /status */
json_t *proxy_status_json(const struct proxy *);
/* Prometheus families: per-backend requests, failures by kind, latency */
void proxy_metrics(const struct proxy *, struct metrics *);

#endif
