/* SPDX-License-Identifier: ISC */
/*
 * metrics: the Prometheus text format (version 0.0.4) built in memory.
 * Every family is opened with its HELP and TYPE lines, so a module that
 * adds samples cannot forget them (promtool checks this in make test).
 * Never fails: allocation goes through xmalloc.
 */
#ifndef PW_COMMON_METRICS_H
#define PW_COMMON_METRICS_H

#include <stdint.h>

struct metrics;

struct metrics *metrics_new(void);
/* "# HELP name help" and "# TYPE name type"; type: counter, gauge,
 * histogram, summary or untyped */
void metrics_family(
    struct metrics *, const char *name, const char *type, const char *help);
/* one sample; labels is NULL or the inside of the braces: state="alive" */
void metrics_u64(
    struct metrics *, const char *name, const char *labels, uint64_t);
/* anything else (histogram buckets, floats), as printf */
void metrics_printf(struct metrics *, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* the text, owned by the caller (free); frees the builder */
char *metrics_finish(struct metrics *);

#endif
