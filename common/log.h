/* SPDX-License-Identifier: ISC */
/*
 * log: the one logging facility, in the style of OpenBSD's log.c. Writes to
 * stderr (what systemd and launchd capture). Never logs a secret: callers
 * pass names and figures, not keys or tokens.
 */
#ifndef PW_COMMON_LOG_H
#define PW_COMMON_LOG_H

#include <stdarg.h>

#define LOG_PRINTF(a, b) __attribute__((format(printf, a, b)))

/* verbosity: 0 = warnings and info, 1 = debug too; -1 = warnings only */
void log_init(int foreground, int verbosity);
/* a short tag (the peer's name) put in front of every line */
void log_settag(const char *tag);
int log_getverbose(void);
/*
 * Lines (and everything else written to standard error, by this process
 * and the children it starts later) go to path, appended, created 0640,
 * never through a symlink. Before each line the path is checked again:
 * once it names another file or none (newsyslog or logrotate moved it),
 * it is opened anew. 0, or -1 with errno (standard error unchanged).
 */
int log_open(const char *path);

void log_warn(const char *, ...) LOG_PRINTF(1, 2); /* appends strerror */
void log_warnx(const char *, ...) LOG_PRINTF(1, 2);
void log_info(const char *, ...) LOG_PRINTF(1, 2);
void log_debug(const char *, ...) LOG_PRINTF(1, 2);
void log_vlog(int prio, const char *, va_list) LOG_PRINTF(2, 0);
__attribute__((noreturn)) void fatal(const char *, ...) LOG_PRINTF(1, 2);
__attribute__((noreturn)) void fatalx(const char *, ...) LOG_PRINTF(1, 2);

enum { LOG_PRIO_DEBUG, LOG_PRIO_INFO, LOG_PRIO_WARN };

#endif
