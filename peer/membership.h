/* SPDX-License-Identifier: ISC */
/*
 * membership: the table of peers as this host sees them, the failure
 * detector (alive -> suspect -> down), quorum votes, and the choice of the
 * single acting peer for each silent target. Pure state: time comes in as
 * arguments and nothing here touches a socket or the loop, so tests can
 * drive it tick by tick. Events go to the event log (may be NULL) and to
 * one upward callback. Never blocks, never exits.
 */
#ifndef PW_PEER_MEMBERSHIP_H
#define PW_PEER_MEMBERSHIP_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "common/evlog.h"
#include "config/conf.h"

enum membership_state {
	MEMBERSHIP_ALIVE,
	MEMBERSHIP_SUSPECT,
	MEMBERSHIP_DOWN,
	MEMBERSHIP_UNKNOWN /* only in a peer's reported view */
};

enum membership_event {
	MEMBERSHIP_EV_ACT_START,   /* this host now acts for peer */
	MEMBERSHIP_EV_ACT_STOP,    /* ... no longer (peer is back or
	                              another peer took over) */
	MEMBERSHIP_EV_RESTARTED,   /* peer came back, new incarnation */
	MEMBERSHIP_EV_VIEW_CHANGED /* our payload changed: send it now */
};

typedef void (*membership_event_cb)(
    enum membership_event, size_t peer, void *arg);

struct membership;

/* conf borrowed; now_ms from the monotonic clock */
struct membership *membership_new(const struct conf *, size_t self,
    uint64_t incarnation, struct evlog *, membership_event_cb, void *arg,
    uint64_t now_ms);
void membership_free(struct membership *);
/* after SIGHUP: peers are matched by name, unknown ones start fresh */
void membership_reconf(
    struct membership *, const struct conf *, size_t self, uint64_t now_ms);

/* an accepted heartbeat (payload NULL for a short one) */
void membership_on_heartbeat(struct membership *, size_t peer,
    uint64_t incarnation, uint64_t sent_at_ms, int new_incarnation,
    const json_t *payload, uint64_t now_ms, uint64_t wall_ms);
/* the periodic tick: timers, stall detection, votes, acting */
void membership_tick(struct membership *, uint64_t now_ms);

/* what this host is doing about a target it acts for */
void membership_set_step(struct membership *, size_t peer, const char *step,
    unsigned attempt, uint64_t wall_ms);

/* compact JSON of this host's status for heartbeats (owned by m) */
const char *membership_payload(struct membership *);
/* the /status contract object (new reference) */
json_t *membership_status_json(const struct membership *, uint64_t now_ms);

enum membership_state membership_state_of(const struct membership *, size_t);
int membership_confirmed_down(const struct membership *, size_t peer);
int membership_has_quorum(const struct membership *);
/* index of the acting peer for target, or -1 */
int membership_acting_peer(const struct membership *, size_t target);
int membership_is_acting(const struct membership *, size_t target);
/* would this host be the acting peer for target if it went silent now? */
int membership_would_act(const struct membership *, size_t target);
uint64_t membership_incarnation_of(const struct membership *, size_t peer);
/* count of transitions, for /metrics: suspicions, local downs, confirmed
 * downs, self-stalls; resolved: suspicions that ended with a heartbeat;
 * held: downs held at suspect because another peer still hears the peer
 * (either may be NULL) */
void membership_counts(const struct membership *, uint64_t *suspects,
    uint64_t *downs, uint64_t *confirmed, uint64_t *stalls, uint64_t *resolved,
    uint64_t *held);

const char *membership_state_name(enum membership_state);

/* the state peer's last full status gave for its service: "u", "d", "?"
 * (with "!" when its breaker is open), or NULL if it reported none */
const char *membership_service_state(
    const struct membership *, size_t peer, const char *service);

/*
 * Laptops and planned work. sleep_notice: this host says in its status
 * that it goes to sleep (the peers show it asleep: never down, revived or
 * paged, until it is heard without the notice or max_sleep passes); the
 * notice ends by itself when the loop wakes from a stall. maintenance:
 * key is a peer name or SERVICE@PEER, held for duration_ms (0 ends it);
 * the newest setting of a key travels in every status and wins on every
 * peer. 0, or -1 with err.
 */
void membership_sleep_notice(struct membership *, int sleeping);
int membership_maintenance(struct membership *, const char *key,
    uint64_t duration_ms, char *err, size_t errlen);
/* wall ms until which key is in maintenance; 0 when it is not */
uint64_t membership_maintenance_until(
    const struct membership *, const char *key);

/* a datagram (incarnation, seq) from peer arrived: its sequence gaps
 * feed the loss estimate that stretches its down_after on a lossy link */
void membership_note_seq(
    struct membership *, size_t peer, uint64_t incarnation, uint64_t seq);

#endif
