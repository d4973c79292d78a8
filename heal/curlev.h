/* SPDX-License-Identifier: ISC */
/*
 * curlev: libcurl's multi interface driven by the daemon's libevent loop
 * (the socket and timer callbacks of curl's multi_socket API). Every
 * transfer carries its own completion callback. A transfer may be removed
 * at any time outside curl's own callbacks; removal never calls the
 * completion callback. Never blocks: name resolution uses curl's threaded
 * resolver. Never exits.
 */
#ifndef PW_HEAL_CURLEV_H
#define PW_HEAL_CURLEV_H

#include <curl/curl.h>
#include <event2/event.h>
#include <jansson.h>

struct curlev;

/* the transfer finished (rc is curl's result); the easy handle is already
 * out of the multi and still belongs to the caller */
typedef void (*curlev_done_cb)(CURL *, CURLcode rc, void *arg);

struct curlev *curlev_new(struct event_base *);
/* every owner must have removed its transfers first */
void curlev_free(struct curlev *);

/* a fresh easy handle (reused when one is idle), NULL if none can be had;
 * give it back with curlev_release, which also stops its transfer */
CURL *curlev_easy(struct curlev *);
void curlev_release(struct curlev *, CURL *);

/* start a transfer; the easy handle stays the caller's. 0 or -1 */
int curlev_add(struct curlev *, CURL *, curlev_done_cb, void *arg);
/* stop a transfer without its callback; no-op if not running */
void curlev_remove(struct curlev *, CURL *);

/*
 * GET url and parse the answer as JSON (at most 4 MiB, within timeout_ms).
 * cb gets the body (borrowed; NULL unless a 200 with JSON came) and runs
 * once, unless cancelled first. Returns the handle, or NULL if nothing
 * could be started (cb is then not called).
 */
struct curlev_get;
typedef void (*curlev_json_cb)(const json_t *body, void *arg);
struct curlev_get *curlev_get_json(
    struct curlev *, const char *url, long timeout_ms, curlev_json_cb, void *);
/* stop it (or a curlev_post_json) without its callback */
void curlev_get_cancel(struct curlev *, struct curlev_get *);

/*
 * POST body (JSON text, copied) to url within timeout_ms. cb runs once
 * (unless cancelled) with curl's result, the HTTP status (0 if none), the
 * answer parsed as JSON whatever the status (borrowed; NULL if it was not
 * JSON) and curl's error text ("" if none). That text may name the URL:
 * scrub it before showing it anywhere. NULL if nothing could be started.
 */
typedef void (*curlev_post_cb)(
    CURLcode rc, long http, const json_t *answer, const char *error, void *arg);
struct curlev_get *curlev_post_json(struct curlev *, const char *url,
    const char *body, long timeout_ms, curlev_post_cb, void *);

#endif
