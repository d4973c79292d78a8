/* SPDX-License-Identifier: ISC */
/*
 * sleepwatch: the system's own "about to sleep" and "awake" notices, on
 * the loop. macOS: IOKit's system power notifications (a serial dispatch
 * queue receives them; a pipe hands each to the loop; the system is let
 * sleep once the loop acknowledges, so the sleep notice goes out first,
 * or after one second at most). Elsewhere there is nothing to watch here:
 * on Linux, deploy-units' peerwatch-sleep.service for sleep.target runs
 * `peerwatch sleep-notice` instead. Never exits.
 */
#ifndef PW_PEER_SLEEPWATCH_H
#define PW_PEER_SLEEPWATCH_H

#include <event2/event.h>

struct sleepwatch;

/* sleeping 1: the system is about to sleep (call sleepwatch_ack when
 * the notice is out); 0: it has woken */
typedef void (*sleepwatch_cb)(int sleeping, void *arg);

/* NULL where the system gives no such notices (or they failed to arm:
 * err says why) */
struct sleepwatch *sleepwatch_new(
    struct event_base *, sleepwatch_cb, void *arg, char *err, size_t errlen);
/* the notice is out: let the system sleep now */
void sleepwatch_ack(struct sleepwatch *);
void sleepwatch_free(struct sleepwatch *);

#endif
