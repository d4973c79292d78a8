/* SPDX-License-Identifier: ISC */
/*
 * sftp: struct fsops over SSH/SFTP with libssh, for reviving a silent peer.
 * Owns one blocking libssh session per connection and a small watchdog
 * thread that bounds every network step by timeout_ms: libssh bounds
 * ssh_connect itself, but in blocking mode an SFTP request waits forever
 * for a server that stopped answering (a SIGSTOPped or wedged sshd), so
 * the watchdog shuts the socket down when a step overruns and the
 * connection is dead from then on. Key authentication only, host key
 * pinned or found in a known_hosts file; never prompts, never accepts an
 * unknown key, never logs a secret. SFTP has no O_NOFOLLOW and the server
 * follows links on open, so a read first lstats the name, refuses a link,
 * and after the open compares the handle's attributes with what lstat saw;
 * owner and mode are set with FSETSTAT on the open handle, never by path
 * (a name can be swapped for a link between two requests, a handle
 * cannot). Deletes only through remove (the guard's own artefacts) and a
 * half-written file this very call created with O_EXCL.
 * Blocking: for the peerwatch-heal worker process only.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <libssh/callbacks.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "heal/sftp.h"

#define SFTP_DEFAULT_TIMEOUT_MS 10000
#define SFTP_CHUNK (32u * 1024)     /* per READ/WRITE request */
#define SFTP_MAX_REPLY (64u * 1024) /* our own raw requests' replies */
#define SFTP_POSIX_RENAME "posix-rename@openssh.com"

/*
 * The watchdog: while an operation is armed, deadline_ms is when it
 * overruns; the thread then shuts the socket down, which makes libssh's
 * poll return and the operation fail. fd is the SSH socket, owned by
 * libssh: the thread is stopped before libssh closes it, so a reused
 * descriptor number is never shut down.
 */
struct sftp_watchdog {
	pthread_t thread;
	pthread_mutex_t mtx;
	int wake[2]; /* self-pipe: re-read the deadline */
	int fd;
	uint64_t deadline_ms; /* 0: disarmed */
	int fired;
	int quit;
	int running;
};

struct sftp_conn {
	struct fsops ops;
	ssh_session ssh;
	sftp_session sftp;
	char *name; /* user@host:port, for messages */
	uint64_t timeout_ms;
	struct sftp_watchdog wd;
};

/* --- watchdog ------------------------------------------------------ */

static void *
sftp_wd_main(void *arg)
{
	struct sftp_conn *c = arg;
	struct sftp_watchdog *wd = &c->wd;
	struct pollfd pfd = {.fd = wd->wake[0], .events = POLLIN};
	uint64_t now, dl;
	char buf[64];
	int wait;

	for (;;) {
		pthread_mutex_lock(&wd->mtx);
		if (wd->quit) {
			pthread_mutex_unlock(&wd->mtx);
			return NULL;
		}
		dl = wd->deadline_ms;
		now = clock_mono_ms();
		if (dl != 0 && now >= dl) {
			/* the SSH socket stays open until sftp_disconnect */
			shutdown(wd->fd, SHUT_RDWR);
			wd->fired = 1;
			wd->deadline_ms = 0;
			dl = 0;
		}
		pthread_mutex_unlock(&wd->mtx);
		wait = dl == 0 ? -1
		               : (int)(dl - now > INT_MAX ? INT_MAX : dl - now);
		if (poll(&pfd, 1, wait) > 0)
			(void)!read(wd->wake[0], buf, sizeof(buf));
	}
}

static int
sftp_wd_start(struct sftp_conn *c, int fd)
{
	struct sftp_watchdog *wd = &c->wd;
	sigset_t all, old;
	int i, rc;

	if (pipe(wd->wake) == -1)
		return -1;
	for (i = 0; i < 2; i++) {
		fcntl(wd->wake[i], F_SETFD, FD_CLOEXEC);
		fcntl(wd->wake[i], F_SETFL, O_NONBLOCK);
	}
	wd->fd = fd;
	pthread_mutex_init(&wd->mtx, NULL);
	/* signals belong to the loop thread, never to this one */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	rc = pthread_create(&wd->thread, NULL, sftp_wd_main, c);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		close(wd->wake[0]);
		close(wd->wake[1]);
		pthread_mutex_destroy(&wd->mtx);
		errno = rc;
		return -1;
	}
	wd->running = 1;
	return 0;
}

static void
sftp_wd_poke(struct sftp_watchdog *wd)
{
	(void)!write(wd->wake[1], "", 1);
}

/* (re)start the clock of one network step: timeout_ms from now */
static void
sftp_wd_arm(struct sftp_conn *c)
{
	struct sftp_watchdog *wd = &c->wd;
	uint64_t was;

	if (!wd->running)
		return;
	pthread_mutex_lock(&wd->mtx);
	was = wd->deadline_ms;
	wd->deadline_ms = clock_mono_ms() + c->timeout_ms;
	pthread_mutex_unlock(&wd->mtx);
	/* an armed thread wakes at the old, earlier deadline anyway */
	if (was == 0)
		sftp_wd_poke(wd);
}

/* stop the clock; returns 1 if the watchdog has ever fired */
static int
sftp_wd_disarm(struct sftp_conn *c)
{
	struct sftp_watchdog *wd = &c->wd;
	int fired;

	if (!wd->running)
		return 0;
	pthread_mutex_lock(&wd->mtx);
	wd->deadline_ms = 0;
	fired = wd->fired;
	pthread_mutex_unlock(&wd->mtx);
	return fired;
}

static int
sftp_wd_fired(struct sftp_conn *c)
{
	struct sftp_watchdog *wd = &c->wd;
	int fired;

	if (!wd->running)
		return 0;
	pthread_mutex_lock(&wd->mtx);
	fired = wd->fired;
	pthread_mutex_unlock(&wd->mtx);
	return fired;
}

/* drop the connection now (a reply out of step with the request) */
static void
sftp_wd_kill(struct sftp_conn *c)
{
	struct sftp_watchdog *wd = &c->wd;

	if (!wd->running)
		return;
	pthread_mutex_lock(&wd->mtx);
	shutdown(wd->fd, SHUT_RDWR);
	wd->fired = 1;
	pthread_mutex_unlock(&wd->mtx);
}

static void
sftp_wd_stop(struct sftp_conn *c)
{
	struct sftp_watchdog *wd = &c->wd;

	if (!wd->running)
		return;
	pthread_mutex_lock(&wd->mtx);
	wd->quit = 1;
	pthread_mutex_unlock(&wd->mtx);
	sftp_wd_poke(wd);
	pthread_join(wd->thread, NULL);
	close(wd->wake[0]);
	close(wd->wake[1]);
	pthread_mutex_destroy(&wd->mtx);
	wd->running = 0;
}

/* --- helpers --------------------------------------------------------- */

/* libssh's lines go to our log at debug level; they carry no secrets */
static void
sftp_log_cb(int prio, const char *function, const char *buffer, void *arg)
{
	(void)prio;
	(void)function;
	(void)arg;
	log_debug("libssh: %s", buffer);
}

static void
sftp_fclose(struct sftp_conn *c, sftp_file f)
{
	if (f != NULL && sftp_close(f) != 0)
		log_debug("sftp %s: close: %s", c->name, ssh_get_error(c->ssh));
}

/* an operation failed: say why, a timeout first */
static void
sftp_op_error(struct sftp_conn *c, const char *what, const char *path,
    char *err, size_t errlen)
{
	if (sftp_wd_fired(c))
		snprintf(err, errlen,
		    "%s %s: no answer from %s within %" PRIu64
		    " ms, connection dropped",
		    what, path, c->name, c->timeout_ms);
	else
		snprintf(err, errlen, "%s %s: %s", what, path,
		    ssh_get_error(c->ssh));
}

/* every operation: refuse on a dropped connection, then start the clock */
static int
sftp_begin(struct sftp_conn *c, const char *what, const char *path, char *err,
    size_t errlen)
{
	if (sftp_wd_fired(c)) {
		snprintf(err, errlen,
		    "%s %s: connection to %s was dropped "
		    "after a timeout",
		    what, path, c->name);
		return -1;
	}
	sftp_wd_arm(c);
	return 0;
}

static int
sftp_errcode(struct sftp_conn *c)
{
	return sftp_wd_fired(c) ? -1 : sftp_get_error(c->sftp);
}

static uint64_t
sftp_attr_mtime_ms(sftp_attributes a)
{
	uint64_t s = a->mtime64 != 0 ? a->mtime64 : a->mtime;
	uint64_t ms = s * 1000;

	if (a->flags & SSH_FILEXFER_ATTR_SUBSECOND_TIMES)
		ms += a->mtime_nseconds / 1000000;
	return ms;
}

static void
sftp_conv(sftp_attributes a, struct fsops_stat *st)
{
	st->type = a->type == SSH_FILEXFER_TYPE_REGULAR     ? FSOPS_REG
	           : a->type == SSH_FILEXFER_TYPE_DIRECTORY ? FSOPS_DIR
	           : a->type == SSH_FILEXFER_TYPE_SYMLINK   ? FSOPS_LINK
	                                                    : FSOPS_OTHER;
	st->has_owner = (a->flags & SSH_FILEXFER_ATTR_UIDGID) != 0;
	st->uid = a->uid;
	st->gid = a->gid;
	st->mode = a->permissions & 07777;
	st->nlink = 0; /* SFTP v3 does not say */
	st->size = a->size;
	st->mtime_ms = sftp_attr_mtime_ms(a);
}

static char *
sftp_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

/* --- read ------------------------------------------------------------ */

static int
sftp_read_all(struct sftp_conn *c, sftp_file f, const char *path, size_t hint,
    size_t max, char **data, size_t *len, char *err, size_t errlen)
{
	size_t cap = hint + 1, n = 0;
	char *buf = xmalloc(cap + 1);
	ssize_t r;

	for (;;) {
		if (n == cap) {
			if (cap > max)
				goto toobig;
			cap *= 2;
			buf = xreallocarray(buf, cap + 1, 1);
		}
		sftp_wd_arm(c);
		r = sftp_read(
		    f, buf + n, cap - n < SFTP_CHUNK ? cap - n : SFTP_CHUNK);
		if (r < 0) {
			sftp_op_error(c, "read", path, err, errlen);
			free(buf);
			return -1;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	if (n > max)
		goto toobig;
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return 0;
toobig:
	snprintf(err, errlen, "%s: larger than %zu bytes, refused", path, max);
	free(buf);
	return -1;
}

/* lstat: 0, 1 if nothing is there, -1; *out malloc'd by libssh */
static int
sftp_lstat_at(struct sftp_conn *c, const char *path, sftp_attributes *out,
    char *err, size_t errlen)
{
	sftp_wd_arm(c);
	if ((*out = sftp_lstat(c->sftp, path)) != NULL)
		return 0;
	if (sftp_errcode(c) == SSH_FX_NO_SUCH_FILE)
		return 1;
	sftp_op_error(c, "lstat", path, err, errlen);
	return -1;
}

static int
sftp_op_stat(void *ctx, const char *path, struct fsops_stat *st, char *err,
    size_t errlen)
{
	struct sftp_conn *c = ctx;
	sftp_attributes a;
	int rc;

	if (sftp_begin(c, "lstat", path, err, errlen) == -1)
		return -1;
	if ((rc = sftp_lstat_at(c, path, &a, err, errlen)) == 0) {
		sftp_conv(a, st);
		sftp_attributes_free(a);
	}
	sftp_wd_disarm(c);
	return rc;
}

/* what may be read: a regular file, not a link, not too big */
static int
sftp_readable(
    const char *path, sftp_attributes a, size_t max, char *err, size_t errlen)
{
	if (a->type == SSH_FILEXFER_TYPE_SYMLINK)
		snprintf(
		    err, errlen, "%s: is a symbolic link, not followed", path);
	else if (a->type != SSH_FILEXFER_TYPE_REGULAR)
		snprintf(err, errlen, "%s: not a regular file", path);
	else if (a->size > max)
		snprintf(err, errlen, "%s: larger than %zu bytes, refused",
		    path, max);
	else
		return 0;
	return -1;
}

/* the opened file is the one lstat saw (the server followed no link) */
static int
sftp_same_file(sftp_attributes l, sftp_attributes f)
{
	return f->type == SSH_FILEXFER_TYPE_REGULAR && l->size == f->size &&
	       l->uid == f->uid && l->gid == f->gid &&
	       l->permissions == f->permissions &&
	       sftp_attr_mtime_ms(l) == sftp_attr_mtime_ms(f);
}

/* open path for reading and fstat it; -1 with err, 1 if gone */
static int
sftp_open_checked(struct sftp_conn *c, const char *path, sftp_attributes l,
    sftp_file *f, sftp_attributes *fa, char *err, size_t errlen)
{
	sftp_wd_arm(c);
	if ((*f = sftp_open(c->sftp, path, O_RDONLY, 0)) == NULL) {
		if (sftp_errcode(c) == SSH_FX_NO_SUCH_FILE)
			return 1;
		sftp_op_error(c, "open", path, err, errlen);
		return -1;
	}
	sftp_wd_arm(c);
	if ((*fa = sftp_fstat(*f)) == NULL)
		sftp_op_error(c, "stat", path, err, errlen);
	else if (!sftp_same_file(l, *fa))
		snprintf(err, errlen,
		    "%s: changed while being opened (a link swapped in?), "
		    "refused",
		    path);
	else
		return 0;
	return -1;
}

/* fsops read: 0, 1 if the file does not exist, -1 */
static int
sftp_op_read(void *ctx, const char *path, size_t max, char **data, size_t *len,
    struct fsops_stat *sto, char *err, size_t errlen)
{
	struct sftp_conn *c = ctx;
	sftp_attributes l = NULL, fa = NULL;
	sftp_file f = NULL;
	int rc;

	*data = NULL;
	*len = 0;
	if (max > FSOPS_MAX_FILE)
		max = FSOPS_MAX_FILE;
	if (sftp_begin(c, "read", path, err, errlen) == -1)
		return -1;
	rc = sftp_lstat_at(c, path, &l, err, errlen);
	if (rc == 0 && (rc = sftp_readable(path, l, max, err, errlen)) == 0)
		rc = sftp_open_checked(c, path, l, &f, &fa, err, errlen);
	if (rc == 0)
		rc = sftp_read_all(
		    c, f, path, (size_t)fa->size, max, data, len, err, errlen);
	if (rc == 0 && sto != NULL)
		sftp_conv(fa, sto);
	sftp_attributes_free(l);
	sftp_attributes_free(fa);
	if (f != NULL) {
		sftp_wd_arm(c);
		sftp_fclose(c, f);
	}
	sftp_wd_disarm(c);
	return rc;
}

/* --- glob ------------------------------------------------------------ */

struct sftp_globbuf {
	struct fsops_match *m;
	size_t n, cap;
};

static int
sftp_match_cmp(const void *a, const void *b)
{
	const struct fsops_match *ma = a, *mb = b;

	if (ma->mtime_ms != mb->mtime_ms)
		return ma->mtime_ms > mb->mtime_ms ? -1 : 1;
	return -strcmp(ma->path, mb->path);
}

/* one directory entry (READDIR attributes are lstat's): keep regular
 * files; a link is never followed, so never a candidate */
static void
sftp_glob_entry(struct sftp_globbuf *g, const char *prefix, sftp_attributes a)
{
	char *path;

	if (a->type != SSH_FILEXFER_TYPE_REGULAR)
		return;
	path = xasprintf("%s%s", prefix, a->name);
	if (g->n == g->cap) {
		g->cap = g->cap ? 2 * g->cap : 8;
		g->m = xreallocarray(g->m, g->cap, sizeof(*g->m));
	}
	g->m[g->n].path = path;
	g->m[g->n].mtime_ms = sftp_attr_mtime_ms(a);
	g->n++;
}

static int
sftp_glob_dir(struct sftp_conn *c, sftp_dir d, const char *prefix,
    const char *base, struct sftp_globbuf *g)
{
	sftp_attributes a;

	for (;;) {
		sftp_wd_arm(c);
		if ((a = sftp_readdir(c->sftp, d)) == NULL)
			break;
		/* as glob(3): a leading dot only matches a leading dot */
		if (fnmatch(base, a->name, FNM_PERIOD) == 0)
			sftp_glob_entry(g, prefix, a);
		sftp_attributes_free(a);
	}
	return sftp_dir_eof(d) ? 0 : -1;
}

/* fsops glob: metacharacters only in the last component */
static int
sftp_op_glob(void *ctx, const char *pattern, struct fsops_match **matches,
    size_t *n, char *err, size_t errlen)
{
	struct sftp_conn *c = ctx;
	struct sftp_globbuf g = {NULL, 0, 0};
	const char *slash = strrchr(pattern, '/');
	char *dir = sftp_dirname(pattern), *prefix;
	sftp_dir d;
	int rc = 0;

	*matches = NULL;
	*n = 0;
	prefix = slash ? xstrndup(pattern, (size_t)(slash - pattern) + 1)
	               : xstrdup("");
	if (sftp_begin(c, "glob", pattern, err, errlen) == -1)
		rc = -1;
	else if ((d = sftp_opendir(c->sftp, dir)) == NULL) {
		/* a missing directory matches nothing, like glob(3) */
		if (sftp_errcode(c) != SSH_FX_NO_SUCH_FILE) {
			sftp_op_error(c, "opendir", dir, err, errlen);
			rc = -1;
		}
	} else {
		if (sftp_glob_dir(
		        c, d, prefix, slash ? slash + 1 : pattern, &g) == -1) {
			sftp_op_error(c, "readdir", dir, err, errlen);
			rc = -1;
		}
		sftp_wd_arm(c);
		sftp_closedir(d);
	}
	sftp_wd_disarm(c);
	free(dir);
	free(prefix);
	if (rc == -1) {
		fsops_matches_free(g.m, g.n);
		return -1;
	}
	if (g.n > 1)
		qsort(g.m, g.n, sizeof(*g.m), sftp_match_cmp);
	*matches = g.m;
	*n = g.n;
	return 0;
}

/* --- raw requests ---------------------------------------------------- */

static size_t
sftp_put_u32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)(v >> 24);
	p[1] = (unsigned char)(v >> 16);
	p[2] = (unsigned char)(v >> 8);
	p[3] = (unsigned char)v;
	return 4;
}

static uint32_t
sftp_get_u32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static size_t
sftp_put_str(unsigned char *p, const char *s)
{
	size_t len = strlen(s);

	sftp_put_u32(p, (uint32_t)len);
	memcpy(p + 4, s, len);
	return 4 + len;
}

static int
sftp_chan_read(struct sftp_conn *c, unsigned char *buf, size_t len)
{
	size_t got = 0;
	int r;

	while (got < len) {
		r = ssh_channel_read(
		    c->sftp->channel, buf + got, (uint32_t)(len - got), 0);
		if (r < 0 || sftp_wd_fired(c))
			return -1;
		if (r == 0 && ssh_channel_is_eof(c->sftp->channel))
			return -1;
		got += (size_t)r;
	}
	return 0;
}

/*
 * One raw SFTP request (type, a fresh id, then body), sent and answered
 * on libssh's SFTP channel: libssh 0.10 has no call for posix-rename or
 * FSETSTAT. Its client is synchronous, so between its calls the channel
 * is at a packet boundary with nothing outstanding, and the reply is read
 * here whole. Returns the SSH_FX_* status, -1 on a transport or protocol
 * error (the stream is then out of step: the connection is dropped).
 */
static int
sftp_raw_status(
    struct sftp_conn *c, uint8_t type, const unsigned char *body, size_t blen)
{
	size_t len = 4 + 1 + 4 + blen;
	unsigned char *pkt = xmalloc(len), hdr[4], *reply = NULL;
	uint32_t id = ++c->sftp->id_counter, rlen;
	size_t o = sftp_put_u32(pkt, (uint32_t)(len - 4));
	int status = -1;

	pkt[o++] = type;
	o += sftp_put_u32(pkt + o, id);
	memcpy(pkt + o, body, blen);
	o += blen;
	if (ssh_channel_write(c->sftp->channel, pkt, (uint32_t)o) != (int)o ||
	    sftp_chan_read(c, hdr, 4) == -1)
		goto out;
	rlen = sftp_get_u32(hdr);
	if (rlen < 9 || rlen > SFTP_MAX_REPLY)
		goto out;
	reply = xmalloc(rlen);
	if (sftp_chan_read(c, reply, rlen) == -1)
		goto out;
	if (reply[0] == SSH_FXP_STATUS && sftp_get_u32(reply + 1) == id)
		status = (int)sftp_get_u32(reply + 5);
out:
	if (status == -1)
		sftp_wd_kill(c);
	free(pkt);
	free(reply);
	return status;
}

#if LIBSSH_VERSION_INT < SSH_VERSION_INT(0, 11, 0)
/* an extended request with two string arguments */
static int
sftp_ext2(struct sftp_conn *c, const char *ext, const char *a, const char *b)
{
	size_t len = 12 + strlen(ext) + strlen(a) + strlen(b);
	unsigned char *body = xmalloc(len);
	size_t o = 0;
	int status;

	o += sftp_put_str(body + o, ext);
	o += sftp_put_str(body + o, a);
	o += sftp_put_str(body + o, b);
	status = sftp_raw_status(c, SSH_FXP_EXTENDED, body, o);
	free(body);
	return status;
}
#endif

/* FSETSTAT on an open handle: owner (flag UIDGID) or mode (PERMISSIONS) */
static int
sftp_fsetstat(
    struct sftp_conn *c, sftp_file f, uint32_t flag, uint32_t v1, uint32_t v2)
{
	size_t hlen = ssh_string_len(f->handle), o = 0;
	unsigned char *body = xmalloc(4 + hlen + 12);
	int status;

	o += sftp_put_u32(body + o, (uint32_t)hlen);
	memcpy(body + o, ssh_string_data(f->handle), hlen);
	o += hlen;
	o += sftp_put_u32(body + o, flag);
	o += sftp_put_u32(body + o, v1);
	if (flag == SSH_FILEXFER_ATTR_UIDGID)
		o += sftp_put_u32(body + o, v2);
	sftp_wd_arm(c);
	status = sftp_raw_status(c, SSH_FXP_FSETSTAT, body, o);
	free(body);
	return status;
}

static const char *
sftp_status_name(int st)
{
	return st == SSH_FX_PERMISSION_DENIED ? "permission denied"
	       : st == SSH_FX_OP_UNSUPPORTED  ? "not supported"
	       : st == -1                     ? "connection lost"
	                                      : "failure";
}

/* --- create ---------------------------------------------------------- */

static int
sftp_write_all(struct sftp_conn *c, sftp_file f, const char *data, size_t len)
{
	ssize_t r;

	while (len > 0) {
		sftp_wd_arm(c);
		r = sftp_write(f, data, len < SFTP_CHUNK ? len : SFTP_CHUNK);
		if (r <= 0)
			return -1;
		data += r;
		len -= (size_t)r;
	}
	return 0;
}

/*
 * Owner first, then the mode (never setuid/setgid/sticky), each its own
 * FSETSTAT so a refused chown (a non-root SSH user) still gets the mode;
 * what could not be kept goes to warn.
 */
static void
sftp_create_attr(struct sftp_conn *c, sftp_file f,
    const struct fsops_stat *like, char *warn, size_t warnlen)
{
	uint32_t mode = like != NULL ? like->mode & 0777 : 0600;
	int st;

	if (like != NULL && like->has_owner &&
	    (st = sftp_fsetstat(c, f, SSH_FILEXFER_ATTR_UIDGID, like->uid,
	         like->gid)) != SSH_FX_OK)
		snprintf(warn, warnlen, "owner %u:%u not kept (%s)",
		    (unsigned)like->uid, (unsigned)like->gid,
		    sftp_status_name(st));
	if (sftp_wd_fired(c))
		return;
	/* the server's umask applied at open: the mode is set again */
	if ((st = sftp_fsetstat(
	         c, f, SSH_FILEXFER_ATTR_PERMISSIONS, mode, 0)) != SSH_FX_OK)
		snprintf(warn + strlen(warn), warnlen - strlen(warn),
		    "%smode %04o not kept (%s)", warn[0] ? "; " : "",
		    (unsigned)mode, sftp_status_name(st));
}

/* returns what failed or NULL */
static const char *
sftp_create_fill(struct sftp_conn *c, sftp_file f, const char *path,
    const char *data, size_t len)
{
	if (sftp_wd_fired(c))
		return "setstat";
	if (sftp_write_all(c, f, data, len) == -1)
		return "write";
	sftp_wd_arm(c);
	if (sftp_extension_supported(c->sftp, "fsync@openssh.com", "1")) {
		if (sftp_fsync(f) != 0)
			return "fsync";
	} else
		log_debug("sftp %s: no fsync@openssh.com, %s not fsynced",
		    c->name, path);
	return NULL;
}

static int
sftp_op_create(void *ctx, const char *path, const char *data, size_t len,
    const struct fsops_stat *like, char *warn, size_t warnlen, char *err,
    size_t errlen)
{
	struct sftp_conn *c = ctx;
	const char *what;
	sftp_file f;

	warn[0] = '\0';
	if (sftp_begin(c, "create", path, err, errlen) == -1)
		return -1;
	/* O_EXCL: the server refuses any existing name, a link too */
	f = sftp_open(c->sftp, path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	if (f == NULL) {
		sftp_op_error(c, "create", path, err, errlen);
		sftp_wd_disarm(c);
		return -1;
	}
	sftp_create_attr(c, f, like, warn, warnlen);
	what = sftp_create_fill(c, f, path, data, len);
	if (what != NULL)
		sftp_op_error(c, what, path, err, errlen);
	sftp_wd_arm(c);
	if (sftp_close(f) != 0 && what == NULL) {
		what = "close";
		sftp_op_error(c, what, path, err, errlen);
	}
	/* ours alone (O_EXCL above) and incomplete: nobody's data */
	if (what != NULL && !sftp_wd_fired(c)) {
		sftp_wd_arm(c);
		sftp_unlink(c->sftp, path);
	}
	sftp_wd_disarm(c);
	return what == NULL ? 0 : -1;
}

static int
sftp_op_remove(void *ctx, const char *path, char *err, size_t errlen)
{
	struct sftp_conn *c = ctx;
	int rc = 0;

	if (sftp_begin(c, "remove", path, err, errlen) == -1)
		return -1;
	if (sftp_unlink(c->sftp, path) != 0) {
		sftp_op_error(c, "remove", path, err, errlen);
		rc = -1;
	}
	sftp_wd_disarm(c);
	return rc;
}

/* --- rename ---------------------------------------------------------- */

/* atomic rename over an existing target: SSH_FX_* status or -1 */
static int
sftp_posix_rename(struct sftp_conn *c, const char *from, const char *to)
{
#if LIBSSH_VERSION_INT >= SSH_VERSION_INT(0, 11, 0)
	/* from 0.11 sftp_rename uses posix-rename when it is advertised */
	if (sftp_rename(c->sftp, from, to) == 0)
		return SSH_FX_OK;
	return sftp_errcode(c);
#else
	return sftp_ext2(c, SFTP_POSIX_RENAME, from, to);
#endif
}

/*
 * A server without posix-rename: SSH_FXP_RENAME refuses an existing
 * target, so the target is first renamed aside to
 * <to>.peerwatch-old-<unix ms> and kept (never deleted). Not atomic: for
 * a moment <to> does not exist. If the second step fails the first is
 * undone.
 */
static int
sftp_rename_aside(struct sftp_conn *c, const char *from, const char *to,
    char *err, size_t errlen)
{
	sftp_attributes st;
	char *old;

	if ((st = sftp_lstat(c->sftp, to)) == NULL) {
		sftp_wd_arm(c);
		if (sftp_rename(c->sftp, from, to) == 0)
			return 0;
		sftp_op_error(c, "rename", from, err, errlen);
		return -1;
	}
	sftp_attributes_free(st);
	old = xasprintf("%s.peerwatch-old-%" PRIu64, to, clock_wall_ms());
	sftp_wd_arm(c);
	if (sftp_rename(c->sftp, to, old) != 0) {
		sftp_op_error(c, "rename", to, err, errlen);
		free(old);
		return -1;
	}
	sftp_wd_arm(c);
	if (sftp_rename(c->sftp, from, to) != 0) {
		sftp_op_error(c, "rename", from, err, errlen);
		sftp_wd_arm(c);
		if (sftp_rename(c->sftp, old, to) != 0)
			log_warnx("sftp %s: %s left as %s", c->name, to, old);
		free(old);
		return -1;
	}
	log_info("sftp %s: no posix-rename; previous %s kept as %s", c->name,
	    to, old);
	free(old);
	return 0;
}

static int
sftp_op_rename(
    void *ctx, const char *from, const char *to, char *err, size_t errlen)
{
	struct sftp_conn *c = ctx;
	int st = SSH_FX_OP_UNSUPPORTED, rc = 0;

	if (sftp_begin(c, "rename", from, err, errlen) == -1)
		return -1;
	if (sftp_extension_supported(c->sftp, SFTP_POSIX_RENAME, "1"))
		st = sftp_posix_rename(c, from, to);
	if (st == SSH_FX_OP_UNSUPPORTED)
		rc = sftp_rename_aside(c, from, to, err, errlen);
	else if (st != SSH_FX_OK) {
		if (st == -1 || sftp_wd_fired(c))
			sftp_op_error(c, "rename", from, err, errlen);
		else
			snprintf(err, errlen, "rename %s to %s: %s", from, to,
			    st == SSH_FX_NO_SUCH_FILE ? "no such file"
			    : st == SSH_FX_PERMISSION_DENIED
			        ? "permission denied"
			        : "failure");
		rc = -1;
	}
	sftp_wd_disarm(c);
	return rc;
}

/* --- mkparent -------------------------------------------------------- */

/* 1 a directory, 0 missing or unreadable, -1 something else */
static int
sftp_is_dir(struct sftp_conn *c, const char *path)
{
	sftp_attributes st;
	int rc;

	sftp_wd_arm(c);
	if ((st = sftp_stat(c->sftp, path)) == NULL)
		return 0;
	rc = st->type == SSH_FILEXFER_TYPE_DIRECTORY ? 1 : -1;
	sftp_attributes_free(st);
	return rc;
}

/* mkdir -p; an existing directory is fine whatever mkdir says */
static int
sftp_mkdirs(struct sftp_conn *c, char *dir, char *err, size_t errlen)
{
	char *p = dir, save;
	int isdir;

	while (*p == '/')
		p++;
	for (;; p++) {
		if (*p != '/' && *p != '\0')
			continue;
		save = *p;
		*p = '\0';
		sftp_wd_arm(c);
		if (sftp_mkdir(c->sftp, dir, 0755) != 0 &&
		    (isdir = sftp_is_dir(c, dir)) != 1) {
			if (isdir == -1)
				snprintf(err, errlen,
				    "mkdir %s: exists and is "
				    "not a directory",
				    dir);
			else
				sftp_op_error(c, "mkdir", dir, err, errlen);
			*p = save;
			return -1;
		}
		*p = save;
		if (save == '\0')
			return 0;
	}
}

static int
sftp_op_mkparent(void *ctx, const char *path, char *err, size_t errlen)
{
	struct sftp_conn *c = ctx;
	char *dir = sftp_dirname(path);
	int rc = -1;

	if (sftp_begin(c, "mkdir", dir, err, errlen) == 0) {
		if (sftp_is_dir(c, dir) == 1)
			rc = 0;
		else if (sftp_wd_fired(c))
			sftp_op_error(c, "stat", dir, err, errlen);
		else
			rc = sftp_mkdirs(c, dir, err, errlen);
	}
	sftp_wd_disarm(c);
	free(dir);
	return rc;
}

/* --- connect --------------------------------------------------------- */

static int
sftp_set_options(struct sftp_conn *c, const struct sftp_target *t)
{
	unsigned int port = t->port ? t->port : 22;
	long sec = (long)(c->timeout_ms / 1000);
	long usec = (long)(c->timeout_ms % 1000) * 1000;
	bool no = false;
	const char *kh = t->known_hosts ? t->known_hosts : "/dev/null";

	/* no ssh_config, no ~/.ssh, no system known_hosts: only ours */
	if (ssh_options_set(c->ssh, SSH_OPTIONS_PROCESS_CONFIG, &no) < 0 ||
	    ssh_options_set(c->ssh, SSH_OPTIONS_HOST, t->host) < 0 ||
	    ssh_options_set(c->ssh, SSH_OPTIONS_PORT, &port) < 0 ||
	    ssh_options_set(c->ssh, SSH_OPTIONS_USER, t->user) < 0 ||
	    ssh_options_set(c->ssh, SSH_OPTIONS_TIMEOUT, &sec) < 0 ||
	    ssh_options_set(c->ssh, SSH_OPTIONS_TIMEOUT_USEC, &usec) < 0 ||
	    ssh_options_set(c->ssh, SSH_OPTIONS_KNOWNHOSTS, kh) < 0 ||
	    ssh_options_set(
	        c->ssh, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, "/dev/null") < 0)
		return -1;
	ssh_set_blocking(c->ssh, 1);
	return 0;
}

/* "SHA256:abc=" -> "abc": the prefix and base64 padding are optional */
static size_t
sftp_fpr_core(const char *s, const char **core)
{
	size_t n;

	if (strncasecmp(s, "SHA256:", 7) == 0)
		s += 7;
	n = strlen(s);
	while (n > 0 && s[n - 1] == '=')
		n--;
	*core = s;
	return n;
}

static char *
sftp_server_fpr(struct sftp_conn *c)
{
	ssh_key key = NULL;
	unsigned char *hash = NULL;
	size_t hlen = 0;
	char *fp, *out = NULL;

	if (ssh_get_server_publickey(c->ssh, &key) != SSH_OK)
		return NULL;
	if (ssh_get_publickey_hash(
	        key, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) == 0 &&
	    (fp = ssh_get_fingerprint_hash(
	         SSH_PUBLICKEY_HASH_SHA256, hash, hlen)) != NULL) {
		out = xstrdup(fp);
		ssh_string_free_char(fp);
	}
	ssh_clean_pubkey_hash(&hash);
	ssh_key_free(key);
	return out;
}

static enum sftp_fail
sftp_check_known(struct sftp_conn *c, const struct sftp_target *t,
    const char *fpr, char *err, size_t errlen)
{
	const char *why;

	switch (ssh_session_is_known_server(c->ssh)) {
	case SSH_KNOWN_HOSTS_OK:
		return SFTP_OK;
	case SSH_KNOWN_HOSTS_CHANGED:
		why = "CHANGED from the one in";
		break;
	case SSH_KNOWN_HOSTS_OTHER:
		why = "of another type than the one in";
		break;
	case SSH_KNOWN_HOSTS_ERROR:
		snprintf(err, errlen, "%s: known_hosts %s: %s", c->name,
		    t->known_hosts, ssh_get_error(c->ssh));
		return SFTP_HOSTKEY;
	default:
		why = "not found in";
		break;
	}
	snprintf(err, errlen, "%s: host key %s %s known_hosts %s: refused",
	    c->name, fpr, why, t->known_hosts);
	return SFTP_HOSTKEY;
}

static enum sftp_fail
sftp_verify_host(
    struct sftp_conn *c, const struct sftp_target *t, char *err, size_t errlen)
{
	const char *want, *have;
	size_t wn, hn;
	char *fpr;
	enum sftp_fail f = SFTP_OK;

	if ((fpr = sftp_server_fpr(c)) == NULL) {
		snprintf(err, errlen, "%s: no host key fingerprint: %s",
		    c->name, ssh_get_error(c->ssh));
		return SFTP_HOSTKEY;
	}
	if (t->hostkey_sha256 != NULL) {
		wn = sftp_fpr_core(t->hostkey_sha256, &want);
		hn = sftp_fpr_core(fpr, &have);
		if (wn != hn || memcmp(want, have, wn) != 0) {
			snprintf(err, errlen,
			    "%s: host key mismatch: "
			    "expected SHA256:%.*s, presented %s",
			    c->name, (int)wn, want, fpr);
			f = SFTP_HOSTKEY;
		}
	} else
		f = sftp_check_known(c, t, fpr, err, errlen);
	free(fpr);
	return f;
}

static int
sftp_no_passphrase(
    const char *prompt, char *buf, size_t len, int echo, int verify, void *arg)
{
	(void)prompt;
	(void)buf;
	(void)len;
	(void)echo;
	(void)verify;
	(void)arg;
	return -1; /* never prompt: an encrypted key is refused */
}

static enum sftp_fail
sftp_auth(struct sftp_conn *c, ssh_key key, char *err, size_t errlen)
{
	int rc;

	sftp_wd_arm(c);
	rc = ssh_userauth_publickey(c->ssh, NULL, key);
	if (sftp_wd_disarm(c)) {
		snprintf(err, errlen,
		    "%s: no answer to authentication within "
		    "%" PRIu64 " ms",
		    c->name, c->timeout_ms);
		return SFTP_UNREACHABLE;
	}
	if (rc == SSH_AUTH_SUCCESS)
		return SFTP_OK;
	snprintf(err, errlen, "%s: public key refused%s%s", c->name,
	    rc == SSH_AUTH_ERROR ? ": " : "",
	    rc == SSH_AUTH_ERROR ? ssh_get_error(c->ssh) : "");
	return SFTP_AUTH;
}

static enum sftp_fail
sftp_subsystem(struct sftp_conn *c, char *err, size_t errlen)
{
	int fired;

	sftp_wd_arm(c);
	if ((c->sftp = sftp_new(c->ssh)) != NULL && sftp_init(c->sftp) == 0) {
		sftp_wd_disarm(c);
		return SFTP_OK;
	}
	fired = sftp_wd_disarm(c);
	if (fired)
		snprintf(err, errlen,
		    "%s: no SFTP answer within %" PRIu64 " ms", c->name,
		    c->timeout_ms);
	else
		snprintf(err, errlen, "%s: SFTP subsystem: %s", c->name,
		    ssh_get_error(c->ssh));
	return fired ? SFTP_UNREACHABLE : SFTP_PROTOCOL;
}

/* key file to ssh_key; never prompts for a passphrase */
static enum sftp_fail
sftp_load_key(
    const struct sftp_target *t, ssh_key *key, char *err, size_t errlen)
{
	if (t->key_file == NULL) {
		snprintf(err, errlen, "no ssh_key given");
		return SFTP_AUTH;
	}
	if (ssh_pki_import_privkey_file(
	        t->key_file, NULL, sftp_no_passphrase, NULL, key) != SSH_OK) {
		snprintf(err, errlen,
		    "%s: cannot load private key "
		    "(missing, unreadable or passphrase-protected)",
		    t->key_file);
		return SFTP_AUTH;
	}
	return SFTP_OK;
}

/* TCP, banner, key exchange (bounded by libssh), host key, then auth */
static enum sftp_fail
sftp_open_session(struct sftp_conn *c, const struct sftp_target *t, ssh_key key,
    char *err, size_t errlen)
{
	enum sftp_fail f;

	if ((c->ssh = ssh_new()) == NULL || sftp_set_options(c, t) == -1) {
		snprintf(err, errlen, "%s: libssh setup failed", c->name);
		return SFTP_PROTOCOL;
	}
	if (ssh_connect(c->ssh) != SSH_OK) {
		snprintf(err, errlen, "%s: %s", c->name, ssh_get_error(c->ssh));
		return SFTP_UNREACHABLE;
	}
	if ((f = sftp_verify_host(c, t, err, errlen)) != SFTP_OK)
		return f;
	if (sftp_wd_start(c, ssh_get_fd(c->ssh)) == -1) {
		snprintf(err, errlen, "%s: watchdog thread: %s", c->name,
		    strerror(errno));
		return SFTP_PROTOCOL;
	}
	if ((f = sftp_auth(c, key, err, errlen)) != SFTP_OK)
		return f;
	return sftp_subsystem(c, err, errlen);
}

struct sftp_conn *
sftp_connect(
    const struct sftp_target *t, enum sftp_fail *why, char *err, size_t errlen)
{
	struct sftp_conn *c = xcalloc(1, sizeof(*c));
	ssh_key key = NULL;
	enum sftp_fail f;

	c->timeout_ms = t->timeout_ms ? t->timeout_ms : SFTP_DEFAULT_TIMEOUT_MS;
	c->name = xasprintf("%s@%s:%u", t->user ? t->user : "?",
	    t->host ? t->host : "?", t->port ? t->port : 22);
	ssh_set_log_callback(sftp_log_cb);
	ssh_set_log_level(
	    log_getverbose() >= 1 ? SSH_LOG_PROTOCOL : SSH_LOG_NOLOG);
	if (t->host == NULL || t->user == NULL) {
		snprintf(err, errlen, "sftp: no host or user");
		f = SFTP_PROTOCOL;
	} else if (t->hostkey_sha256 == NULL && t->known_hosts == NULL) {
		snprintf(err, errlen,
		    "%s: no ssh_hostkey and no known_hosts: "
		    "refusing unverified host",
		    c->name);
		f = SFTP_HOSTKEY;
	} else if ((f = sftp_load_key(t, &key, err, errlen)) == SFTP_OK)
		f = sftp_open_session(c, t, key, err, errlen);
	ssh_key_free(key);
	*why = f;
	if (f != SFTP_OK) {
		sftp_disconnect(c);
		return NULL;
	}
	c->ops = (struct fsops){.ctx = c,
	    .read = sftp_op_read,
	    .stat = sftp_op_stat,
	    .glob = sftp_op_glob,
	    .create = sftp_op_create,
	    .rename = sftp_op_rename,
	    .remove = sftp_op_remove,
	    .mkparent = sftp_op_mkparent};
	log_debug("sftp %s: connected", c->name);
	return c;
}

void
sftp_disconnect(struct sftp_conn *c)
{
	if (c == NULL)
		return;
	if (c->sftp != NULL) {
		/* closing the channel can wait on a stopped server */
		sftp_wd_arm(c);
		sftp_free(c->sftp);
		sftp_wd_disarm(c);
	}
	/* before libssh closes the socket: never shut down a reused fd */
	sftp_wd_stop(c);
	if (c->ssh != NULL) {
		if (ssh_is_connected(c->ssh))
			ssh_disconnect(c->ssh);
		ssh_free(c->ssh);
	}
	free(c->name);
	free(c);
}

const struct fsops *
sftp_fsops(struct sftp_conn *c)
{
	return &c->ops;
}
