/* SPDX-License-Identifier: ISC */
/*
 * sleepwatch: systems without sleep notices for a daemon (sleepwatch.h);
 * macOS has its own file, sleepwatch_darwin.c.
 */
#include <stdio.h>

#include "peer/sleepwatch.h"

struct sleepwatch *
sleepwatch_new(struct event_base *base, sleepwatch_cb cb, void *arg, char *err,
    size_t errlen)
{
	(void)base;
	(void)cb;
	(void)arg;
	if (errlen > 0)
		err[0] = '\0';
	return NULL;
}

void
sleepwatch_ack(struct sleepwatch *sw)
{
	(void)sw;
}

void
sleepwatch_free(struct sleepwatch *sw)
{
	(void)sw;
}
