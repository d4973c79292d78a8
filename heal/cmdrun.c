/* SPDX-License-Identifier: ISC */
/*
 * cmdrun: commands on the loop (cmdrun.h). Per command: a pipe read on
 * the loop into a ring of the last CMDRUN_TAIL bytes, a timer that kills
 * the process group, a SIGCHLD event that reaps the pid, and a close-on-
 * exec pipe on which a child that could not exec reports its errno.
 */
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/xmalloc.h"
#include "heal/cmdrun.h"

struct cmdrun {
	struct event_base *base;
	pid_t pid;
	int out, errfd; /* output pipe, exec-error pipe; -1 when closed */
	struct event *rev, *sigchld, *kill_ev;
	char ring[CMDRUN_TAIL];
	size_t ring_len, ring_pos;
	uint64_t started_ms;
	int timed_out, cancelled;
	cmdrun_cb cb;
	void *arg;
	struct cmdrun *next;
};

/* every child not yet reaped, for cmdrun_shutdown */
static struct cmdrun *running;

int
cmdrun_split(const char *line, char ***argvp, char *err, size_t errlen)
{
	size_t len = strlen(line), nw = 0, i;
	char *words[CMDRUN_MAX_WORDS], *buf, *o, **argv;
	const char *s = line;
	char q;
	int in_word;

	buf = xmalloc(len + 1);
	o = buf;
	while (*s != '\0') {
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\0')
			break;
		if (nw == CMDRUN_MAX_WORDS) {
			snprintf(err, errlen, "more than %d words",
			    CMDRUN_MAX_WORDS);
			goto fail;
		}
		words[nw++] = o;
		in_word = 1;
		while (in_word && *s != '\0') {
			switch (*s) {
			case ' ':
			case '\t':
				in_word = 0;
				break;
			case '\'':
			case '"':
				for (q = *s++; *s != q; s++) {
					if (*s == '\0') {
						snprintf(err, errlen,
						    "unbalanced %c quote", q);
						goto fail;
					}
					if (q == '"' && *s == '\\' &&
					    (s[1] == '"' || s[1] == '\\'))
						s++;
					*o++ = *s;
				}
				s++;
				break;
			case '\\':
				if (s[1] != '\0')
					s++;
				/* FALLTHROUGH */
			default:
				*o++ = *s++;
			}
		}
		*o++ = '\0';
	}
	if (nw == 0) {
		snprintf(err, errlen, "no command");
		goto fail;
	}
	/* one allocation: the pointers, then the words */
	argv = xmalloc((nw + 1) * sizeof(char *) + (size_t)(o - buf));
	memcpy(&argv[nw + 1], buf, (size_t)(o - buf));
	for (i = 0; i < nw; i++)
		argv[i] = (char *)&argv[nw + 1] + (words[i] - buf);
	argv[nw] = NULL;
	free(buf);
	*argvp = argv;
	return 0;
fail:
	free(buf);
	return -1;
}

/* argv[0] resolved against PATH in the parent; NULL if not found */
static char *
cmdrun_resolve(const char *cmd)
{
	const char *path = getenv("PATH"), *p, *e;
	struct stat st;
	char *full;
	size_t n;

	if (strchr(cmd, '/') != NULL)
		return stat(cmd, &st) == 0 && S_ISREG(st.st_mode) &&
		               access(cmd, X_OK) == 0
		           ? xstrdup(cmd)
		           : NULL;
	if (path == NULL || *path == '\0')
		path = "/usr/bin:/bin:/usr/sbin:/sbin";
	for (p = path; *p != '\0'; p = *e ? e + 1 : e) {
		e = strchr(p, ':');
		if (e == NULL)
			e = p + strlen(p);
		n = (size_t)(e - p);
		if (n == 0)
			continue;
		full = xasprintf("%.*s/%s", (int)n, p, cmd);
		if (stat(full, &st) == 0 && S_ISREG(st.st_mode) &&
		    access(full, X_OK) == 0)
			return full;
		free(full);
	}
	return NULL;
}

void
cmdrun_child_reset(int first_fd)
{
	struct sigaction dfl;
	sigset_t none;
	long fd, max = sysconf(_SC_OPEN_MAX);
	int sig;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	sigemptyset(&dfl.sa_mask);
#ifdef SYS_close_range
	if (syscall(SYS_close_range, (unsigned)first_fd, ~0U, 0) == 0)
		max = 0;
#endif
	for (fd = first_fd; fd < (max > 0 ? max : 0); fd++)
		close((int)fd);
	/*
	 * Dispositions before the mask, so nothing pending reaches one of
	 * the daemon's handlers here. exec resets caught signals but keeps
	 * ignored ones: libevent's kqueue backend (macOS) sets SIG_IGN for
	 * the signals it watches, and a child ignoring SIGTERM outlives
	 * every stop.
	 */
	for (sig = 1; sig < NSIG; sig++)
		if (sig != SIGKILL && sig != SIGSTOP)
			sigaction(sig, &dfl, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

/* between fork and exec: only async-signal-safe calls */
static void
cmdrun_exec_child(const char *file, char **argv, int out, int errfd)
{
	int devnull, e;

	setsid();
	if ((devnull = open("/dev/null", O_RDONLY)) == -1 ||
	    dup2(devnull, STDIN_FILENO) == -1 ||
	    dup2(out, STDOUT_FILENO) == -1 || dup2(out, STDERR_FILENO) == -1)
		_exit(126);
	/* the error pipe must survive the descriptor sweep */
	if (errfd != 3 && (dup2(errfd, 3) == -1))
		_exit(126);
	cmdrun_child_reset(4);
	fcntl(3, F_SETFD, FD_CLOEXEC);
	execv(file, argv);
	e = errno;
	(void)!write(3, &e, sizeof(e));
	_exit(127);
}

static void
cmdrun_unlink(struct cmdrun *c)
{
	struct cmdrun **pp;

	for (pp = &running; *pp; pp = &(*pp)->next)
		if (*pp == c) {
			*pp = c->next;
			return;
		}
}

static void
cmdrun_free(struct cmdrun *c)
{
	cmdrun_unlink(c);
	if (c->rev)
		event_free(c->rev);
	if (c->sigchld)
		event_free(c->sigchld);
	if (c->kill_ev)
		event_free(c->kill_ev);
	if (c->out != -1)
		close(c->out);
	if (c->errfd != -1)
		close(c->errfd);
	free(c);
}

/* whatever the pipe holds now, into the ring */
static int
cmdrun_drain(struct cmdrun *c)
{
	char buf[4096];
	ssize_t n;
	size_t i;

	while (c->out != -1) {
		n = read(c->out, buf, sizeof(buf));
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0) {
			event_del(c->rev);
			close(c->out);
			c->out = -1;
			return 0;
		}
		for (i = 0; i < (size_t)n; i++) {
			c->ring[c->ring_pos] = buf[i];
			c->ring_pos = (c->ring_pos + 1) % CMDRUN_TAIL;
			if (c->ring_len < CMDRUN_TAIL)
				c->ring_len++;
		}
	}
	return 0;
}

static void
cmdrun_on_read(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	cmdrun_drain(arg);
}

/* the ring, oldest first, as printable ASCII (valid in any JSON) */
static void
cmdrun_tail(const struct cmdrun *c, char *out)
{
	size_t i,
	    start = (c->ring_pos + CMDRUN_TAIL - c->ring_len) % CMDRUN_TAIL;
	unsigned char ch;

	for (i = 0; i < c->ring_len; i++) {
		ch = (unsigned char)c->ring[(start + i) % CMDRUN_TAIL];
		out[i] =
		    (ch == '\n' || (ch >= 0x20 && ch < 0x7f)) ? (char)ch : '?';
	}
	while (i > 0 && out[i - 1] == '\n')
		i--;
	out[i] = '\0';
}

static void
cmdrun_on_sigchld(evutil_socket_t sig, short what, void *arg)
{
	struct cmdrun *c = arg;
	struct cmdrun_result r;
	int status, e;

	(void)sig;
	(void)what;
	if (waitpid(c->pid, &status, WNOHANG) != c->pid)
		return;
	if (c->cancelled) {
		cmdrun_free(c);
		return;
	}
	memset(&r, 0, sizeof(r));
	r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
	r.signal = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	r.timed_out = c->timed_out;
	r.elapsed_ms = clock_mono_ms() - c->started_ms;
	if (c->errfd != -1 && read(c->errfd, &e, sizeof(e)) == sizeof(e)) {
		r.exec_failed = 1;
		snprintf(r.tail, sizeof(r.tail), "%s", strerror(e));
	} else {
		cmdrun_drain(c);
		cmdrun_tail(c, r.tail);
	}
	c->cb(&r, c->arg);
	cmdrun_free(c);
}

static void
cmdrun_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct cmdrun *c = arg;

	(void)fd;
	(void)what;
	c->timed_out = 1;
	kill(-c->pid, SIGKILL);
	kill(c->pid, SIGKILL);
}

struct cmdrun *
cmdrun_start(struct event_base *base, const char *line, uint64_t timeout_ms,
    cmdrun_cb cb, void *arg, char *err, size_t errlen)
{
	struct timeval tv = {(time_t)(timeout_ms / 1000),
	    (suseconds_t)(timeout_ms % 1000) * 1000};
	int out[2] = {-1, -1}, ep[2] = {-1, -1};
	struct cmdrun *c;
	char **argv, *file;
	pid_t pid;

	if (cmdrun_split(line, &argv, err, errlen) == -1)
		return NULL;
	if ((file = cmdrun_resolve(argv[0])) == NULL) {
		snprintf(err, errlen, "%s: command not found%s", argv[0],
		    strchr(argv[0], '/') ? " (or not executable)" : " in PATH");
		free(argv);
		return NULL;
	}
	if (pipe(out) == -1 || pipe(ep) == -1) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto fail;
	}
	evutil_make_socket_closeonexec(out[0]);
	evutil_make_socket_closeonexec(ep[0]);
	c = xcalloc(1, sizeof(*c));
	c->base = base;
	c->cb = cb;
	c->arg = arg;
	c->started_ms = clock_mono_ms();
	/* armed before the fork: a child that exits at once is not missed */
	c->sigchld = evsignal_new(base, SIGCHLD, cmdrun_on_sigchld, c);
	event_add(c->sigchld, NULL);
	if ((pid = fork()) == -1) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		event_free(c->sigchld);
		free(c);
		goto fail;
	}
	if (pid == 0)
		cmdrun_exec_child(file, argv, out[1], ep[1]);
	close(out[1]);
	close(ep[1]);
	free(file);
	free(argv);
	c->pid = pid;
	c->out = out[0];
	c->errfd = ep[0];
	evutil_make_socket_nonblocking(c->out);
	evutil_make_socket_nonblocking(c->errfd);
	c->rev =
	    event_new(base, c->out, EV_READ | EV_PERSIST, cmdrun_on_read, c);
	event_add(c->rev, NULL);
	c->kill_ev = evtimer_new(base, cmdrun_on_timeout, c);
	evtimer_add(c->kill_ev, &tv);
	c->next = running;
	running = c;
	return c;
fail:
	free(file);
	free(argv);
	if (out[0] != -1) {
		close(out[0]);
		close(out[1]);
	}
	if (ep[0] != -1) {
		close(ep[0]);
		close(ep[1]);
	}
	return NULL;
}

void
cmdrun_cancel(struct cmdrun *c)
{
	if (c == NULL)
		return;
	c->cancelled = 1;
	kill(-c->pid, SIGKILL);
	kill(c->pid, SIGKILL);
	if (c->rev)
		event_del(c->rev);
	if (c->kill_ev)
		evtimer_del(c->kill_ev);
}

void
cmdrun_describe(const struct cmdrun_result *r, char *buf, size_t len)
{
	if (r->exec_failed)
		snprintf(buf, len, "could not run: %s", r->tail);
	else if (r->timed_out)
		snprintf(buf, len, "timed out after %llu ms",
		    (unsigned long long)r->elapsed_ms);
	else if (r->signal != 0)
		snprintf(buf, len, "killed by signal %d", r->signal);
	else
		snprintf(buf, len, "exit %d", r->exit_code);
}

void
cmdrun_shutdown(void)
{
	struct cmdrun *c;

	while ((c = running) != NULL) {
		kill(-c->pid, SIGKILL);
		kill(c->pid, SIGKILL);
		waitpid(c->pid, NULL, 0);
		cmdrun_free(c);
	}
}
