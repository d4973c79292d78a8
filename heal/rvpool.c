/* SPDX-License-Identifier: ISC */
/*
 * rvpool: heal jobs in peerwatch-heal child processes. Per child: the job
 * JSON goes down a pipe to its stdin, the result JSON comes back on its
 * stdout (read on the loop, never waited for), a kill timer bounds it, and
 * a SIGCHLD event reaps it. A job is finished when its stdout has closed
 * and the child has been reaped. rvpool_cancel sends SIGUSR1: stop before
 * the next write (rvjob.h).
 */
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>

#include "common/log.h"
#include "common/xmalloc.h"
#include "heal/cmdrun.h"
#include "heal/rvjob.h"
#include "heal/sftp.h"

#define RVPOOL_MAX_OUT (1024 * 1024)

struct rvproc {
	struct rvpool *pool;
	struct rvjob *job;
	pid_t pid;
	int fd;   /* child's stdout, -1 at EOF */
	int infd; /* child's stdin, kept for its asks; -1 closed */
	struct event *rev, *kill_ev;
	struct evbuffer *out;
	int reaped, status, killed;
	struct rvproc *next;
};

struct rvpool {
	struct event_base *base;
	char *worker;
	struct event *sigchld;
	struct rvproc *procs;
	unsigned n;
	rvpool_done_cb cb;
	rvpool_ask_cb ask_cb;
	void *arg;
};

static void rvpool_on_sigchld(evutil_socket_t, short, void *);

struct rvpool *
rvpool_new(
    struct event_base *base, const char *worker, rvpool_done_cb cb, void *arg)
{
	struct rvpool *p = xcalloc(1, sizeof(*p));

	p->base = base;
	p->worker = xstrdup(worker);
	p->cb = cb;
	p->arg = arg;
	p->sigchld = evsignal_new(base, SIGCHLD, rvpool_on_sigchld, p);
	event_add(p->sigchld, NULL);
	return p;
}

static void
rvpool_unlink(struct rvpool *p, struct rvproc *pr)
{
	struct rvproc **pp;

	for (pp = &p->procs; *pp; pp = &(*pp)->next)
		if (*pp == pr) {
			*pp = pr->next;
			p->n--;
			return;
		}
}

static void
rvproc_free(struct rvproc *pr)
{
	if (pr->rev)
		event_free(pr->rev);
	if (pr->kill_ev)
		event_free(pr->kill_ev);
	if (pr->fd != -1)
		close(pr->fd);
	if (pr->infd != -1)
		close(pr->infd);
	evbuffer_free(pr->out);
	free(pr);
}

/* Both ends are in: parse the result (or explain why there is none). */
static void
rvproc_finish(struct rvproc *pr)
{
	struct rvpool *p = pr->pool;
	struct rvjob *j = pr->job;
	size_t len = evbuffer_get_length(pr->out);
	json_error_t jerr;
	json_t *o;

	o = json_loadb(
	    (const char *)evbuffer_pullup(pr->out, -1), len, 0, &jerr);
	if (o == NULL || rvjob_result_from_json(j, o) == -1) {
		j->fail = SFTP_PROTOCOL;
		if (pr->killed)
			snprintf(j->err, sizeof(j->err),
			    "heal worker killed "
			    "after %llu ms without an answer",
			    (unsigned long long)(4 * j->timeout_ms + 10000));
		else
			snprintf(j->err, sizeof(j->err),
			    "heal worker failed "
			    "(%s %d, %zu bytes of output)",
			    WIFSIGNALED(pr->status) ? "signal" : "exit",
			    WIFSIGNALED(pr->status) ? WTERMSIG(pr->status)
			                            : WEXITSTATUS(pr->status),
			    len);
		log_warnx("peer=%s %s", j->target_name, j->err);
	}
	json_decref(o);
	rvpool_unlink(p, pr);
	rvproc_free(pr);
	p->cb(j, p->arg);
}

static void
rvproc_answer(struct rvproc *pr, int go)
{
	if (!go)
		log_info("peer=%s heard again: the heal worker is told not to "
		         "write",
		    pr->job->target_name);
	/* a few bytes into an empty pipe: never blocks */
	if (pr->infd == -1 ||
	    write(pr->infd, go ? "go\n" : "stop\n", go ? 3 : 5) < 0)
		log_warn("heal worker %ld: answer not sent", (long)pr->pid);
}

void
rvpool_answer(struct rvpool *p, const struct rvjob *j, int go)
{
	struct rvproc *pr;

	for (pr = p->procs; pr; pr = pr->next)
		if (pr->job == j && !pr->reaped) {
			rvproc_answer(pr, go);
			return;
		}
}

/* each complete {"ask":...} line at the head of the output: pass it on */
static void
rvproc_take_asks(struct rvproc *pr)
{
	static const char ask[] = "{\"ask\":";
	struct evbuffer_ptr nl;
	const char *head;

	for (;;) {
		if (evbuffer_get_length(pr->out) < sizeof(ask) - 1)
			return;
		head = (const char *)evbuffer_pullup(pr->out, sizeof(ask) - 1);
		if (memcmp(head, ask, sizeof(ask) - 1) != 0)
			return; /* the result */
		nl = evbuffer_search(pr->out, "\n", 1, NULL);
		if (nl.pos < 0 || nl.pos > 256)
			return; /* not complete yet (or not an ask) */
		evbuffer_drain(pr->out, (size_t)nl.pos + 1);
		if (pr->pool->ask_cb == NULL)
			rvproc_answer(pr, 1);
		else
			pr->pool->ask_cb(pr->job, pr->pool->arg);
	}
}

static void
rvproc_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct rvproc *pr = arg;
	int n;

	(void)what;
	while ((n = evbuffer_read(pr->out, fd, 65536)) > 0) {
		rvproc_take_asks(pr);
		if (evbuffer_get_length(pr->out) > RVPOOL_MAX_OUT)
			break;
	}
	if (n == -1 && (errno == EAGAIN || errno == EINTR) &&
	    evbuffer_get_length(pr->out) <= RVPOOL_MAX_OUT)
		return;
	/* EOF, error or too much: this child has said all it will */
	event_del(pr->rev);
	close(pr->fd);
	pr->fd = -1;
	if (pr->reaped)
		rvproc_finish(pr);
}

static void
rvproc_on_kill(evutil_socket_t fd, short what, void *arg)
{
	struct rvproc *pr = arg;

	(void)fd;
	(void)what;
	log_warnx("peer=%s heal worker %ld overran; killing it",
	    pr->job->target_name, (long)pr->pid);
	pr->killed = 1;
	kill(pr->pid, SIGKILL);
}

static void
rvpool_on_sigchld(evutil_socket_t sig, short what, void *arg)
{
	struct rvpool *p = arg;
	struct rvproc *pr, *next;

	(void)sig;
	(void)what;
	for (pr = p->procs; pr; pr = next) {
		next = pr->next;
		if (pr->reaped ||
		    waitpid(pr->pid, &pr->status, WNOHANG) != pr->pid)
			continue;
		pr->reaped = 1;
		evtimer_del(pr->kill_ev);
		if (pr->fd == -1)
			rvproc_finish(pr);
	}
}

/* in the child, between fork and exec: only async-signal-safe calls */
static void
rvpool_exec_child(const char *worker, int in, int out)
{
	char *const argv[] = {(char *)(uintptr_t) "peerwatch-heal", NULL};

	if (dup2(in, STDIN_FILENO) == -1 || dup2(out, STDOUT_FILENO) == -1)
		_exit(126);
	cmdrun_child_reset(STDERR_FILENO + 1);
	execv(worker, argv);
	_exit(127);
}

static int
rvpool_write_all(int fd, const char *s, size_t len)
{
	ssize_t n;

	while (len > 0) {
		if ((n = write(fd, s, len)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		s += n;
		len -= (size_t)n;
	}
	return 0;
}

int
rvpool_submit(struct rvpool *p, struct rvjob *j)
{
	struct rvproc *pr;
	int in[2] = {-1, -1}, out[2] = {-1, -1};
	uint64_t kill_ms = 4 * j->timeout_ms + 10000;
	struct timeval tv = {
	    (time_t)(kill_ms / 1000), (suseconds_t)(kill_ms % 1000) * 1000};
	json_t *o = rvjob_to_json(j);
	char *req = json_dumps(o, JSON_COMPACT);
	pid_t pid;

	json_decref(o);
	if (req == NULL) {
		log_warnx("peer=%s heal job not encoded", j->target_name);
		return -1;
	}
	if (pipe(in) == -1 || pipe(out) == -1)
		goto fail;
	/* the request is a few KB, far below the pipe's buffer: written
	 * before the child runs, it never blocks the loop */
	if ((pid = fork()) == -1)
		goto fail;
	if (pid == 0)
		rvpool_exec_child(p->worker, in[0], out[1]);
	close(in[0]);
	close(out[1]);
	if (rvpool_write_all(in[1], req, strlen(req)) == -1)
		log_warn("heal worker %ld: request not written", (long)pid);
	free(req);
	pr = xcalloc(1, sizeof(*pr));
	pr->pool = p;
	pr->job = j;
	pr->pid = pid;
	pr->fd = out[0];
	/* only a revive of a silent target asks before it writes */
	pr->infd = -1;
	if (j->kind == RVJOB_REVIVE && j->peer_silent) {
		pr->infd = in[1];
		evutil_make_socket_closeonexec(pr->infd);
	} else
		close(in[1]);
	pr->out = evbuffer_new();
	evutil_make_socket_nonblocking(pr->fd);
	evutil_make_socket_closeonexec(pr->fd);
	pr->rev = event_new(
	    p->base, pr->fd, EV_READ | EV_PERSIST, rvproc_on_read, pr);
	pr->kill_ev = evtimer_new(p->base, rvproc_on_kill, pr);
	event_add(pr->rev, NULL);
	evtimer_add(pr->kill_ev, &tv);
	pr->next = p->procs;
	p->procs = pr;
	p->n++;
	return 0;
fail:
	log_warn("cannot start heal worker %s", p->worker);
	free(req);
	if (in[0] != -1) {
		close(in[0]);
		close(in[1]);
	}
	if (out[0] != -1) {
		close(out[0]);
		close(out[1]);
	}
	return -1;
}

int
rvpool_cancel(struct rvpool *p, const struct rvjob *j)
{
	struct rvproc *pr;

	for (pr = p->procs; pr; pr = pr->next) {
		if (pr->job != j || pr->reaped)
			continue;
		/* not reaped: the pid is still this child's */
		if (kill(pr->pid, SIGUSR1) == -1) {
			log_warn(
			    "heal worker %ld: stop not sent", (long)pr->pid);
			return -1;
		}
		return 0;
	}
	return -1;
}

void
rvpool_set_ask_cb(struct rvpool *p, rvpool_ask_cb cb)
{
	p->ask_cb = cb;
}

unsigned
rvpool_running(const struct rvpool *p)
{
	return p->n;
}

void
rvpool_free(struct rvpool *p)
{
	struct rvproc *pr;

	if (p == NULL)
		return;
	while ((pr = p->procs) != NULL) {
		p->procs = pr->next;
		if (!pr->reaped) {
			kill(pr->pid, SIGKILL);
			waitpid(pr->pid, NULL, 0);
		}
		rvjob_free(pr->job);
		rvproc_free(pr);
	}
	event_free(p->sigchld);
	free(p->worker);
	free(p);
}
