/* SPDX-License-Identifier: ISC */
/*
 * resread: the resource guards' reader thread (see resread.h). One
 * struct, shared: the loop and the thread meet under its mutex, the
 * thread is woken by a condition variable and answers with a byte down
 * the pipe. Who frees it is decided once, under the mutex, when the loop
 * leaves: the loop, after a join, if the thread was idle; else the thread
 * itself when its reading returns (orphan).
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/sysinfo.h"
#include "common/xmalloc.h"
#include "heal/resguard.h"
#include "heal/resread.h"

struct resread_job {
	struct resread_answer a;
	uint64_t since_ms;
};

struct resread {
	/* the loop's */
	struct event *ev;
	resread_cb cb;
	void *arg;
	struct resread_job *inline_job; /* answered on the loop (no thread) */
	/* set before the thread starts, then read-only */
	char *test_file, *hang_file;
	int pipe[2];
	int threaded;
	pthread_t thread;
	/* under mtx */
	pthread_mutex_t mtx;
	pthread_cond_t cond;
	struct resread_job *job;      /* asked, not yet answered */
	struct resread_job *answered; /* answered, not yet taken */
	size_t step;                  /* job->a.disk[step], or ndisk: swap */
	int quit;
	int orphan; /* the loop left while a reading was in flight */
};

static void
resread_job_free(struct resread_job *j)
{
	size_t i;

	if (j == NULL)
		return;
	for (i = 0; i < j->a.ndisk; i++)
		free(j->a.disk[i].path);
	free(j->a.disk);
	free(j);
}

/* everything but the event (the loop's), from whichever side is last */
static void
resread_destroy(struct resread *r)
{
	resread_job_free(r->job);
	resread_job_free(r->answered);
	resread_job_free(r->inline_job);
	if (r->pipe[0] != -1)
		close(r->pipe[0]);
	close(r->pipe[1]);
	pthread_cond_destroy(&r->cond);
	pthread_mutex_destroy(&r->mtx);
	free(r->test_file);
	free(r->hang_file);
	free(r);
}

/* ---- the thread's side ------------------------------------------------ */

/* the test hook: wait while hang_file exists */
static void
resread_hang(const struct resread *r)
{
	struct timespec ts = {0, RESREAD_HANG_POLL_MS * 1000000L};
	struct stat st;

	while (r->hang_file != NULL && lstat(r->hang_file, &st) == 0)
		nanosleep(&ts, NULL);
}

static void
resread_step(struct resread *r, size_t step)
{
	pthread_mutex_lock(&r->mtx);
	r->step = step;
	pthread_mutex_unlock(&r->mtx);
}

/* the test-hook file into fig: 0, or -1 (no figures); err says why */
static int
resread_test_file(
    const char *file, struct resguard_figures *fig, char *err, size_t errlen)
{
	char *buf = NULL;
	struct stat st;
	ssize_t n;
	size_t len = 0;
	int fd, rc = -1, bad;

	err[0] = '\0';
	fd = open(file, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", file, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode) ||
	    st.st_size > RESGUARD_TEST_MAX) {
		snprintf(err, errlen,
		    "%s: not a regular file of at most %d bytes", file,
		    RESGUARD_TEST_MAX);
		goto out;
	}
	buf = xmalloc(RESGUARD_TEST_MAX + 1);
	while (len <= RESGUARD_TEST_MAX &&
	       (n = read(fd, buf + len, RESGUARD_TEST_MAX + 1 - len)) > 0)
		len += (size_t)n;
	if (len > RESGUARD_TEST_MAX) {
		snprintf(err, errlen, "%s: grew over %d bytes", file,
		    RESGUARD_TEST_MAX);
		goto out;
	}
	bad = resguard_parse_figures(buf, len, file, fig, err, errlen);
	if (bad > 1) {
		size_t l = strlen(err);

		snprintf(err + l, errlen - l, "; %d bad lines", bad);
	}
	rc = 0;
out:
	if (fd != -1)
		close(fd);
	free(buf);
	return rc;
}

/* one disk from the test-hook figures (NULL: none) or from this host */
static void
resread_disk(const struct resguard_figures *fig, struct resread_disk *d)
{
	struct sysinfo_disk di;
	size_t i;

	d->rc = -1;
	d->err = 0;
	if (fig != NULL) {
		for (i = 0; i < fig->ndisk; i++)
			if (strcmp(fig->disk[i].path, d->path) == 0) {
				d->total = fig->disk[i].total;
				d->avail = fig->disk[i].avail;
				d->rc = 0;
			}
		return;
	}
	if (sysinfo_disk(d->path, &di) == -1) {
		d->err = errno;
		return;
	}
	if (di.total_bytes == 0) {
		d->err = EINVAL; /* a file system without a size */
		return;
	}
	d->total = di.total_bytes;
	d->avail =
	    di.avail_bytes < di.total_bytes ? di.avail_bytes : di.total_bytes;
	d->rc = 0;
}

static void
resread_swap(const struct resguard_figures *fig, struct resread_answer *a)
{
	struct sysinfo_swap sw;

	a->swap_rc = -1;
	a->swap_err = 0;
	if (fig != NULL) {
		if (fig->have_swap) {
			a->swap_total = fig->swap_total;
			a->swap_used = fig->swap_used;
			a->swap_rc = 0;
		}
		return;
	}
	if (sysinfo_swap(&sw) == -1) {
		a->swap_err = errno;
		return;
	}
	a->swap_total = sw.total_bytes;
	a->swap_used = sw.used_bytes;
	a->swap_rc = 0;
}

/* one reading; on the thread, or on the loop without one */
static void
resread_read(struct resread *r, struct resread_answer *a)
{
	struct resguard_figures *fig = NULL;
	size_t i;

	a->test_rc = 0;
	a->test_err[0] = '\0';
	if (r->test_file != NULL) {
		fig = xcalloc(1, sizeof(*fig));
		a->test_rc = resread_test_file(
		    r->test_file, fig, a->test_err, sizeof(a->test_err));
	}
	for (i = 0; i < a->ndisk; i++) {
		resread_step(r, i);
		resread_hang(r);
		if (a->test_rc == 0)
			resread_disk(fig, &a->disk[i]);
		else
			a->disk[i].rc = -1;
	}
	resread_step(r, a->ndisk);
	if (a->test_rc == 0)
		resread_swap(fig, a);
	else
		a->swap_rc = -1;
	free(fig);
}

static void *
resread_main(void *arg)
{
	struct resread *r = arg;
	struct resread_job *j;
	int orphan;

	pthread_mutex_lock(&r->mtx);
	for (;;) {
		while (!r->quit && r->job == NULL)
			pthread_cond_wait(&r->cond, &r->mtx);
		if (r->quit)
			break;
		j = r->job;
		pthread_mutex_unlock(&r->mtx);
		resread_read(r, &j->a);
		pthread_mutex_lock(&r->mtx);
		r->job = NULL;
		r->answered = j;
		if (r->quit)
			break;
		pthread_mutex_unlock(&r->mtx);
		/* a byte per answer; the pipe holds far more than one */
		(void)!write(r->pipe[1], "", 1);
		pthread_mutex_lock(&r->mtx);
	}
	orphan = r->orphan;
	pthread_mutex_unlock(&r->mtx);
	if (orphan)
		resread_destroy(r);
	return NULL;
}

/* ---- the loop's side -------------------------------------------------- */

static void
resread_on_answer(evutil_socket_t fd, short what, void *arg)
{
	struct resread *r = arg;
	struct resread_job *j;
	char buf[64];

	(void)what;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	if (r->threaded) {
		pthread_mutex_lock(&r->mtx);
		j = r->answered;
		r->answered = NULL;
		pthread_mutex_unlock(&r->mtx);
	} else {
		j = r->inline_job;
		r->inline_job = NULL;
	}
	if (j == NULL)
		return;
	r->cb(&j->a, r->arg);
	resread_job_free(j);
}

static int
resread_thread_start(struct resread *r)
{
	sigset_t all, old;
	int rc;

	/* signals belong to the loop thread, never to this one */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&r->thread, NULL, resread_main, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		errno = rc;
		return -1;
	}
	return 0;
}

struct resread *
resread_new(struct event_base *base, const char *test_file,
    const char *hang_file, resread_cb cb, void *arg)
{
	struct resread *r = xcalloc(1, sizeof(*r));
	int i;

	if (pipe(r->pipe) == -1) {
		log_warn("resources: no pipe for the reader thread");
		free(r);
		return NULL;
	}
	for (i = 0; i < 2; i++) {
		fcntl(r->pipe[i], F_SETFD, FD_CLOEXEC);
		fcntl(r->pipe[i], F_SETFL, O_NONBLOCK);
	}
	r->cb = cb;
	r->arg = arg;
	r->test_file = test_file ? xstrdup(test_file) : NULL;
	r->hang_file = hang_file ? xstrdup(hang_file) : NULL;
	pthread_mutex_init(&r->mtx, NULL);
	pthread_cond_init(&r->cond, NULL);
	r->ev = event_new(
	    base, r->pipe[0], EV_READ | EV_PERSIST, resread_on_answer, r);
	event_add(r->ev, NULL);
	if (resread_thread_start(r) == 0)
		r->threaded = 1;
	else
		log_warn("resources: no reader thread: readings are taken on "
		         "the loop");
	return r;
}

static struct resread_job *
resread_job_new(char *const *paths, size_t n)
{
	struct resread_job *j = xcalloc(1, sizeof(*j));
	size_t i;

	j->a.disk = xcalloc(n ? n : 1, sizeof(*j->a.disk));
	j->a.ndisk = n;
	for (i = 0; i < n; i++)
		j->a.disk[i].path = xstrdup(paths[i]);
	j->since_ms = clock_mono_ms();
	return j;
}

int
resread_start(struct resread *r, char *const *paths, size_t n)
{
	struct resread_job *j;

	if (resread_busy(r, NULL, NULL, 0))
		return -1;
	j = resread_job_new(paths, n);
	if (!r->threaded) {
		resread_read(r, &j->a);
		r->inline_job = j;
		/* answered from the loop's next turn, as from the thread */
		event_active(r->ev, EV_READ, 0);
		return 0;
	}
	pthread_mutex_lock(&r->mtx);
	r->job = j;
	r->step = 0;
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->mtx);
	return 0;
}

int
resread_busy(struct resread *r, uint64_t *since_ms, char *what, size_t len)
{
	const struct resread_job *j;
	int busy;

	if (!r->threaded)
		return r->inline_job != NULL;
	pthread_mutex_lock(&r->mtx);
	/* an answer not yet taken still counts: one reading at a time */
	j = r->job ? r->job : r->answered;
	busy = j != NULL;
	if (r->job != NULL && since_ms != NULL)
		*since_ms = j->since_ms;
	else if (since_ms != NULL)
		*since_ms = clock_mono_ms(); /* answered: nothing waits */
	if (busy && len > 0) {
		if (r->step < j->a.ndisk)
			snprintf(what, len, "disk %s", j->a.disk[r->step].path);
		else
			snprintf(what, len, "swap");
	}
	pthread_mutex_unlock(&r->mtx);
	return busy;
}

void
resread_free(struct resread *r)
{
	pthread_t th;
	int orphan;

	if (r == NULL)
		return;
	event_free(r->ev);
	if (!r->threaded) {
		resread_destroy(r);
		return;
	}
	pthread_mutex_lock(&r->mtx);
	th = r->thread;
	r->quit = 1;
	orphan = r->orphan = r->job != NULL;
	if (orphan) {
		/* ours: the read end; the thread's write then fails */
		close(r->pipe[0]);
		r->pipe[0] = -1;
	}
	pthread_cond_signal(&r->cond);
	pthread_mutex_unlock(&r->mtx);
	/* once orphan, r is the thread's: not touched here again */
	if (orphan) {
		pthread_detach(th);
		return;
	}
	pthread_join(th, NULL);
	resread_destroy(r);
}
