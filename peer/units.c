/* SPDX-License-Identifier: ISC */
/*
 * units: `peerwatch deploy-units`, the service-manager side of revive
 * flags, generated from peers.conf for this host. peerwatch never runs
 * on_flag itself: a systemd path unit (Linux) or a launchd WatchPaths +
 * RunAtLoad job (macOS) sees the flag, removes it, then runs on_flag. Also the
 * unit that runs peerwatch and the one that restarts it on its own revive flag.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/xmalloc.h"
#include "config/conf.h"
#include "peer/cli.h"
#include "peer/units.h"

/* launchd's log of peerwatch, and newsyslog's rotation of it */
#define UNITS_MACOS_LOG "/usr/local/var/log/peerwatch/peerwatch.log"

#ifndef PW_SBINDIR
#define PW_SBINDIR "/usr/local/sbin"
#endif

struct units_out {
	const char *dir; /* NULL: stdout */
	int check;       /* first pass: only look for files in the way */
	int failed;
};

/* write one unit file, never over an existing one */
static void
units_emit(struct units_out *o, const char *name, const char *body)
{
	char path[4096];
	size_t len = strlen(body);
	int fd;

	if (o->dir == NULL) {
		printf("# ---- %s ----\n%s\n", name, body);
		return;
	}
	snprintf(path, sizeof(path), "%s/%s", o->dir, name);
	if (o->check) {
		if (access(path, F_OK) == 0) {
			fprintf(stderr,
			    "peerwatch: %s: exists; nothing "
			    "written\n",
			    path);
			o->failed = 1;
		}
		return;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd == -1 || write(fd, body, len) != (ssize_t)len) {
		fprintf(stderr, "peerwatch: %s: %s\n", path,
		    errno == EEXIST ? "exists, not overwritten"
		                    : strerror(errno));
		o->failed = 1;
	} else
		printf("wrote %s\n", path);
	if (fd != -1)
		close(fd);
}

/* systemd: quote for ExecStart= inside double quotes; % and $ doubled */
static char *
units_sd_quote(const char *s)
{
	char *out = xmalloc(strlen(s) * 2 + 3), *p = out;

	*p++ = '"';
	for (; *s; s++) {
		if (*s == '"' || *s == '\\')
			*p++ = '\\';
		else if (*s == '%' || *s == '$')
			*p++ = *s;
		*p++ = *s;
	}
	*p++ = '"';
	*p = '\0';
	return out;
}

/* POSIX shell single quotes */
static char *
units_sh_quote(const char *s)
{
	char *out = xmalloc(strlen(s) * 4 + 3), *p = out;

	*p++ = '\'';
	for (; *s; s++) {
		if (*s == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
		} else
			*p++ = *s;
	}
	*p++ = '\'';
	*p = '\0';
	return out;
}

/* XML text */
static char *
units_xml(const char *s)
{
	char *out = xmalloc(strlen(s) * 6 + 1), *p = out;

	for (; *s; s++) {
		const char *e = *s == '&'   ? "&amp;"
		                : *s == '<' ? "&lt;"
		                : *s == '>' ? "&gt;"
		                : *s == '"' ? "&quot;"
		                            : NULL;
		if (e) {
			memcpy(p, e, strlen(e));
			p += strlen(e);
		} else
			*p++ = *s;
	}
	*p = '\0';
	return out;
}

static int
units_is_verb(const char *w)
{
	static const char *verbs[] = {"restart", "try-restart", "start",
	    "reload-or-restart", "try-reload-or-restart", NULL};
	size_t i;

	for (i = 0; verbs[i] != NULL; i++)
		if (strcmp(w, verbs[i]) == 0)
			return 1;
	return 0;
}

/* one simple command of words: "systemctl [opts] restart U..." appends
 * the units to out (space-separated) */
static void
units_sd_segment(char *seg, char *out, size_t outlen)
{
	char *w, *save = NULL, *base;
	int state = 0; /* 0: want systemctl, 1: want verb, 2: units */

	for (w = strtok_r(seg, " \t", &save); w != NULL;
	     w = strtok_r(NULL, " \t", &save)) {
		if (state == 0) {
			base = strrchr(w, '/');
			if (strcmp(base ? base + 1 : w, "systemctl") != 0)
				return;
			state = 1;
		} else if (w[0] == '-')
			continue;
		else if (state == 1) {
			if (!units_is_verb(w))
				return;
			state = 2;
		} else if (strspn(w, "abcdefghijklmnopqrstuvwxyz"
		                     "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
		                     "0123456789:_.@-\\") == strlen(w) &&
		           strlen(out) + strlen(w) + 2 < outlen) {
			if (out[0] != '\0')
				strcat(out, " ");
			strcat(out, w);
		}
	}
}

/*
 * The units a shell command line (re)starts with plain `systemctl restart
 * U` (or start, try-restart, reload-or-restart), space-separated into out;
 * "" if none or if the line is more than simple commands joined by ; && ||
 * (quotes, substitutions: not guessed at). systemd refuses to start a unit
 * that hit its StartLimitBurst until `systemctl reset-failed U`: a revive
 * flag must clear that first, or a crash-looped service stays down.
 */
void
units_sd_restarted(const char *cmd, char *out, size_t outlen)
{
	char *copy, *seg, *p;

	out[0] = '\0';
	if (strpbrk(cmd, "'\"`$()<>\\") != NULL)
		return;
	copy = xstrdup(cmd);
	for (p = copy; *p != '\0'; p++)
		if (*p == ';' || *p == '&' || *p == '|' || *p == '\n')
			*p = '\x01';
	for (seg = copy; seg != NULL; seg = p) {
		if ((p = strchr(seg, '\x01')) != NULL)
			*p++ = '\0';
		units_sd_segment(seg, out, outlen);
	}
	free(copy);
}

/* the value of the first "Key=" line of a unit file, or NULL */
static char *
units_key(const char *text, const char *key)
{
	size_t klen = strlen(key);
	const char *p = text, *e;

	for (; p != NULL && *p != '\0'; p = strchr(p, '\n'), p += p != NULL) {
		if (strncmp(p, key, klen) == 0 && p[klen] == '=') {
			p += klen + 1;
			e = strchr(p, '\n');
			return xstrndup(p, e ? (size_t)(e - p) : strlen(p));
		}
	}
	return NULL;
}

/* a small unit file, NUL-terminated; NULL if it cannot be read */
static char *
units_slurp(const char *dir, const char *name)
{
	char path[4096], *buf;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)) == -1)
		return NULL;
	buf = xmalloc(65536);
	n = read(fd, buf, 65535);
	close(fd);
	if (n < 0) {
		free(buf);
		return NULL;
	}
	buf[n] = '\0';
	return buf;
}

/* the flag a .path unit watches, if it is one of c's guard flags */
static const struct conf_guard *
units_guard_of(const struct conf *c, const char *path_unit)
{
	static const char *keys[] = {
	    "PathExists", "PathChanged", "PathModified", NULL};
	const struct conf_guard *g = NULL;
	char *flag;
	size_t i, k;

	for (k = 0; keys[k] != NULL && g == NULL; k++) {
		if ((flag = units_key(path_unit, keys[k])) == NULL)
			continue;
		for (i = 0; i < c->nguards; i++)
			if (c->guards[i].flag != NULL &&
			    strcmp(c->guards[i].flag, flag) == 0)
				g = &c->guards[i];
		free(flag);
	}
	return g;
}

/* the units a service file's ExecStart= lines restart */
static void
units_service_restarts(const char *text, char *out, size_t outlen)
{
	char one[512], *line, *cmd;
	const char *p;

	out[0] = '\0';
	for (p = text; p != NULL && *p != '\0';
	     p = strchr(p, '\n'), p += p != NULL) {
		if (strncmp(p, "ExecStart=", 10) != 0)
			continue;
		line = units_key(p, "ExecStart");
		/* "/bin/sh -c "..."": look inside the quotes as well */
		cmd = line;
		if ((cmd = strstr(line, " -c ")) != NULL)
			cmd += 4;
		else
			cmd = line;
		cmd += strspn(cmd, "-@+!\" ");
		cmd[strcspn(cmd, "\"")] = '\0';
		units_sd_restarted(cmd, one, sizeof(one));
		if (one[0] != '\0' && strlen(out) + strlen(one) + 2 < outlen) {
			if (out[0] != '\0')
				strcat(out, " ");
			strcat(out, one);
		}
		free(line);
	}
}

size_t
units_check_systemd(const struct conf *c, const char *dir, json_t *warnings)
{
	const struct conf_guard *g;
	char svc[512], restarts[1024], *path_unit, *service, *unit;
	struct dirent *de;
	size_t n = 0, len;
	DIR *d;

	if ((d = opendir(dir)) == NULL)
		return 0;
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len < 6 || strcmp(de->d_name + len - 5, ".path") != 0)
			continue;
		if ((path_unit = units_slurp(dir, de->d_name)) == NULL)
			continue;
		if ((g = units_guard_of(c, path_unit)) == NULL) {
			free(path_unit);
			continue;
		}
		if ((unit = units_key(path_unit, "Unit")) != NULL)
			snprintf(svc, sizeof(svc), "%s", unit);
		else
			snprintf(svc, sizeof(svc), "%.*s.service",
			    (int)(len - 5), de->d_name);
		free(unit);
		free(path_unit);
		if ((service = units_slurp(dir, svc)) == NULL)
			continue;
		units_service_restarts(service, restarts, sizeof(restarts));
		if (restarts[0] != '\0' &&
		    strstr(service, "reset-failed") == NULL) {
			json_array_append_new(warnings,
			    json_sprintf("%s/%s: restarts %s when the flag of "
			                 "[guard %s@%s] (line %d) appears, "
			                 "without `systemctl reset-failed %s` "
			                 "first: a service that hit its "
			                 "StartLimitBurst stays down "
			                 "(deploy-units writes that line)",
			        dir, svc, restarts, g->name, g->peer, g->line,
			        restarts));
			n++;
		}
		free(service);
	}
	closedir(d);
	return n;
}

/* a path unit + oneshot service: remove the flag, clear the start limit
 * of the units cmd restarts, then run cmd */
static void
units_linux_flag(struct units_out *o, const char *base, const char *what,
    const char *flag, const char *cmd)
{
	char name[256], *body, *qcmd, *qflag, reset[1024], *rline;

	qcmd = units_sd_quote(cmd);
	qflag = units_sd_quote(flag);
	units_sd_restarted(cmd, reset, sizeof(reset));
	rline = reset[0] == '\0'
	            ? xstrdup("")
	            : xasprintf(
	                  "ExecStart=-/bin/systemctl reset-failed %s\n", reset);
	snprintf(name, sizeof(name), "%s.path", base);
	body = xasprintf("[Unit]\nDescription=peerwatch revive flag for %s\n\n"
	                 "[Path]\nPathExists=%s\nUnit=%s.service\n\n[Install]\n"
	                 "WantedBy=paths.target\n",
	    what, flag, base);
	units_emit(o, name, body);
	free(body);
	snprintf(name, sizeof(name), "%s.service", base);
	body = xasprintf(
	    "[Unit]\nDescription=peerwatch: revive %s (flag "
	    "seen)\n\n[Service]\nType=oneshot\nExecStart=/bin/rm -f %s\n"
	    "%sExecStart=/bin/sh -c %s\n",
	    what, qflag, rline, qcmd);
	units_emit(o, name, body);
	free(body);
	free(rline);
	free(qcmd);
	free(qflag);
}

/* the directories the sandbox leaves writable, each once */
struct units_dirs {
	char *dir[64];
	size_t n;
};

/* add path (parent: its directory); names with " \\ or a newline are
 * left out: systemd's unquoting would not take them back as they are */
static void
units_dirs_add(struct units_dirs *d, const char *path, int parent)
{
	const char *slash;
	size_t n = strlen(path), i;
	char *dir;

	if (path[0] != '/' || d->n == sizeof(d->dir) / sizeof(d->dir[0]))
		return;
	if (parent) {
		slash = strrchr(path, '/');
		n = slash == path ? 1 : (size_t)(slash - path);
	}
	dir = xstrndup(path, n);
	for (i = 0; i < d->n; i++)
		if (strcmp(d->dir[i], dir) == 0)
			break;
	if (i < d->n || strpbrk(dir, "\"\\\n") != NULL) {
		free(dir);
		return;
	}
	d->dir[d->n++] = dir;
}

/* one word of a ReadWritePaths= list: "-" (a missing one is skipped),
 * quoted when it has blanks, % doubled */
static char *
units_rw_word(const char *dir)
{
	char *out = xmalloc(strlen(dir) * 2 + 4), *q = out;
	int quote = strpbrk(dir, " \t") != NULL;

	if (quote)
		*q++ = '"';
	*q++ = '-';
	for (; *dir; dir++) {
		if (*dir == '%')
			*q++ = '%';
		*q++ = *dir;
	}
	if (quote)
		*q++ = '"';
	*q = '\0';
	return out;
}

/*
 * The sandbox of peerwatch.service. The daemon runs as root (it gives a
 * restored file its owner back, runs restart commands) but writes only
 * state_dir, the revive flag's directory and, per guard of this host, the
 * guarded file's directory (temporary file, broken copies, the rename)
 * and its flag's: ProtectSystem=strict with those as ReadWritePaths.
 * The daemon would create a missing one itself; inside the sandbox it
 * cannot, so ExecStartPre does (+: outside the sandbox; -: a failure
 * does not stop the start), state_dir 0700 as the daemon makes it.
 * ProtectHome=read-only, not yes: exec probes and restart commands may live
 * under /home; a guard there gets its directory back as writable through
 * ReadWritePaths. /tmp and /var/tmp stay writable for the commands the
 * daemon runs; what a disk_cleanup deletes is the user's to add
 * (systemctl edit peerwatch): making / writable would void the sandbox.
 */
static char *
units_linux_sandbox(const struct conf *c, size_t self)
{
	struct units_dirs d = {{NULL}, 0};
	char *rw = xstrdup(""), *mk = xstrdup(""), *w, *t, *out;
	size_t i;

	units_dirs_add(&d, conf_state_dir(c, self), 0);
	units_dirs_add(&d, conf_revive_flag(c, self), 1);
	for (i = 0; i < c->nguards; i++) {
		const struct conf_guard *g = &c->guards[i];
		if (g->peer_idx != self)
			continue;
		units_dirs_add(&d, g->file, 1);
		if (g->flag != NULL)
			units_dirs_add(&d, g->flag, 1);
	}
	for (i = 0; i < d.n; i++) {
		w = units_rw_word(d.dir[i]);
		t = xasprintf("%s%s%s", rw, i ? " " : "", w);
		free(rw);
		free(w);
		rw = t;
		w = units_sd_quote(d.dir[i]);
		t = xasprintf("%sExecStartPre=-+/bin/mkdir -p %s%s\n", mk,
		    i == 0 ? "-m 0700 " : "", w);
		free(mk);
		free(w);
		mk = t;
	}
	/* exec probes, restart and cleanup commands are the daemon's
	 * children and may want a temporary file */
	t = xasprintf("%s -/tmp -/var/tmp", rw);
	free(rw);
	rw = t;
	out = xasprintf("%sNoNewPrivileges=yes\nProtectSystem=strict\n"
	                "ReadWritePaths=%s\nProtectHome=read-only\n"
	                "ProtectKernelTunables=yes\n"
	                "ProtectKernelModules=yes\nProtectControlGroups=yes\n"
	                "RestrictSUIDSGID=yes\nLockPersonality=yes\n",
	    mk, rw);
	for (i = 0; i < d.n; i++)
		free(d.dir[i]);
	free(rw);
	free(mk);
	return out;
}

static void
units_linux(struct units_out *o, const struct conf *c, size_t self,
    const char *bin, const char *cpath)
{
	char base[256], *body, *sandbox;
	size_t i;

	/*
	 * Restart every 2 s; ten failed starts within a minute and systemd
	 * gives up (a config that cannot load is not retried forever): the
	 * peers' revive (flag -> reset-failed, restart) brings it back.
	 */
	sandbox = units_linux_sandbox(c, self);
	body = xasprintf(
	    "[Unit]\nDescription=peerwatch peer-watchdog mesh\n"
	    "After=network-online.target\nWants=network-online.target\n"
	    "StartLimitIntervalSec=60\nStartLimitBurst=10\n\n"
	    "[Service]\nExecStart=%s run -c %s\nExecReload=/bin/kill -HUP "
	    "$MAINPID\nRestart=always\nRestartSec=2\n%s\n[Install]\n"
	    "WantedBy=multi-user.target\n",
	    bin, cpath, sandbox);
	units_emit(o, "peerwatch.service", body);
	free(body);
	free(sandbox);
	/* a laptop tells the mesh before it suspends: the peers show it
	 * asleep instead of reviving it (systemctl enable this one) */
	body = xasprintf(
	    "[Unit]\nDescription=peerwatch: tell the mesh this host goes to "
	    "sleep\nBefore=sleep.target\n\n[Service]\nType=oneshot\n"
	    "ExecStart=-%s sleep-notice -c %s\nTimeoutStartSec=5\n\n"
	    "[Install]\nWantedBy=sleep.target\n",
	    bin, cpath);
	units_emit(o, "peerwatch-sleep.service", body);
	free(body);
	units_linux_flag(o, "peerwatch-revive", "peerwatch",
	    conf_revive_flag(c, self), "systemctl restart peerwatch.service");
	for (i = 0; i < c->nguards; i++) {
		const struct conf_guard *g = &c->guards[i];
		if (g->peer_idx != self || g->flag == NULL)
			continue;
		snprintf(base, sizeof(base), "peerwatch-flag-%s", g->name);
		units_linux_flag(o, base, g->name, g->flag,
		    g->on_flag ? g->on_flag : "true");
	}
}

static void
units_macos_job(
    struct units_out *o, const char *label, const char *flag, const char *cmd)
{
	char name[256], *sh, *qflag, *xsh, *xflag, *body;

	/*
	 * launchd runs the job at load (a flag already there, as systemd's
	 * PathExists sees it) and whenever the path changes, which includes
	 * the job's own rm: act only while the flag exists, so each flag
	 * runs cmd once.
	 */
	qflag = units_sh_quote(flag);
	sh = xasprintf("[ -e %s ] || exit 0; rm -f %s; %s", qflag, qflag, cmd);
	xsh = units_xml(sh);
	xflag = units_xml(flag);
	body = xasprintf(
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
	    "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
	    "<plist version=\"1.0\">\n<dict>\n"
	    "\t<key>Label</key><string>%s</string>\n"
	    "\t<key>WatchPaths</key><array><string>%s</string></array>\n"
	    "\t<key>RunAtLoad</key><true/>\n"
	    "\t<key>ProgramArguments</key><array><string>/bin/sh</string>"
	    "<string>-c</string><string>%s</string></array>\n"
	    "</dict>\n</plist>\n",
	    label, xflag, xsh);
	snprintf(name, sizeof(name), "%s.plist", label);
	units_emit(o, name, body);
	free(body);
	free(sh);
	free(qflag);
	free(xsh);
	free(xflag);
}

static void
units_macos(struct units_out *o, const struct conf *c, size_t self,
    const char *bin, const char *cpath)
{
	char label[256], *body, *xbin = units_xml(bin),
	                        *xconf = units_xml(cpath);
	size_t i;

	body = xasprintf(
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" "
	    "\"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
	    "<plist version=\"1.0\">\n<dict>\n"
	    "\t<key>Label</key><string>com.peerwatch.peerwatch</string>\n"
	    "\t<key>ProgramArguments</key><array><string>%s</string>"
	    "<string>run</string><string>-c</string><string>%s</string>"
	    "<string>--log</string><string>" UNITS_MACOS_LOG "</string>"
	    "</array>\n\t<key>RunAtLoad</key><true/>\n"
	    "\t<key>KeepAlive</key><true/>\n"
	    "\t<key>StandardErrorPath</key>"
	    "<string>" UNITS_MACOS_LOG "</string>\n</dict>\n</plist>\n",
	    xbin, xconf);
	units_emit(o, "com.peerwatch.peerwatch.plist", body);
	free(body);
	/*
	 * launchd never rotates StandardErrorPath; newsyslog does, and the
	 * daemon (--log) follows the rename itself, so no signal (N).
	 */
	units_emit(o, "peerwatch.newsyslog.conf",
	    "# /etc/newsyslog.d/peerwatch.conf: rotate peerwatch's log at "
	    "1 MB, keep 5\n"
	    "# logfilename\t\t[owner:group]\tmode\tcount\tsize\twhen\t"
	    "flags\n" UNITS_MACOS_LOG "\troot:wheel\t640\t5\t1024\t*\tN\n");
	free(xbin);
	free(xconf);
	units_macos_job(o, "com.peerwatch.revive", conf_revive_flag(c, self),
	    "launchctl kickstart -k system/com.peerwatch.peerwatch");
	for (i = 0; i < c->nguards; i++) {
		const struct conf_guard *g = &c->guards[i];
		if (g->peer_idx != self || g->flag == NULL)
			continue;
		snprintf(
		    label, sizeof(label), "com.peerwatch.flag.%s", g->name);
		units_macos_job(
		    o, label, g->flag, g->on_flag ? g->on_flag : "true");
	}
}

/*
 * --paths: what this host's daemon and its peers' SFTP restores touch, one
 * "KIND<TAB>PATH" a line, for install scripts (the SSH account's ACLs):
 * state_dir, flag (a flag's file), guard (a guarded file), backup (a
 * plain backup path or a glob, "mesh" left out).
 */
static void
units_paths(const struct conf *c, size_t self)
{
	size_t i, b;

	printf("state_dir\t%s\n", conf_state_dir(c, self));
	printf("flag\t%s\n", conf_revive_flag(c, self));
	for (i = 0; i < c->nguards; i++) {
		const struct conf_guard *g = &c->guards[i];
		if (g->peer_idx != self)
			continue;
		printf("guard\t%s\n", g->file);
		if (g->flag != NULL)
			printf("flag\t%s\n", g->flag);
		for (b = 0; b < g->nbackups; b++)
			if (strcmp(g->backups[b], "mesh") != 0)
				printf("backup\t%s\n", g->backups[b]);
	}
}

int
cli_deploy_units(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"config", required_argument, NULL, 'c'},
	    {"name", required_argument, NULL, 'n'},
	    {"linux", no_argument, NULL, 'L'},
	    {"macos", no_argument, NULL, 'M'},
	    {"output", required_argument, NULL, 'o'},
	    {"bin", required_argument, NULL, 'b'},
	    {"unit-config", required_argument, NULL, 'u'},
	    {"paths", no_argument, NULL, 'P'}, {"help", no_argument, NULL, 'h'},
	    {NULL, 0, NULL, 0}};
	struct units_out o = {NULL, 0, 0};
	const char *cpath = NULL, *name = NULL, *bin = PW_SBINDIR "/peerwatch";
	const char *unit_conf = NULL;
	char *abs = NULL;
	int ch, os = 0, self;
	struct conf *c;

	while ((ch = getopt_long(argc, argv, "c:n:o:b:h", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			cpath = optarg;
			break;
		case 'n':
			name = optarg;
			break;
		case 'L':
			os = 'L';
			break;
		case 'M':
			os = 'M';
			break;
		case 'o':
			o.dir = optarg;
			break;
		case 'b':
			bin = optarg;
			break;
		case 'u':
			unit_conf = optarg;
			break;
		case 'P':
			os = 'P';
			break;
		case 'h':
			printf(
			    "usage: peerwatch deploy-units --linux|--macos "
			    "[-o DIR] [--bin PATH]\n       [--unit-config "
			    "PATH] [-c FILE] [--name NAME]\n\n"
			    "Print (or write into DIR, never over existing "
			    "files) the service-manager units\nfor this host: "
			    "peerwatch itself, the unit that restarts it when "
			    "its revive flag\nappears, and per [guard] of this "
			    "host a flag watcher that removes the flag and\n"
			    "runs on_flag. systemd: .service + .path units; "
			    "launchd: WatchPaths +\nRunAtLoad plists (install: "
			    "launchctl bootstrap system PLIST; remove:\n"
			    "launchctl bootout system/LABEL) and a newsyslog "
			    "entry for its log.\n\n"
			    "  --bin PATH          the peerwatch binary the "
			    "units "
			    "run (default %s/peerwatch)\n"
			    "  --unit-config PATH  the config path the units "
			    "name "
			    "(default: the -c one)\n"
			    "  --paths             instead, list what this "
			    "host's guards touch, one\n"
			    "                      KIND<TAB>PATH a line "
			    "(state_dir, flag, guard, backup)\n",
			    PW_SBINDIR);
			return 0;
		default:
			return 2;
		}
	}
	if (os == 0) {
		fprintf(stderr, "peerwatch deploy-units: need --linux, "
		                "--macos or --paths\n");
		return 2;
	}
	if ((c = cli_load(cpath, name, &self)) == NULL)
		return 1;
	if (os == 'P') {
		units_paths(c, (size_t)self);
		conf_free(c);
		return 0;
	}
	/* systemd and launchd start from /: a relative path would not do */
	cpath = unit_conf ? unit_conf : cli_config_path(cpath);
	if (cpath[0] != '/' && (abs = realpath(cpath, NULL)) != NULL)
		cpath = abs;
	/* all or nothing: look for files in the way before writing any */
	for (o.check = o.dir != NULL; o.check >= 0 && !o.failed; o.check--) {
		if (os == 'L')
			units_linux(&o, c, (size_t)self, bin, cpath);
		else
			units_macos(&o, c, (size_t)self, bin, cpath);
	}
	free(abs);
	conf_free(c);
	return o.failed;
}
