/* SPDX-License-Identifier: ISC */
/*
 * cmdrun: run a configured command line (a probe, a restart, a cleanup)
 * without blocking the loop and without a shell. The line is split into
 * words the way a shell would split it (blanks, '...', "...", backslash)
 * but nothing is expanded: no variables, globs, pipes or redirections;
 * write `sh -c '...'` for those. The child gets /dev/null as stdin, one
 * pipe for stdout and stderr (its tail is kept for the event log), its
 * own process group (a timeout kills the whole group), default signal
 * dispositions and no inherited descriptors. It is done when it has been
 * reaped: a command that leaves a daemon behind holding the pipe still
 * finishes. Never exits, never logs the output.
 */
#ifndef PW_HEAL_CMDRUN_H
#define PW_HEAL_CMDRUN_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#define CMDRUN_TAIL 512 /* bytes of output kept */
#define CMDRUN_MAX_WORDS 64

struct cmdrun_result {
	int exit_code;   /* 0..255 when it exited, else -1 */
	int signal;      /* the signal that ended it, else 0 */
	int timed_out;   /* killed by us at the timeout */
	int exec_failed; /* it never ran: not found, not executable */
	uint64_t elapsed_ms;
	char tail[CMDRUN_TAIL + 1]; /* last output, NUL-terminated, sanitised */
};

typedef void (*cmdrun_cb)(const struct cmdrun_result *, void *arg);

struct cmdrun;

/*
 * Split line into at most CMDRUN_MAX_WORDS words in argv (NULL-terminated,
 * one allocation: free(*argv)). 0, or -1 with err set (unbalanced quote,
 * no words, too many).
 */
int cmdrun_split(const char *line, char ***argv, char *err, size_t errlen);

/*
 * Start line; cb runs once from the loop when the child is reaped (or
 * right after a timeout kill has reaped it). NULL with err set if it could
 * not be started (cb is then not called).
 */
struct cmdrun *cmdrun_start(struct event_base *, const char *line,
    uint64_t timeout_ms, cmdrun_cb, void *arg, char *err, size_t errlen);

/* kill it (its process group) without a callback; reaped in the
 * background. Safe from inside any callback but its own. */
void cmdrun_cancel(struct cmdrun *);

/* "exit 3", "signal 9", "timed out after 5000 ms", "not found" */
void cmdrun_describe(const struct cmdrun_result *, char *buf, size_t len);

/*
 * In a child between fork and exec (async-signal-safe only): close every
 * descriptor from first_fd up and reset signal dispositions and the mask.
 */
void cmdrun_child_reset(int first_fd);

/* kill and reap every command still running (daemon shutdown) */
void cmdrun_shutdown(void);

#endif
