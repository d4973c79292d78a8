/* SPDX-License-Identifier: ISC */
/*
 * log: timestamped lines on stderr, one write(2) per line so lines from the
 * worker thread and the loop never interleave mid-line.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

static void log_verrno(int, int, const char *, va_list) LOG_PRINTF(3, 0);
#define LOG_REPEAT_S 30

static int log_verbose;
static int log_foreground = 1;
static char log_tag[64];
/* log_open's file: its path and what it named when opened */
static pthread_mutex_t log_file_mtx = PTHREAD_MUTEX_INITIALIZER;
static char log_path[1024];
static dev_t log_dev;
static ino_t log_ino;
/* the last line, to count rather than write it again (log_repeated) */
static pthread_mutex_t log_mtx = PTHREAD_MUTEX_INITIALIZER;
static char log_last[2048]; /* longer than any message */
static unsigned long log_repeats;
static time_t log_repeats_since;

void
log_init(int foreground, int verbosity)
{
	log_foreground = foreground;
	log_verbose = verbosity;
}

void
log_settag(const char *tag)
{
	snprintf(log_tag, sizeof(log_tag), "%s", tag ? tag : "");
}

int
log_getverbose(void)
{
	return log_verbose;
}

/* open log_path as standard error; the caller holds log_file_mtx */
static int
log_reopen(void)
{
	struct stat st;
	int fd, saved;

	fd = open(log_path,
	    O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0640);
	if (fd == -1)
		return -1;
	if (fstat(fd, &st) == -1)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	if (dup2(fd, STDERR_FILENO) == -1)
		goto fail;
	close(fd);
	log_dev = st.st_dev;
	log_ino = st.st_ino;
	return 0;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int
log_open(const char *path)
{
	int rc;

	if (strlen(path) >= sizeof(log_path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	pthread_mutex_lock(&log_file_mtx);
	snprintf(log_path, sizeof(log_path), "%s", path);
	if ((rc = log_reopen()) == -1)
		log_path[0] = '\0';
	pthread_mutex_unlock(&log_file_mtx);
	return rc;
}

/* rotated away (renamed or removed): a fresh file at the path */
static void
log_follow_rotation(void)
{
	struct stat st;

	pthread_mutex_lock(&log_file_mtx);
	if (log_path[0] != '\0' &&
	    (stat(log_path, &st) == -1 || st.st_dev != log_dev ||
	        st.st_ino != log_ino))
		(void)log_reopen(); /* failing: the old file it is */
	pthread_mutex_unlock(&log_file_mtx);
}

static void
log_write(int prio, const char *msg)
{
	static const char *names[] = {"debug", "info", "warn"};
	char line[2048];
	struct timespec ts;
	struct tm tm;
	size_t n = 0;
	int r;

	/* journald adds its own timestamp; a terminal wants one. */
	if (log_foreground) {
		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		r = snprintf(line + n, sizeof(line) - n, ".%03ldZ ",
		    ts.tv_nsec / 1000000);
		if (r > 0)
			n += (size_t)r;
	}
	r = snprintf(line + n, sizeof(line) - n, "%s%s%s: %s", log_tag,
	    log_tag[0] ? " " : "", names[prio], msg);
	if (r > 0)
		n += (size_t)r;
	if (n > sizeof(line) - 2)
		n = sizeof(line) - 2;
	line[n++] = '\n';
	log_follow_rotation();
	(void)!write(STDERR_FILENO, line, n);
}

/*
 * The same line over and over (a fault met in a loop) is written once and
 * then counted: the count comes out before the next different line, and
 * every LOG_REPEAT_S while the repeats go on. 1 if msg is such a repeat;
 * *n: repeats to report first.
 */
static int
log_repeated(const char *msg, unsigned long *n)
{
	time_t now = time(NULL);
	int same;

	pthread_mutex_lock(&log_mtx);
	same = strncmp(msg, log_last, sizeof(log_last) - 1) == 0;
	*n = 0;
	if (same)
		log_repeats++;
	if (!same || now - log_repeats_since >= LOG_REPEAT_S) {
		*n = log_repeats;
		log_repeats = 0;
		log_repeats_since = now;
	}
	if (!same)
		snprintf(log_last, sizeof(log_last), "%s", msg);
	pthread_mutex_unlock(&log_mtx);
	return same;
}

static void
log_emit(int prio, const char *msg)
{
	char rep[64];
	unsigned long n;
	int same = log_repeated(msg, &n);

	if (n > 0) {
		snprintf(
		    rep, sizeof(rep), "last message repeated %lu times", n);
		log_write(prio, rep);
	}
	if (!same)
		log_write(prio, msg);
}

static int
log_enabled(int prio)
{
	if (prio == LOG_PRIO_DEBUG)
		return log_verbose >= 1;
	if (prio == LOG_PRIO_INFO)
		return log_verbose >= 0;
	return 1;
}

void
log_vlog(int prio, const char *fmt, va_list ap)
{
	char msg[1800];

	if (!log_enabled(prio))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	log_emit(prio, msg);
}

static void
log_verrno(int prio, int saved, const char *fmt, va_list ap)
{
	char msg[1536], out[1800];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	snprintf(out, sizeof(out), "%s: %s", msg, strerror(saved));
	log_emit(prio, out);
}

void
log_warn(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_verrno(LOG_PRIO_WARN, saved, fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_PRIO_WARN, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_PRIO_INFO, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_PRIO_DEBUG, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	int saved = errno;
	va_list ap;

	va_start(ap, fmt);
	log_verrno(LOG_PRIO_WARN, saved, fmt, ap);
	va_end(ap);
	exit(1);
}

void
fatalx(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vlog(LOG_PRIO_WARN, fmt, ap);
	va_end(ap);
	exit(1);
}
