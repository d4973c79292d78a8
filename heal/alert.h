/* SPDX-License-Identifier: ISC */
/*
 * alert: escalation to Telegram, fed by the incident seam (incident.h).
 * Only the host that raises an incident sends it, and incidents are raised
 * where DESIGN.md says they are owned: the acting peer for another peer,
 * the host itself for its own quorum and services; a sender that dies is
 * taken over by the next acting peer without a second PROBLEM (see
 * alert_on_heartbeat below). An incident that closes
 * within alert_grace is only logged; one that stays open is sent, then
 * reminded every alert_repeat, and its close sends a recovery. An id that
 * opens more than alert_flap_limit times an hour becomes one `flapping`
 * incident. Texts due within about a second go out as one message (split
 * at Telegram's limit). Every message is written to state_dir/outbox
 * before its first attempt and removed only after the API said ok, so a
 * restart sends what was pending. The bot token lives in locked memory, is
 * put into a URL only inside the request, and is scrubbed from every error
 * text. Never blocks (libcurl multi on the loop), never exits.
 */
#ifndef PW_HEAL_ALERT_H
#define PW_HEAL_ALERT_H

#include <stddef.h>

#include <event2/event.h>
#include <jansson.h>

#include "common/evlog.h"
#include "common/metrics.h"
#include "config/conf.h"
#include "heal/incident.h"

struct alert;

/*
 * NULL with err[0] == '\0' when Telegram is not configured; NULL with err
 * set when it is but cannot be used (the token file is missing, a link,
 * readable by group or others, or empty). Sends what the outbox holds.
 */
struct alert *alert_new(struct event_base *, struct evlog *,
    const struct conf *, size_t self, char *err, size_t errlen);
void alert_free(struct alert *);
/* new settings (the token file is read again; kept if it cannot be).
 * Settings removed: nothing here; the caller frees the alert */
void alert_reconf(struct alert *, const struct conf *, size_t self);

/* the incident_cb; arg is the struct alert */
void alert_on_incident(enum incident_what, const char *kind,
    const char *subject, const char *detail, void *arg);

/* a test message now, outside the outbox; cb gets {"ok","http","answer"
 * or "error"} (a new reference) exactly once. 0, or -1 with err */
typedef void (*alert_test_cb)(json_t *result, void *arg);
int alert_test(
    struct alert *, alert_test_cb, void *arg, char *err, size_t errlen);
/* a test message on its way is given up: its cb gets {"ok":false,
 * "error":why} now (before an alert_free that is not the daemon's end) */
void alert_test_abort(struct alert *, const char *why);

/*
 * Exactly one sender, across the mesh: every heartbeat goes to
 * alert_on_heartbeat (payload NULL for a short one); alert_payload adds
 * "al", the ids of the incidents about other peers this one delivered
 * (most recent first, within budget bytes), to the status payload base.
 * An incident another peer reports delivered is not sent again (its
 * PROBLEM is dropped from the outbox, logged as alert_dropped); of two
 * holders the first name sends the recovery. After a start, the outbox
 * waits for every peer's report (at most down_after + 4 s). The change_cb
 * runs when what alert_payload says changed. All take a NULL alert.
 */
void alert_on_heartbeat(
    struct alert *, const char *peer, const json_t *payload);
const char *alert_payload(struct alert *, const char *base, size_t budget);
void alert_set_change_cb(struct alert *, void (*cb)(void *), void *arg);

/* {"enabled":true,"outbox","sent","failed","rejected","held","dropped",
 * "last_error","delivered_by":{"id":{"peer":true}}} */
json_t *alert_status_json(const struct alert *);
void alert_metrics(const struct alert *, struct metrics *);

/* the token file: a regular file, not a link, 0600 or stricter; the token
 * (one line) into buf. 0, or -1 with a message that never quotes it */
int alert_read_token(
    const char *path, char *buf, size_t len, char *err, size_t errlen);

#endif
