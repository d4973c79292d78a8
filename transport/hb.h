/* SPDX-License-Identifier: ISC */
/*
 * hb: heartbeat sockets and timers on the libevent loop. Sends a signed
 * datagram to every peer each interval (+-10 % jitter), the full status
 * payload only when it changed or every HB_FULL_EVERY_MS, an empty one
 * otherwise. Receives, checks (structure, known sender, signature, replay,
 * JSON payload) and hands accepted heartbeats up; every drop is counted by
 * reason and changes nothing. Persists this host's incarnation and the last
 * accepted incarnation of every peer in state_dir, so replay protection
 * does not depend on clocks. Never blocks: names that are not IP literals
 * are resolved by the system's getaddrinfo in a thread (transport/resolve),
 * again every minute. Never exits.
 */
#ifndef PW_TRANSPORT_HB_H
#define PW_TRANSPORT_HB_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>

#include "config/conf.h"
#include "transport/wire.h"

#define HB_FULL_EVERY_MS 3000
#define HB_SAVE_MS 10000 /* replay window (with seqs) saved this often */
/* a peer's new incarnation is saved within this, and no more often */
#define HB_INC_SAVE_MS 1000

struct hb;

/* an accepted heartbeat: payload is NULL for a short one (no status) */
struct hb_msg {
	size_t peer; /* index into conf.peers */
	uint64_t incarnation;
	uint64_t seq;
	uint64_t sent_at_ms;
	int new_incarnation; /* first datagram of a new incarnation */
	json_t *payload;     /* borrowed for the callback's duration */
};

typedef void (*hb_recv_cb)(const struct hb_msg *, void *arg);
/* the current status payload (compact JSON); owned by the caller */
typedef const char *(*hb_status_cb)(void *arg);

struct hb_counters {
	uint64_t sent;
	uint64_t sent_full;
	uint64_t bytes_sent;
	uint64_t received; /* accepted */
	uint64_t bytes_received;
	uint64_t drops[WIRE_NDROPS];
	uint64_t send_errors;
	uint64_t replay_saves; /* writes of replay.json */
};

/*
 * conf is borrowed and must outlive the hb (hb_reconf swaps it).
 * seckey: 64 bytes, copied into sodium_malloc'd memory.
 */
struct hb *hb_new(struct event_base *, const struct conf *, size_t self,
    const unsigned char *seckey, hb_recv_cb, hb_status_cb, void *arg, char *err,
    size_t errlen);
void hb_free(struct hb *);

/* start the send timer (after the owner is ready to answer status_cb) */
void hb_start(struct hb *);
/* send a heartbeat to everyone now (status changed), full payload, and
 * the full payload again with the next scheduled one */
void hb_kick(struct hb *);
/* a reloaded config: peers may have changed; same self name required */
int hb_reconf(
    struct hb *, const struct conf *, size_t self, char *err, size_t errlen);

/* sign with a new 64-byte secret key from now on (key rotation) */
void hb_set_key(struct hb *, const unsigned char *seckey);
uint64_t hb_incarnation(const struct hb *);
const struct hb_counters *hb_counters(const struct hb *);
/* the last accepted (incarnation, seq) of a peer; 0,0 if none */
void hb_last(const struct hb *, size_t peer, uint64_t *inc, uint64_t *seq);

/* read, bump and persist state_dir/incarnation: max(saved+1, now_s) */
int hb_next_incarnation(const char *state_dir, uint64_t now_s, uint64_t *inc,
    char *err, size_t errlen);

#endif
