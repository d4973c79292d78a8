/* SPDX-License-Identifier: ISC */
/*
 * watch: the local watch. Keeps this host's [service NAME@SELF] rules in
 * their desired state: probes each service (HTTP, TCP, a command, or push
 * beats), decides up and down with hysteresis both ways, restarts a down
 * service with backoff, and stops restarting through a circuit breaker
 * (closed -> open after breaker_failures failed restarts within
 * breaker_window -> half-open after breaker_cooldown: one try). A failed
 * restart is a restart command that failed, or one after which the
 * service was still not up when its start_grace ran out. Breaker states
 * survive a daemon restart (state_dir/breakers.json). Every transition is
 * one event; an open breaker is an incident `circuit_open` NAME@PEER.
 * Never blocks: probes run on curl's multi, commands through cmdrun.
 */
#ifndef PW_HEAL_WATCH_H
#define PW_HEAL_WATCH_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>

#include "common/evlog.h"
#include "common/metrics.h"
#include "config/conf.h"
#include "heal/incident.h"

struct watch;

/* something the mesh should hear about changed (for hb_kick) */
typedef void (*watch_change_cb)(void *arg);

struct watch *watch_new(struct event_base *, struct evlog *, struct incidents *,
    const struct conf *, size_t self, watch_change_cb, void *arg);
/* once: for `run --once`: no timers, one probe decides up or down, no
 * restarts, nothing saved (watch_probe_all starts the probes) */
struct watch *watch_new_once(struct event_base *, struct evlog *,
    struct incidents *, const struct conf *, size_t self, watch_change_cb,
    void *arg, int once);
void watch_free(struct watch *);

/*
 * The desired state changed (SIGHUP): services no longer configured stop
 * being watched, new ones start, and unchanged ones keep their state,
 * counters and breaker. A changed rule keeps its breaker.
 */
void watch_reconf(struct watch *, const struct conf *, size_t self);

/* a push beat for service name (peerwatch beat NAME): 0, or -1 with err */
int watch_beat(struct watch *, const char *name, char *err, size_t errlen);
/* re-arm name's breaker and backoff at once: 0, or -1 with err */
int watch_reset(struct watch *, const char *name, char *err, size_t errlen);

/*
 * name's state for a repair made at since_wall (wall ms): "u" when it is
 * up and was seen up well after since (two probe intervals), "d" down,
 * "?" not decided yet; NULL if this host does not watch it
 */
const char *watch_service_state(
    const struct watch *, const char *name, uint64_t since_wall);

/* nonzero while key (NAME@SELF) is in maintenance: watched, not restarted */
typedef int (*watch_hold_cb)(const char *key, void *arg);
void watch_set_hold_cb(struct watch *, watch_hold_cb, void *arg);

/* probe every service once now, whatever its schedule */
void watch_probe_all(struct watch *);
/* every service has a decided state (none is still "unknown") */
int watch_settled(const struct watch *);
/* how many services are down (decided) */
size_t watch_down_count(const struct watch *);

/* /status "services": {NAME: {name, state, breaker, ...}} in config
 * order (new reference) */
json_t *watch_status_json(const struct watch *);
void watch_metrics(const struct watch *, struct metrics *);

/*
 * The heartbeat payload base with "sv" added: {"NAME": "u"|"d"|"?",
 * with "!" appended when its breaker is open, ...}, within budget bytes;
 * returns base when nothing fits. The string stays valid until the next
 * call.
 */
const char *watch_payload(struct watch *, const char *base, size_t budget);

#endif
