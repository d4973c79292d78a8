/* SPDX-License-Identifier: ISC */
/*
 * resolve: host names to addresses with the system's getaddrinfo(3), off
 * the loop. Each lookup runs in a short-lived detached thread and hands
 * its answer back through a pipe the loop reads, so the loop never waits
 * on DNS, and names resolve the way every other program on the host sees
 * them: /etc/hosts, nsswitch, and on macOS the system resolver with
 * mDNS (.local), Tailscale MagicDNS and split DNS, which a resolver
 * reading only /etc/resolv.conf (evdns) misses. Never exits.
 */
#ifndef PW_TRANSPORT_RESOLVE_H
#define PW_TRANSPORT_RESOLVE_H

#include <sys/types.h>
#include <sys/socket.h>

#include <netdb.h>
#include <stddef.h>

#include <event2/event.h>

/* lookups in flight (running or cancelled but not yet returned) */
#define RESOLVE_MAX_INFLIGHT 32

struct resolve;
struct resolve_req;

/* rc is getaddrinfo's (0 or an EAI_* code, gai_strerror); the callback
 * owns res (freeaddrinfo), NULL when rc != 0 */
typedef void (*resolve_cb)(int rc, struct addrinfo *res, void *arg);

struct resolve *resolve_new(struct event_base *, char *err, size_t errlen);
/* cancels every lookup (no callback runs after this); the threads still
 * in getaddrinfo finish on their own and free what they hold */
void resolve_free(struct resolve *);
/* NULL (and no callback) when RESOLVE_MAX_INFLIGHT lookups are in flight
 * or no thread could be started; else the callback runs later, on the
 * loop, never inside this call */
struct resolve_req *resolve_start(struct resolve *, const char *host,
    const char *port, const struct addrinfo *hints, resolve_cb, void *arg);
/* the callback will not run; req is not to be used again */
void resolve_cancel(struct resolve_req *);
unsigned resolve_inflight(const struct resolve *);

/* tests: the lookup function the threads call (NULL: getaddrinfo) */
typedef int (*resolve_gai_fn)(
    const char *, const char *, const struct addrinfo *, struct addrinfo **);
void resolve_set_gai(resolve_gai_fn);

#endif
