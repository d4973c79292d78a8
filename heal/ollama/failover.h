/* SPDX-License-Identifier: ISC */
/*
 * failover: the Ollama failover capability as the loop sees it, one
 * object: the curl multi, the endpoint (proxy) and this host's own probe
 * (ollama_probe), and the "ollama" part of the heartbeat payload. The loop
 * calls in at a few points and nowhere else. Never blocks, never exits.
 */
#ifndef PW_HEAL_FAILOVER_H
#define PW_HEAL_FAILOVER_H

#include <stddef.h>

#include <event2/event.h>
#include <jansson.h>

#include "common/evlog.h"
#include "common/metrics.h"
#include "config/conf.h"

struct failover;

/* this host's report changed: send a heartbeat now */
typedef void (*failover_kick_cb)(void *arg);

/*
 * NULL with err empty when no peer has an `ollama` URL (nothing to do);
 * NULL with err set when ollama_listen cannot be had. conf is borrowed
 * until the next failover_reconf.
 */
struct failover *failover_new(struct event_base *, struct evlog *,
    const struct conf *, size_t self, failover_kick_cb, void *arg, char *err,
    size_t errlen);
void failover_free(struct failover *);
/* 1 if any peer has an `ollama` URL: the capability has work to do */
int failover_wanted(const struct conf *);
/*
 * A reload in two halves. prepare does what can fail, before anything
 * changes: a new ollama_listen is bound (*fd, or -1 when it is the same);
 * -1 with err refuses the reload. reconf then applies c and takes fd.
 */
int failover_reconf_prepare(const struct failover *, const struct conf *,
    size_t self, int *fd, char *err, size_t errlen);
void failover_reconf(
    struct failover *, const struct conf *, size_t self, int fd);

/* a peer's accepted heartbeat payload (may be NULL) */
void failover_on_payload(struct failover *, size_t peer, const json_t *);
/*
 * The heartbeat payload: base (compact JSON object) with this host's
 * "ollama" report added, fitting a datagram whose sender is self_name.
 * Valid until the next call.
 */
const char *failover_payload(
    struct failover *, const char *base, const char *self_name);

/* something local changed (the local watch saw a service go up or down,
 * the local Ollama perhaps): ask this host's own Ollama now, not at the
 * next probe interval */
void failover_probe_now(struct failover *);

json_t *failover_status_json(const struct failover *);
/* the endpoint's families, added to m */
void failover_metrics(const struct failover *, struct metrics *m);

#endif
