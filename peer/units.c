/* SPDX-License-Identifier: ISC */
/*
 * units: `peerwatch deploy-units`, the service-manager side of revive
 * flags, generated from peers.conf for this host. peerwatch never runs
 * on_flag itself: a systemd path unit (Linux) or a launchd WatchPaths +
 * RunAtLoad job (macOS) sees the flag, removes it, then runs on_flag. Also the
 * unit that runs peerwatch and the one that restarts it on its own revive flag.
 */
#include <sys/stat.h>

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

/* launchd's log of peerwatch, and newsyslog's rotation of it */
#define UNITS_MACOS_LOG "/var/log/peerwatch.log"

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

/* a path unit + oneshot service: remove the flag, then run cmd */
static void
units_linux_flag(struct units_out *o, const char *base, const char *what,
    const char *flag, const char *cmd)
{
	char name[256], *body, *qcmd, *qflag;

	qcmd = units_sd_quote(cmd);
	qflag = units_sd_quote(flag);
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
	    "ExecStart=/bin/sh -c %s\n",
	    what, qflag, qcmd);
	units_emit(o, name, body);
	free(body);
	free(qcmd);
	free(qflag);
}

static void
units_linux(struct units_out *o, const struct conf *c, size_t self,
    const char *bin, const char *cpath)
{
	char base[256], *body;
	size_t i;

	body = xasprintf(
	    "[Unit]\nDescription=peerwatch peer-watchdog mesh\n"
	    "After=network-online.target\nWants=network-online.target\n\n"
	    "[Service]\nExecStart=%s run -c %s\nExecReload=/bin/kill -HUP "
	    "$MAINPID\nRestart=always\nRestartSec=2\n\n[Install]\n"
	    "WantedBy=multi-user.target\n",
	    bin, cpath);
	units_emit(o, "peerwatch.service", body);
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
	    {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0}};
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
			    "(default: the -c one)\n",
			    PW_SBINDIR);
			return 0;
		default:
			return 2;
		}
	}
	if (os == 0) {
		fprintf(stderr, "peerwatch deploy-units: need --linux or "
		                "--macos\n");
		return 2;
	}
	if ((c = cli_load(cpath, name, &self)) == NULL)
		return 1;
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
