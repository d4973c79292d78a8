/* SPDX-License-Identifier: ISC */
/*
 * ctl: the local control socket, state_dir/control.sock (mode 0600). One
 * JSON request line in, one JSON reply line out, then close. Actions
 * (revive, ...) come only through here, never through HTTP. The server side
 * runs on the loop; the client side (ctl_request) is for the CLI and may
 * block, with a timeout.
 */
#ifndef PW_PEER_CTL_H
#define PW_PEER_CTL_H

#include <stddef.h>

#include <event2/event.h>
#include <jansson.h>

#define CTL_SOCKET_NAME "control.sock"
#define CTL_MAX_LINE 8192  /* bytes of one request line */
#define CTL_MAX_DEFERRED 4 /* answers pending at once */

struct ctl;
struct ctl_req;

/*
 * Handle one request: return a new reference to the reply object, or NULL
 * to answer later with ctl_reply(r, ...) (exactly once; the client may be
 * gone by then, which is fine). r is NULL while CTL_MAX_DEFERRED answers
 * are pending already: then the handler must answer at once.
 */
typedef json_t *(*ctl_handler_cb)(
    const json_t *req, struct ctl_req *r, void *arg);
/* the deferred answer; steals the reference */
void ctl_reply(struct ctl_req *, json_t *reply);

struct ctl *ctl_new(struct event_base *, const char *state_dir, ctl_handler_cb,
    void *arg, char *err, size_t errlen);
void ctl_free(struct ctl *);

/* CLI: send req, wait up to timeout_ms for the reply (new reference) */
int ctl_request(const char *state_dir, const json_t *req, json_t **reply,
    int timeout_ms, char *err, size_t errlen);

#endif
