/* SPDX-License-Identifier: ISC */
/*
 * alertfmt: the pure parts of escalation, kept apart so they can be tested
 * without a loop: packing a burst of texts into messages within Telegram's
 * limit, counting how often an incident opened in the last hour (flapping),
 * naming outbox files, and scrubbing a bot token out of any string. Never
 * blocks, never logs, never exits.
 */
#ifndef PW_HEAL_ALERTFMT_H
#define PW_HEAL_ALERTFMT_H

#include <stddef.h>
#include <stdint.h>

/* Telegram's sendMessage limit (characters; we count bytes, never fewer) */
#define ALERT_MSG_MAX 4096

/*
 * Pack n texts into as few messages of at most max bytes as the order
 * allows, joined by a blank line; a text too long for one message is cut
 * at a line break (else at a UTF-8 character boundary) into several.
 * *out gets a new array of new strings; returns how many.
 */
size_t alert_pack(const char *const *texts, size_t n, size_t max, char ***out);
void alert_pack_free(char **msgs, size_t n);

/* opens of each incident id within the last hour */
struct alert_flaps;
struct alert_flaps *alert_flaps_new(void);
void alert_flaps_free(struct alert_flaps *);
/* record an open of id at now_ms; returns the opens within the hour up to
 * now_ms, this one included */
unsigned alert_flaps_open(
    struct alert_flaps *, const char *id, uint64_t now_ms);
/* opens of id within the hour before now_ms */
unsigned alert_flaps_count(
    const struct alert_flaps *, const char *id, uint64_t now_ms);

/* outbox file names sort in the order written: "m<wall ms>-<seq>.json" */
#define ALERT_OUTBOX_NAME_LEN 40
void alert_outbox_name(char *buf, size_t len, uint64_t wall_ms, unsigned seq);
/* 1 if name is one alert_outbox_name makes, else 0 */
int alert_outbox_name_ok(const char *name);

/*
 * What the mesh knows about delivered incidents. Each peer reports in its
 * status payload ("al") the ids of the incidents about other peers that it
 * holds open and delivered; this keeps, per peer, its latest report, when
 * each id was last in one, and when the peer was last heard.
 */
#define ALERT_MESH_IDS_MAX 16 /* ids read from one report */
#define ALERT_MESH_ID_MAX 200 /* bytes; a longer one is ignored */
struct alert_mesh;
struct alert_mesh *alert_mesh_new(void);
void alert_mesh_free(struct alert_mesh *);
/* a heartbeat from peer (with or without a report) */
void alert_mesh_heard(struct alert_mesh *, const char *peer, uint64_t now_ms);
/* peer's report replaces its last one; ids not valid are skipped */
void alert_mesh_report(struct alert_mesh *, const char *peer,
    const char *const *ids, size_t n, uint64_t now_ms);
/* a peer whose latest report holds id (alive or not), or NULL */
const char *alert_mesh_holder(const struct alert_mesh *, const char *id);
/* the smallest-named peer heard since alive_since that held id at some
 * report since held_since, or NULL */
const char *alert_mesh_first_holder(const struct alert_mesh *, const char *id,
    uint64_t alive_since, uint64_t held_since);
/* the (id, peer) pairs of every latest report, up to max: how many */
size_t alert_mesh_current(const struct alert_mesh *, const char **ids,
    const char **peers, size_t max);
/* how many peers sent a report (a full status payload) */
size_t alert_mesh_nreported(const struct alert_mesh *);

/*
 * Which of ids (most recent first) fit a payload's ,"al":[...] within
 * budget bytes: their indices into keep (room for n); returns how many.
 * An id that does not fit is left out, a shorter later one may still fit.
 */
size_t alert_ids_fit(
    const char *const *ids, size_t n, size_t budget, size_t *keep);

/*
 * in with every occurrence of token, and of anything shaped like a bot
 * token after "bot" ("bot123:abc-_"), replaced by "bot<token>"/"<token>",
 * into out (truncated to outlen, always terminated). token may be NULL.
 */
void alert_scrub(const char *in, const char *token, char *out, size_t outlen);

/* s made valid UTF-8 in place: each byte of a malformed, overlong or cut
 * sequence becomes '?' (JSON refuses anything else; texts get cut at a
 * byte count, details come from paths and command output) */
void alert_utf8_fix(char *s);

#endif
