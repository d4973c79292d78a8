/* SPDX-License-Identifier: ISC */
/*
 * resread: the reader thread of the resource guards. sysinfo_disk
 * (statvfs, statfs) waits as long as its file system does, and a hung
 * NFS or SMB mount may never answer: the figures are read on a thread of
 * their own, never on the loop. The loop hands it one reading at a time,
 * with copies of the paths (a reload cannot race it); the answer comes
 * back through a pipe the loop watches, and the callback runs on the
 * loop. The thread calls nothing of libevent's, logs nothing and has
 * every signal blocked. A reading that does not return holds the thread,
 * never the loop: resread_busy says what it waits on, and resread_free
 * leaves such a thread detached, to free what it owns if it ever returns.
 * Never exits.
 *
 * Test hooks (resguard.h): the figures from a file instead of this host
 * (test_file), and a reading that waits before each disk while a file
 * exists (hang_file), polled every RESREAD_HANG_POLL_MS.
 */
#ifndef PW_HEAL_RESREAD_H
#define PW_HEAL_RESREAD_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#define RESREAD_ERR_MAX 256
#define RESREAD_HANG_POLL_MS 50

/* one disk as asked: rc 0 with its figures, or -1 with err (an errno;
 * 0 when the test-hook file does not name it) */
struct resread_disk {
	char *path;
	int rc, err;
	uint64_t total, avail; /* avail <= total, total > 0 */
};

struct resread_answer {
	struct resread_disk *disk; /* in the order asked */
	size_t ndisk;
	int swap_rc, swap_err;
	uint64_t swap_total, swap_used;
	/* with a test-hook file: its first complaint ("" for none), and
	 * whether it gave figures at all (-1: none) */
	char test_err[RESREAD_ERR_MAX];
	int test_rc;
};

typedef void (*resread_cb)(const struct resread_answer *, void *arg);

struct resread;

/*
 * The thread and the pipe; test_file and hang_file may be NULL (copied).
 * cb runs on the loop once per reading. NULL (logged) when there is no
 * pipe; without a thread the readings are taken on the loop, logged once.
 */
struct resread *resread_new(struct event_base *, const char *test_file,
    const char *hang_file, resread_cb, void *arg);
/* read paths (copied) and swap: 0, or -1 while a reading is in flight */
int resread_start(struct resread *, char *const *paths, size_t n);
/* 1 while a reading is in flight, with when it began (clock_mono_ms)
 * and what it waits on now ("disk /mnt/x", "swap"); else 0 */
int resread_busy(struct resread *, uint64_t *since_ms, char *what, size_t len);
/* never waits for a reading in flight; no callback after it */
void resread_free(struct resread *);

#endif
