/* SPDX-License-Identifier: ISC */
/*
 * rvjob: one unit of blocking heal work, and the pool of worker processes
 * that runs it. A job copies everything it needs from the config when it
 * is made (the config may be reloaded while it runs). The daemon sends it
 * as JSON to a `peerwatch-heal` child (fork+exec), reads the JSON result
 * from the child's stdout on the loop, kills the child if it overruns, and
 * reaps it on SIGCHLD: the loop never waits on SSH, and libssh (and the
 * libcrypto it pulls in) is never loaded into the daemon.
 * Kinds: REVIVE (SFTP to a silent peer: guard cascade, then flags), PULL
 * (SFTP: copy a healthy peer's guarded files into the mesh store), LOCAL
 * (this host's own guards). rvjob_run is the blocking body (rvwork.c, in
 * the worker); tests may call it directly.
 *
 * Flags only for what needs a restart (rvjob_flag_wanted): a guard's flag
 * when its file was restored (a missing file is restored too), the
 * target's own revive flag when the daemon saw its peerwatch silent.
 *
 * Stopping a REVIVE in flight (the target was heard again): the daemon
 * sends the worker SIGUSR1 (rvpool_cancel). The worker's handler only sets
 * the flag *stop, and every write on the target (create, rename, mkdir,
 * a flag) checks it right before it is made, so a cancelled job writes
 * nothing more: a config already restored stays restored (its broken copy
 * kept), no flag is written. A signal before the handler is installed
 * kills the worker, which had written nothing yet. A signal, not a pipe:
 * it needs no protocol with the worker and wakes a worker blocked in SSH.
 *
 * And the other way round, because a link may come back at the instant
 * SSH connects: before its first write on a silent target, and again
 * before the flags, a REVIVE worker asks the daemon on its stdout (one
 * line, {"ask":"write"}) and waits for "go" or "stop" on its stdin; the
 * daemon answers stop when it hears the target again. A closed pipe is
 * stop.
 */
#ifndef PW_HEAL_RVJOB_H
#define PW_HEAL_RVJOB_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>

#include "config/conf.h"
#include "heal/guard.h"
#include "heal/sftp.h"

enum rvjob_kind { RVJOB_REVIVE, RVJOB_PULL, RVJOB_LOCAL };

struct rvjob_guard {
	struct conf_guard g; /* deep copy */
	struct guard_result res;
	int stored; /* PULL: 1 new copy, 0 same, -1 err */
	int flag_written;
	char err[256];
};

struct rvjob {
	enum rvjob_kind kind;
	size_t target;
	char target_name[CONF_NAME_MAX + 1];
	char self_name[CONF_NAME_MAX + 1];
	int dry_run;
	int manual;
	int peer_silent; /* REVIVE: the daemon saw the target's peerwatch
	                  * silent (confirmed down): its own flag may go */
	char *ssh_host, *ssh_user, *ssh_key, *ssh_hostkey, *known_hosts;
	uint16_t ssh_port;
	uint64_t timeout_ms;
	char *state_dir;   /* this host's: the mesh store */
	char *revive_flag; /* the target's peerwatch flag */
	char *reason;
	struct rvjob_guard *guards;
	size_t nguards;
	/* results */
	enum sftp_fail fail;
	char err[512];
	int peer_flag_written;
	int stopped; /* told to stop: a write or a flag was skipped */
	uint64_t started_ms, elapsed_ms;
	/* the worker's: set (by a signal handler) when told to stop; NULL
	 * never stops. Not sent as JSON. */
	volatile sig_atomic_t *stop;
	/* the worker's: asks the daemon whether the target is still silent,
	 * right before the first write and again before the flags: 1 go,
	 * 0 stop. NULL: never asks (tests). Not sent as JSON. */
	int (*ask)(struct rvjob *);
	int asked_go; /* the last answer was go, for the writes until the
	                 next ask point */
	/* owner's */
	void *done; /* the owner's */
};

/* copies the target's ssh settings and the guards of `target` (for LOCAL:
 * the guards of self) from conf */
struct rvjob *rvjob_new(enum rvjob_kind, const struct conf *, size_t self,
    size_t target, const char *reason);
void rvjob_free(struct rvjob *);
/* the blocking body: in peerwatch-heal (or a test), never the daemon */
void rvjob_run(struct rvjob *);
/* REVIVE/LOCAL body over a given backend (rvjob_run's; tests use it
 * with fslocal for the REVIVE rules) */
void rvjob_heal(struct rvjob *, const struct fsops *);
/* should flag i be written (i == nguards: the target's own revive
 * flag)? why (may be NULL with len 0): what a person reads (in `revive
 * --dry-run`). Decided from the guard outcomes, so it also answers for a
 * dry run. */
int rvjob_flag_wanted(const struct rvjob *, size_t i, char *why, size_t len);
/* [{flag, for, write, written, why}] for the result shown to people */
json_t *rvjob_flags_json(const struct rvjob *);
/* the request and the result as JSON (new references) and back */
json_t *rvjob_to_json(const struct rvjob *);
struct rvjob *rvjob_from_json(const json_t *);
json_t *rvjob_result_to_json(const struct rvjob *);
/* a JSON string of s, with bytes that are not UTF-8 replaced by '?' */
json_t *rvjob_text(const char *s);
int rvjob_result_from_json(struct rvjob *, const json_t *);
/* the worst guard outcome: any NO_SOURCE/ERROR means "no flag" */
int rvjob_all_good(const struct rvjob *);

struct rvpool;
/* a job finished (results filled in, or fail/err set if the worker died);
 * the callback owns the job */
typedef void (*rvpool_done_cb)(struct rvjob *, void *arg);
/* a worker asks to write on j's target (rvjob.h, top): answer with
 * rvpool_answer, at once or later */
typedef void (*rvpool_ask_cb)(const struct rvjob *, void *arg);

/* worker: path of the peerwatch-heal executable */
struct rvpool *rvpool_new(
    struct event_base *, const char *worker, rvpool_done_cb, void *arg);
/* without one, every ask is answered go */
void rvpool_set_ask_cb(struct rvpool *, rvpool_ask_cb);
/* go (1) or stop (0) for j's pending ask; no-op if j has ended */
void rvpool_answer(struct rvpool *, const struct rvjob *, int go);
/* kills and reaps every running worker; their jobs are dropped */
void rvpool_free(struct rvpool *);
int rvpool_submit(struct rvpool *, struct rvjob *);
/* tell the worker running j to stop before its next write (SIGUSR1); the
 * job still finishes through the callback. 0, or -1 if j is not running */
int rvpool_cancel(struct rvpool *, const struct rvjob *);
unsigned rvpool_running(const struct rvpool *);

#endif
