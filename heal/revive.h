/* SPDX-License-Identifier: ISC */
/*
 * revive: what this host does about peers it acts for, and about its own
 * guarded files. Per target, a small state machine on the loop
 * (connecting -> verifying -> done, with backoff, a per-hour limit and
 * escalation through incidents); the SSH/SFTP and file work runs in
 * peerwatch-heal worker processes whose results the loop reads from a
 * pipe, so a hung sshd never delays a heartbeat (and is killed if it
 * outlasts its timeouts). Also pulls the `mesh` backup copies of
 * healthy peers it would act for, and checks this host's own guards every
 * guard_interval with the same guard code over the local backend.
 * Never exits; never runs a remote command.
 */
#ifndef PW_HEAL_REVIVE_H
#define PW_HEAL_REVIVE_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>

#include "common/evlog.h"
#include "config/conf.h"
#include "heal/incident.h"

struct revive;

/* an escalated revive tries again after this long, with a new attempt
 * number; max_revives_per_hour counts revives in this window. Peers use
 * both to bound how long another may hold a target in those steps. */
#define REVIVE_ESCALATED_RETRY_MS (5u * 60 * 1000)
#define REVIVE_LIMIT_WINDOW_MS (3600u * 1000)

/* the acting entry for target changed: put it in the next heartbeat */
typedef void (*revive_step_cb)(
    size_t target, const char *step, unsigned attempt, void *arg);
/* would this host act for target if it went silent now? */
typedef int (*revive_would_act_cb)(size_t target, void *arg);
/* what target last reported for its service: "u", "d", "?" (maybe with
 * "!"), or NULL if it reported nothing about it. For this host itself,
 * "u" only when the service was seen up well after since_wall (wall ms:
 * the repair) */
typedef const char *(*revive_service_cb)(
    size_t target, const char *service, uint64_t since_wall, void *arg);
/* a manual revive finished: result is borrowed for the call */
typedef void (*revive_done_cb)(const json_t *result, void *arg);

/* worker: the peerwatch-heal executable (see revive_worker_path) */
struct revive *revive_new(struct event_base *, const struct conf *, size_t self,
    const char *worker, struct evlog *, struct incidents *, revive_step_cb,
    revive_would_act_cb, void *arg);
/* $PEERWATCH_HEAL, else beside self_exe, else ../libexec from it, else
 * the configured libexec dir */
char *revive_worker_path(const char *self_exe);
/* kills and reaps heal workers still running; their results are dropped */
void revive_free(struct revive *);
void revive_reconf(struct revive *, const struct conf *, size_t self);

void revive_act_start(struct revive *, size_t target);
/* alive: the target is back (its incidents close); else another peer
 * took over or this one lost quorum (they stay open) */
void revive_act_stop(struct revive *, size_t target, int alive);
/* target's heartbeat arrived with a new incarnation */
void revive_peer_restarted(struct revive *, size_t target);

/* `peerwatch revive PEER [--dry-run]`: resets the hourly limit (unless
 * dry_run); done is called exactly once. -1 with err if it cannot start. */
int revive_manual(struct revive *, size_t target, int dry_run,
    revive_done_cb done, void *arg, char *err, size_t errlen);

/* per target: phase, attempts, revives this hour, last outcome */
json_t *revive_status_json(const struct revive *);

/*
 * A revive is done when the target restarted (revive_peer_restarted) and
 * every service its guards name (`service = NAME@TARGET`) reports up in
 * its heartbeats: then `revive_ok` names them. When revive_verify runs
 * out first: `revive_incomplete` and an incident of that kind (escalated),
 * closed by a later `revive_completed` when they do come up.
 */
void revive_set_service_cb(struct revive *, revive_service_cb);
/* is target still silent (not heard again)? asked by a revive's worker
 * right before it writes on the target; without it, always yes */
typedef int (*revive_silent_cb)(size_t target, void *arg);
void revive_set_silent_cb(struct revive *, revive_silent_cb);
/* a full status from peer idx arrived (its services may have changed) */
void revive_on_status(struct revive *, size_t idx);

#endif
