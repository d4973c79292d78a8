/* SPDX-License-Identifier: ISC */
/*
 * metrics: a growing text buffer with the Prometheus family rules on top.
 * Help texts are escaped as the format asks (backslash and newline).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics.h"
#include "common/xmalloc.h"

static void metrics_vprintf(struct metrics *, const char *, va_list)
    __attribute__((format(printf, 2, 0)));

struct metrics {
	char *buf;
	size_t len, cap;
};

struct metrics *
metrics_new(void)
{
	struct metrics *m = xcalloc(1, sizeof(*m));

	m->cap = 1024;
	m->buf = xmalloc(m->cap);
	m->buf[0] = '\0';
	return m;
}

static void
metrics_vprintf(struct metrics *m, const char *fmt, va_list ap)
{
	va_list aq;
	int n;

	va_copy(aq, ap);
	n = vsnprintf(m->buf + m->len, m->cap - m->len, fmt, aq);
	va_end(aq);
	if (n < 0)
		return;
	if ((size_t)n >= m->cap - m->len) {
		while ((size_t)n >= m->cap - m->len)
			m->cap *= 2;
		m->buf = xreallocarray(m->buf, m->cap, 1);
		vsnprintf(m->buf + m->len, m->cap - m->len, fmt, ap);
	}
	m->len += (size_t)n;
}

void
metrics_printf(struct metrics *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	metrics_vprintf(m, fmt, ap);
	va_end(ap);
}

void
metrics_family(
    struct metrics *m, const char *name, const char *type, const char *help)
{
	size_t n;

	metrics_printf(m, "# HELP %s ", name);
	while (*help != '\0') {
		n = strcspn(help, "\\\n");
		metrics_printf(m, "%.*s", (int)n, help);
		help += n;
		if (*help == '\0')
			break;
		metrics_printf(m, "%s", *help == '\n' ? "\\n" : "\\\\");
		help++;
	}
	metrics_printf(m, "\n# TYPE %s %s\n", name, type);
}

void
metrics_u64(struct metrics *m, const char *name, const char *labels, uint64_t v)
{
	if (labels != NULL)
		metrics_printf(
		    m, "%s{%s} %llu\n", name, labels, (unsigned long long)v);
	else
		metrics_printf(m, "%s %llu\n", name, (unsigned long long)v);
}

char *
metrics_finish(struct metrics *m)
{
	char *s = m->buf;

	free(m);
	return s;
}
