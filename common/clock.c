/* SPDX-License-Identifier: ISC */
/* clock: monotonic and wall milliseconds, injectable for tests. */
#include <stdio.h>
#include <time.h>

#include "common/clock.h"

static uint64_t
clock_real_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t
clock_real_wall(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static clock_source_cb clock_mono_src = clock_real_mono;
static clock_source_cb clock_wall_src = clock_real_wall;

uint64_t
clock_mono_ms(void)
{
	return clock_mono_src();
}

uint64_t
clock_wall_ms(void)
{
	return clock_wall_src();
}

void
clock_set_sources(clock_source_cb mono, clock_source_cb wall)
{
	clock_mono_src = mono ? mono : clock_real_mono;
	clock_wall_src = wall ? wall : clock_real_wall;
}

char *
clock_iso8601(uint64_t wall_ms, char *buf, size_t len)
{
	time_t secs = (time_t)(wall_ms / 1000);
	struct tm tm;
	size_t n;

	gmtime_r(&secs, &tm);
	n = strftime(buf, len, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(buf + n, len - n, ".%03uZ", (unsigned)(wall_ms % 1000));
	return buf;
}
