/* SPDX-License-Identifier: ISC */
/*
 * resguard: the resource guards of the local watch. Every
 * resource_interval (and at once at start and after a reload) it reads
 * this host's swap and the usage of each configured mount point, and
 * acts on crossings of the levels, with hysteresis (a level is left only
 * RESGUARD_MARGIN_PCT points below it): disk above disk_warn: one `disk_warn`
 * event per crossing, and disk_cleanup run once per crossing (cmdrun, 5 min
 * timeout; its result in a `disk_cleanup` event); above disk_critical: incident
 *     `disk_critical` PATH@HOST, closed when the disk is back below warn.
 *   swap above swap_warn: a `swap_warn` event per crossing, and at most
 *     one unload per interval of the heaviest model the local Ollama has
 *     loaded (GET /api/ps, POST /api/generate keep_alive 0), never the
 *     last one (`ollama_unload` events); above swap_critical: incident
 *     `swap_critical` swap@HOST, closed when back below warn.
 * HTTP runs on curl's multi, commands through cmdrun, and the readings on
 * a thread of their own (resread): sysinfo_disk (statvfs) can block on a
 * hung network file system, the loop never does. One reading at a time;
 * a tick that finds one still in flight asks for none. One in flight
 * for three intervals and at least 10 s is stuck: one
 * `resources_stuck` event (and a warning) naming what it waits on, the
 * figures unknown (no level changes, nothing in heartbeats) until it
 * returns (`resources_resumed`); levels and incidents stay as they were.
 * Never blocks, never exits.
 *
 * Test hook: when the environment variable PEERWATCH_TEST_SYSINFO names a
 * file, the readings come from it instead, read again every interval
 * (opened O_NOFOLLOW, a regular file of at most 64 KiB). Lines:
 *   # a comment, or an empty line
 *   swap_total BYTES
 *   swap_used BYTES          (both or neither; used <= total)
 *   disk /PATH TOTAL AVAIL   (bytes; 0 < total, avail <= total)
 * A bad line is not used and warned about once (file:line, never its
 * text); a disk the file does not name has no reading.
 * When PEERWATCH_TEST_SYSINFO_HANG names a path, the reader thread waits
 * before reading each disk for as long as that path exists (a stand-in
 * for a hung mount).
 */
#ifndef PW_HEAL_RESGUARD_H
#define PW_HEAL_RESGUARD_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <jansson.h>

#include "common/evlog.h"
#include "common/metrics.h"
#include "config/conf.h"
#include "heal/incident.h"

#define RESGUARD_TEST_ENV "PEERWATCH_TEST_SYSINFO"
#define RESGUARD_TEST_HANG_ENV "PEERWATCH_TEST_SYSINFO_HANG"
#define RESGUARD_MARGIN_PCT 2     /* hysteresis, in points */
#define RESGUARD_TEST_MAX 65536   /* bytes of a test-hook file */
#define RESGUARD_FIG_MAX_DISKS 64 /* disks in one test-hook file */
#define RESGUARD_PATH_MAX 1024

enum resguard_level {
	RESGUARD_OK,
	RESGUARD_WARN,
	RESGUARD_CRITICAL,
};

/* one reading of the figures (what a test-hook file holds) */
struct resguard_fig_disk {
	char path[RESGUARD_PATH_MAX];
	uint64_t total, avail;
};
struct resguard_figures {
	int have_swap;
	uint64_t swap_total, swap_used;
	struct resguard_fig_disk disk[RESGUARD_FIG_MAX_DISKS];
	size_t ndisk;
};

/*
 * Parse a test-hook file's text (len bytes, may lack a final newline)
 * into fig. Bad lines are skipped: returns how many there were, with the
 * first described in err as "NAME:LINE: what" (never the line's text).
 */
int resguard_parse_figures(const char *text, size_t len, const char *name,
    struct resguard_figures *fig, char *err, size_t errlen);

/*
 * The level a value is at, given the level it was at: above crit is
 * critical, above warn is warn; a level is kept until the value is
 * `margin` or more below its line. warn or crit 0: that level is not
 * guarded.
 */
enum resguard_level resguard_level(enum resguard_level was, uint64_t value,
    uint64_t warn, uint64_t crit, uint64_t margin);
/* (total - avail) / total in percent, rounded up as df rounds; 0 when
 * total is 0 */
unsigned resguard_disk_pct(uint64_t total, uint64_t avail);
/* a swap level in bytes: the percent of total when pct, else bytes */
uint64_t resguard_swap_bytes(uint64_t level, int pct, uint64_t total);
const char *resguard_level_name(enum resguard_level);
/*
 * Ollama's GET /api/ps answer: how many models are loaded (-1 when it is
 * not {"models": [...]}), and the heaviest of them (the largest "size";
 * the first of equals) in model (len bytes) and *bytes. Entries without
 * a name or a size >= 0 are not counted.
 */
int resguard_heaviest(
    const json_t *ps, char *model, size_t len, uint64_t *bytes);

struct resguard;

/* NULL never: a guard with nothing configured reads nothing */
struct resguard *resguard_new(struct event_base *, struct evlog *,
    struct incidents *, const struct conf *, size_t self);
void resguard_free(struct resguard *);
/*
 * `peerwatch run --once`: one reading of c's disks and swap, acting on
 * nothing and logging no crossing; resguard_settled is 1 once it came
 * back (or when nothing is guarded), resguard_critical counts what is at
 * the critical level.
 */
struct resguard *resguard_new_once(
    struct event_base *, const struct conf *, size_t self);
int resguard_settled(const struct resguard *);
int resguard_active(const struct resguard *);
unsigned resguard_critical(const struct resguard *);
/* new levels, disks, cleanup, interval or Ollama URL (SIGHUP); a disk
 * kept keeps its level; a disk dropped has its incident closed */
void resguard_reconf(struct resguard *, const struct conf *, size_t self);
/*
 * Maintenance of this host (cb(host) != 0): the figures are still read
 * and their crossings logged, but hands off: no disk_cleanup, no Ollama
 * unload, no incident (one still critical is raised when it ends).
 */
void resguard_set_hold_cb(
    struct resguard *, int (*cb)(const char *key, void *arg), void *arg);

/* /status "resources": {"disk": {PATH: {used_pct, total, avail, level}},
 * "swap": {used, total, level}, "unloads": N, and while a reading is
 * stuck "stuck": {"reading": "disk PATH", "seconds": N}} (new reference) */
json_t *resguard_status_json(const struct resguard *);
void resguard_metrics(const struct resguard *, struct metrics *);
/*
 * The heartbeat payload base with "res" added: {"d": {PATH: used %},
 * "s": swap used %}, within budget bytes (disks that do not fit are left
 * out); returns base when nothing is guarded or nothing fits. The string
 * stays valid until the next call.
 */
const char *resguard_payload(
    struct resguard *, const char *base, size_t budget);

#endif
