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
