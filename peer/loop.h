/* SPDX-License-Identifier: ISC */
/*
 * loop: the daemon. Owns the one event_base and every module on it
 * (heartbeats, membership, status HTTP, control socket, event log), the
 * periodic tick, and the signals: SIGTERM/SIGINT stop cleanly, SIGHUP
 * reloads peers.conf and keeps the old config when the new one is invalid.
 * May stop the process only at start-up (loop_new fails).
 */
#ifndef PW_PEER_LOOP_H
#define PW_PEER_LOOP_H

#include <stddef.h>

struct loop;

struct loop_opts {
	const char *conf_path;
	const char *name; /* --name, or NULL: find self by key */
	const char
	    *self_exe; /* this binary: peerwatch-heal is found beside it */
};

struct loop *loop_new(const struct loop_opts *, char *err, size_t errlen);
/* runs until SIGTERM/SIGINT; returns 0 */
int loop_run(struct loop *);
void loop_free(struct loop *);

#endif
