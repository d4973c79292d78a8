/* SPDX-License-Identifier: ISC */
/*
 * clock: the one monotonic clock (behind a function pointer so tests can
 * inject time) and the wall clock, both in uint64_t milliseconds.
 */
#ifndef PW_COMMON_CLOCK_H
#define PW_COMMON_CLOCK_H

#include <stddef.h>
#include <stdint.h>

typedef uint64_t (*clock_source_cb)(void);

uint64_t clock_mono_ms(void);
uint64_t clock_wall_ms(void);
/* tests: replace the clocks; NULL restores the real ones */
void clock_set_sources(clock_source_cb mono, clock_source_cb wall);

/* "2026-11-22T23:01:02.345Z" into buf (at least CLOCK_ISO_LEN bytes) */
#define CLOCK_ISO_LEN 32
char *clock_iso8601(uint64_t wall_ms, char *buf, size_t len);

#endif
