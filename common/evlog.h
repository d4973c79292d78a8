/* SPDX-License-Identifier: ISC */
/*
 * evlog: state_dir/events.jsonl, one compact JSON object per line:
 * {"ts":"2026-11-22T23:01:02.345Z","type":"peer_down","peer":"beta",
 *  "detail":"...", ...typed fields}. Each line is one write(2) on an
 * O_APPEND fd, so a crash never leaves half a line. Rotation at max_bytes:
 * events.jsonl -> events.jsonl.1 -> ... -> events.jsonl.<keep>, the oldest
 * dropped. Never exits; write errors are logged once and counted.
 */
#ifndef PW_COMMON_EVLOG_H
#define PW_COMMON_EVLOG_H

#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

struct evlog;

/*
 * opens (creating dir and file, mode 0600 for the file) state_dir/events.jsonl.
 * max_bytes 0 never rotates; keep 0 behaves as keep 1 (one .1 copy).
 */
struct evlog *evlog_open(const char *state_dir, size_t max_bytes, unsigned keep,
    char *err, size_t errlen);
void evlog_free(struct evlog *);

/*
 * Appends one event. peer and detail may be NULL (written as null).
 * fields, if not NULL, is a JSON object whose members are merged in
 * (borrowed: the caller keeps its reference). Returns 0 or -1.
 */
int evlog_write(struct evlog *, const char *type, const char *peer,
    const char *detail, json_t *fields);
/* printf-style detail */
int evlog_writef(struct evlog *, const char *type, const char *peer,
    json_t *fields, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* the same, taking ownership of fields (like json_object_set_new), for a
 * fresh json_pack(); ev may be NULL (fields are still released) */
int evlog_write_new(struct evlog *, const char *type, const char *peer,
    const char *detail, json_t *fields);
int evlog_writef_new(struct evlog *, const char *type, const char *peer,
    json_t *fields, const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/*
 * The last min(n, EVLOG_RECENT_MAX) events, oldest first, as a JSON array
 * text (one event a line), malloc'd. An event longer than
 * EVLOG_RECENT_LINE bytes appears as ts, type, peer, its detail cut short
 * and "truncated":true. Events that could not be written to the file are
 * included.
 */
#define EVLOG_RECENT_MAX 200
#define EVLOG_RECENT_LINE 4096
char *evlog_recent(struct evlog *, size_t n);

/* how many events written / failed since open */
unsigned long evlog_count(const struct evlog *);
unsigned long evlog_errors(const struct evlog *);

/*
 * CLI side: print the last n lines of state_dir/events.jsonl (n <= 0: all)
 * to out; with follow, keep printing new lines (surviving rotation) until
 * *stop becomes non-zero (checked every ~200 ms) or forever if stop NULL.
 * json: print raw lines; else "ts type peer detail" columns.
 */
int evlog_tail(const char *state_dir, long n, int follow, int json, FILE *out,
    volatile int *stop);

#endif
