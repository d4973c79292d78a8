/* SPDX-License-Identifier: ISC */
/*
 * conf: reads peers.conf into a struct conf. inih splits "key = value"
 * and calls conf_on_kv(); a reader in front of it (conf_reader) counts
 * lines, because Debian's libinih is built without INI_HANDLER_LINENO and
 * every error needs its exact line. The reader also strips "#" comments
 * (inih only knows ";"), sees section headers (inih calls no handler for
 * them), and reports the lines inih would refuse, handing it a blank line
 * instead, so one bad line never hides the next. Lines longer than inih's
 * compiled-in buffer it splits and hands to the handler itself. Values are
 * checked as they arrive; what needs the whole file (references between
 * sections, timing order, quorum) is checked at the end. Never exits, never
 * logs.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <ini.h>
#include <sodium.h>

#include "common/xmalloc.h"
#include "config/conf.h"

enum sect_kind { S_NONE, S_MESH, S_PEER, S_GUARD, S_SERVICE, S_SKIP };

enum key {
	K_PORT,
	K_INTERVAL,
	K_SUSPECT_AFTER,
	K_DOWN_AFTER,
	K_QUORUM,
	K_MAX_REVIVES,
	K_MAX_SKEW,
	K_REVIVE_VERIFY,
	K_GUARD_INTERVAL,
	K_MESH_BACKUP_INTERVAL,
	K_SSH_TIMEOUT,
	K_EVENTS_MAX_BYTES,
	K_EVENTS_KEEP,
	K_KEY,
	K_STATE_DIR,
	K_STATUS_LISTEN,
	K_OLLAMA_LISTEN,
	K_OLLAMA_MAX_BODY,
	K_OLLAMA_FIRST_BYTE_TIMEOUT,
	K_OLLAMA_PROBE_INTERVAL,
	K_OLLAMA_BACKOFF,
	K_TELEGRAM_TOKEN_FILE,
	K_TELEGRAM_CHAT,
	K_TELEGRAM_API,
	K_ALERT_GRACE,
	K_ALERT_REPEAT,
	K_ALERT_FLAP_LIMIT,
	K_ALERT_EXPLAIN_MODEL,
	K_ALERT_EXPLAIN_TIMEOUT,
	K_SSH_KEY,
	K_KNOWN_HOSTS,
	K_REVIVE_FLAG,
	K_ADDRESS,
	K_PUBKEY,
	K_SSH,
	K_SSH_HOSTKEY,
	K_OLLAMA,
	K_OLLAMA_PRIORITY,
	K_FILE,
	K_REQUIRE,
	K_BACKUPS,
	K_FLAG,
	K_ON_FLAG,
	K_MAX_SIZE,
	K_TOP_LEVEL,
	K_PROBE,
	K_RESTART,
	K_SERVICE,
	K_BEAT_FILE,
	K_TIMEOUT,
	K_FAILURES_BEFORE_RESTART,
	K_SUCCESSES_BEFORE_UP,
	K_START_GRACE,
	K_RESTART_TIMEOUT,
	K_RESTART_BACKOFF,
	K_RESTART_BACKOFF_MAX,
	K_BREAKER_FAILURES,
	K_BREAKER_WINDOW,
	K_BREAKER_COOLDOWN,
	K_DISK,
	K_DISK_WARN,
	K_DISK_CRITICAL,
	K_DISK_CLEANUP,
	K_SWAP_WARN,
	K_SWAP_CRITICAL,
	K_RESOURCE_INTERVAL,
	K_MAX_SLEEP,
	K__COUNT
};

/* how a value is checked and stored */
enum vtype {
	V_DURATION, /* uint64_t ms, > 0 */
	V_PORT,     /* uint16_t */
	V_UINT,     /* unsigned */
	V_BYTES,    /* uint64_t, > 0 */
	V_STRING,   /* char *, anything */
	V_PATH,     /* char *, a local path */
	V_ABSPATH,  /* char *, must start with / */
	V_LISTEN,   /* char *, host:port */
	V_URL,      /* char *, http:// or https:// */
	V_QUORUM,
	V_ADDRESS,
	V_PUBKEY,
	V_SSH,
	V_HOSTKEY,
	V_REQUIRE,
	V_BACKUPS,
	V_TOP_LEVEL, /* int: 0 "object", 1 "any" */
	V_PROBE,
	V_WATCH_DURATION, /* uint64_t ms, > 0, <= CONF_WATCH_MAX_MS */
	V_COUNT,          /* unsigned, 1-100 */
	V_BACKOFF,        /* unsigned, "2" or "x2", 1-10 */
	V_SERVICE_REF,    /* "NAME@PEER", resolved at the end */
	V_DISK,           /* list of absolute paths */
	V_PERCENT,        /* unsigned, "85%" or "85", 1-100 */
	V_SWAP            /* a size with a unit, or a percentage */
};

/* the longest service or resource duration: a monthly job's beat fits */
#define CONF_WATCH_MAX_MS (720 * 60 * 60 * 1000ULL)
/* the shortest service interval and beat */
#define CONF_WATCH_MIN_MS 100

#define MESH(f) S_MESH, offsetof(struct conf_mesh, f)
#define PEER(f) S_PEER, offsetof(struct conf_peer, f)
#define GUARD(f) S_GUARD, offsetof(struct conf_guard, f)
#define SERVICE(f) S_SERVICE, offsetof(struct conf_service, f)
#define RES(f) S_MESH, offsetof(struct conf_mesh, res.f)

static const struct keyword {
	const char *name;
	enum key key;
	enum vtype type;
	enum sect_kind sect;
	size_t off; /* of the field in the section's struct */
} keywords[] = {
    {"port", K_PORT, V_PORT, MESH(port)},
    {"interval", K_INTERVAL, V_DURATION, MESH(interval_ms)},
    {"suspect_after", K_SUSPECT_AFTER, V_DURATION, MESH(suspect_after_ms)},
    {"down_after", K_DOWN_AFTER, V_DURATION, MESH(down_after_ms)},
    {"quorum", K_QUORUM, V_QUORUM, MESH(quorum)},
    {"max_revives_per_hour", K_MAX_REVIVES, V_UINT, MESH(max_revives_per_hour)},
    {"max_skew", K_MAX_SKEW, V_DURATION, MESH(max_skew_ms)},
    {"revive_verify", K_REVIVE_VERIFY, V_DURATION, MESH(revive_verify_ms)},
    {"max_sleep", K_MAX_SLEEP, V_DURATION, MESH(max_sleep_ms)},
    {"guard_interval", K_GUARD_INTERVAL, V_DURATION, MESH(guard_interval_ms)},
    {"mesh_backup_interval", K_MESH_BACKUP_INTERVAL, V_DURATION,
        MESH(mesh_backup_interval_ms)},
    {"ssh_timeout", K_SSH_TIMEOUT, V_DURATION, MESH(ssh_timeout_ms)},
    {"events_max_bytes", K_EVENTS_MAX_BYTES, V_BYTES, MESH(events_max_bytes)},
    {"events_keep", K_EVENTS_KEEP, V_UINT, MESH(events_keep)},
    {"key", K_KEY, V_PATH, MESH(key)},
    {"state_dir", K_STATE_DIR, V_PATH, MESH(state_dir)},
    {"status_listen", K_STATUS_LISTEN, V_LISTEN, MESH(status_listen)},
    {"ollama_listen", K_OLLAMA_LISTEN, V_LISTEN, MESH(ollama_listen)},
    {"ollama_max_body", K_OLLAMA_MAX_BODY, V_BYTES, MESH(ollama_max_body)},
    {"ollama_first_byte_timeout", K_OLLAMA_FIRST_BYTE_TIMEOUT, V_DURATION,
        MESH(ollama_first_byte_timeout_ms)},
    {"ollama_probe_interval", K_OLLAMA_PROBE_INTERVAL, V_DURATION,
        MESH(ollama_probe_interval_ms)},
    {"ollama_backoff", K_OLLAMA_BACKOFF, V_DURATION, MESH(ollama_backoff_ms)},
    {"telegram_token_file", K_TELEGRAM_TOKEN_FILE, V_PATH,
        MESH(telegram_token_file)},
    {"telegram_chat", K_TELEGRAM_CHAT, V_STRING, MESH(telegram_chat)},
    {"telegram_api", K_TELEGRAM_API, V_URL, MESH(telegram_api)},
    {"alert_grace", K_ALERT_GRACE, V_DURATION, MESH(alert_grace_ms)},
    {"alert_repeat", K_ALERT_REPEAT, V_DURATION, MESH(alert_repeat_ms)},
    {"alert_flap_limit", K_ALERT_FLAP_LIMIT, V_UINT, MESH(alert_flap_limit)},
    {"alert_explain_model", K_ALERT_EXPLAIN_MODEL, V_STRING,
        MESH(alert_explain_model)},
    {"alert_explain_timeout", K_ALERT_EXPLAIN_TIMEOUT, V_DURATION,
        MESH(alert_explain_timeout_ms)},
    {"ssh_key", K_SSH_KEY, V_PATH, MESH(ssh_key)},
    {"known_hosts", K_KNOWN_HOSTS, V_PATH, MESH(known_hosts)},
    {"revive_flag", K_REVIVE_FLAG, V_ABSPATH, MESH(revive_flag)},
    {"disk", K_DISK, V_DISK, RES(disk)},
    {"disk_warn", K_DISK_WARN, V_PERCENT, RES(disk_warn)},
    {"disk_critical", K_DISK_CRITICAL, V_PERCENT, RES(disk_critical)},
    {"disk_cleanup", K_DISK_CLEANUP, V_STRING, RES(disk_cleanup)},
    {"swap_warn", K_SWAP_WARN, V_SWAP, RES(swap_warn)},
    {"swap_critical", K_SWAP_CRITICAL, V_SWAP, RES(swap_critical)},
    {"resource_interval", K_RESOURCE_INTERVAL, V_WATCH_DURATION,
        RES(interval_ms)},

    {"address", K_ADDRESS, V_ADDRESS, PEER(address)},
    {"pubkey", K_PUBKEY, V_PUBKEY, PEER(pubkey)},
    {"ssh", K_SSH, V_SSH, PEER(ssh_user)},
    {"ssh_hostkey", K_SSH_HOSTKEY, V_HOSTKEY, PEER(ssh_hostkey)},
    {"ollama", K_OLLAMA, V_URL, PEER(ollama)},
    {"ollama_priority", K_OLLAMA_PRIORITY, V_UINT, PEER(ollama_priority)},
    {"key", K_KEY, V_PATH, PEER(key)},
    {"state_dir", K_STATE_DIR, V_PATH, PEER(state_dir)},
    {"status_listen", K_STATUS_LISTEN, V_LISTEN, PEER(status_listen)},
    {"ollama_listen", K_OLLAMA_LISTEN, V_LISTEN, PEER(ollama_listen)},
    {"revive_flag", K_REVIVE_FLAG, V_ABSPATH, PEER(revive_flag)},

    {"file", K_FILE, V_ABSPATH, GUARD(file)},
    {"require", K_REQUIRE, V_REQUIRE, GUARD(require)},
    {"backups", K_BACKUPS, V_BACKUPS, GUARD(backups)},
    {"flag", K_FLAG, V_ABSPATH, GUARD(flag)},
    {"on_flag", K_ON_FLAG, V_STRING, GUARD(on_flag)},
    {"max_size", K_MAX_SIZE, V_BYTES, GUARD(max_size)},
    {"top_level", K_TOP_LEVEL, V_TOP_LEVEL, GUARD(any_json)},
    {"service", K_SERVICE, V_SERVICE_REF, GUARD(service_idx)},

    {"probe", K_PROBE, V_PROBE, SERVICE(probe)},
    {"restart", K_RESTART, V_STRING, SERVICE(restart)},
    {"beat_file", K_BEAT_FILE, V_ABSPATH, SERVICE(beat_file)},
    {"interval", K_INTERVAL, V_WATCH_DURATION, SERVICE(interval_ms)},
    {"timeout", K_TIMEOUT, V_WATCH_DURATION, SERVICE(timeout_ms)},
    {"failures_before_restart", K_FAILURES_BEFORE_RESTART, V_COUNT,
        SERVICE(failures_before_restart)},
    {"successes_before_up", K_SUCCESSES_BEFORE_UP, V_COUNT,
        SERVICE(successes_before_up)},
    {"start_grace", K_START_GRACE, V_WATCH_DURATION, SERVICE(start_grace_ms)},
    {"restart_timeout", K_RESTART_TIMEOUT, V_WATCH_DURATION,
        SERVICE(restart_timeout_ms)},
    {"restart_backoff", K_RESTART_BACKOFF, V_BACKOFF, SERVICE(restart_backoff)},
    {"restart_backoff_max", K_RESTART_BACKOFF_MAX, V_WATCH_DURATION,
        SERVICE(restart_backoff_max_ms)},
    {"breaker_failures", K_BREAKER_FAILURES, V_COUNT,
        SERVICE(breaker_failures)},
    {"breaker_window", K_BREAKER_WINDOW, V_WATCH_DURATION,
        SERVICE(breaker_window_ms)},
    {"breaker_cooldown", K_BREAKER_COOLDOWN, V_WATCH_DURATION,
        SERVICE(breaker_cooldown_ms)},
};

static const char *const sect_names[] = {
    [S_MESH] = "mesh",
    [S_PEER] = "peer",
    [S_GUARD] = "guard",
    [S_SERVICE] = "service",
};

/* one section as read: where it and each of its keys were */
struct sect {
	enum sect_kind kind;
	size_t idx; /* into conf->peers, guards or services */
	int line;
	int klines[K__COUNT]; /* 0: key not set */
	char *ref;            /* a guard's "service = NAME@PEER", as written */
};

struct perr {
	int line;
	size_t seq;
	char *msg;
};

struct parse {
	struct conf *conf;
	const char *name; /* FILE in messages */
	FILE *fp;         /* source: a file ... */
	const char *str;  /* ... or a string */
	char *raw;        /* the current line */
	size_t rawsize;
	int lineno;
	int cont_ok; /* an indented line may continue a list */
	int is_cont; /* this line continues one */
	struct sect *sects;
	size_t nsects;
	size_t cur;              /* current section in sects */
	enum sect_kind cur_kind; /* S_NONE before the first, S_SKIP if bad */
	int mesh_sect;           /* index into sects, -1 without [mesh] */
	char ***list;            /* list a continuation line appends to */
	size_t *nlist;
	enum key list_key;
	struct perr *errs;
	size_t nerrs;
};

static void perr(struct parse *, int, const char *, ...)
    __attribute__((format(printf, 3, 4)));

static void
perr(struct parse *p, int line, const char *fmt, ...)
{
	va_list ap;
	char buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	p->errs = xreallocarray(p->errs, p->nerrs + 1, sizeof(*p->errs));
	p->errs[p->nerrs].line = line;
	p->errs[p->nerrs].seq = p->nerrs;
	p->errs[p->nerrs].msg = xstrdup(buf);
	p->nerrs++;
}

static struct conf *
conf_new(const char *path)
{
	struct conf *c = xcalloc(1, sizeof(*c));
	struct conf_mesh *m = &c->mesh;

	c->path = xstrdup(path);
	m->port = 7946;
	m->interval_ms = 500;
	m->suspect_after_ms = 1000;
	m->down_after_ms = 2000;
	m->max_revives_per_hour = 2;
	m->max_skew_ms = 2 * 60 * 1000;
	m->revive_verify_ms = 30 * 1000;
	m->max_sleep_ms = 24 * 60 * 60 * 1000ULL;
	m->guard_interval_ms = 10 * 1000;
	m->mesh_backup_interval_ms = 60 * 60 * 1000;
	m->ssh_timeout_ms = 10 * 1000;
	m->events_max_bytes = 10 * 1024 * 1024;
	m->events_keep = 5;
	m->key = xstrdup("/etc/peerwatch/key");
	m->state_dir = xstrdup("/var/lib/peerwatch");
	m->status_listen = xstrdup("127.0.0.1:7947");
	m->ollama_listen = xstrdup("127.0.0.1:11435");
	m->ollama_max_body = 64 * 1024 * 1024;
	m->ollama_first_byte_timeout_ms = 5 * 60 * 1000;
	m->ollama_probe_interval_ms = 5 * 1000;
	m->ollama_backoff_ms = 10 * 1000;
	m->telegram_api = xstrdup("https://api.telegram.org");
	m->alert_grace_ms = 30 * 1000;
	m->alert_repeat_ms = 4 * 60 * 60 * 1000;
	m->alert_flap_limit = 5;
	m->alert_explain_timeout_ms = 20 * 1000;
	m->ssh_key = xstrdup("/etc/peerwatch/ssh_id_ed25519");
	m->revive_flag =
	    xstrdup("/var/lib/peerwatch/flags/revive-peerwatch.flag");
	m->res.disk_warn = 85;
	m->res.disk_critical = 95;
	m->res.interval_ms = 30 * 1000;
	return c;
}

static void
free_list(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void
free_peer(struct conf_peer *pe)
{
	free(pe->address);
	free(pe->ssh_user);
	free(pe->ssh_host);
	free(pe->ssh_hostkey);
	free(pe->ollama);
	free(pe->key);
	free(pe->state_dir);
	free(pe->status_listen);
	free(pe->ollama_listen);
	free(pe->revive_flag);
}

void
conf_free(struct conf *c)
{
	struct conf_mesh *m;
	size_t i;

	if (c == NULL)
		return;
	m = &c->mesh;
	free(m->key);
	free(m->state_dir);
	free(m->status_listen);
	free(m->ollama_listen);
	free(m->telegram_token_file);
	free(m->telegram_chat);
	free(m->telegram_api);
	free(m->alert_explain_model);
	free(m->ssh_key);
	free(m->known_hosts);
	free(m->revive_flag);
	free_list(m->res.disk, m->res.ndisk);
	free(m->res.disk_cleanup);
	for (i = 0; i < c->npeers; i++)
		free_peer(&c->peers[i]);
	for (i = 0; i < c->nguards; i++) {
		free(c->guards[i].file);
		free_list(c->guards[i].require, c->guards[i].nrequire);
		free_list(c->guards[i].backups, c->guards[i].nbackups);
		free(c->guards[i].flag);
		free(c->guards[i].on_flag);
	}
	for (i = 0; i < c->nservices; i++) {
		free(c->services[i].probe);
		free(c->services[i].restart);
		free(c->services[i].beat_file);
	}
	free(c->peers);
	free(c->guards);
	free(c->services);
	free(c->path);
	free(c);
}

void
conf_errors_clear(struct conf_errors *e)
{
	if (e == NULL)
		return;
	free_list(e->msgs, e->n);
	e->msgs = NULL;
	e->n = 0;
}

/* ---- the reader: one line at a time into inih ----------------------- */

/* the next raw line into p->raw, without its newline; -1 at the end */
static int
next_line(struct parse *p)
{
	const char *nl;
	size_t len;

	if (p->fp != NULL) {
		if (getline(&p->raw, &p->rawsize, p->fp) == -1)
			return -1;
		p->raw[strcspn(p->raw, "\n")] = '\0';
		return 0;
	}
	if (*p->str == '\0')
		return -1;
	nl = strchr(p->str, '\n');
	len = nl != NULL ? (size_t)(nl - p->str) : strlen(p->str);
	if (len + 1 > p->rawsize) {
		p->raw = xreallocarray(p->raw, len + 1, 1);
		p->rawsize = len + 1;
	}
	memcpy(p->raw, p->str, len);
	p->raw[len] = '\0';
	p->str += nl != NULL ? len + 1 : len;
	return 0;
}

static void
rstrip(char *s)
{
	size_t i;

	for (i = strlen(s); i > 0 && isspace((unsigned char)s[i - 1]); i--)
		s[i - 1] = '\0';
}

/*
 * "#" or ";" at the start or after whitespace begins a comment. inih
 * strips only ";", and only from values; DESIGN.md's example uses "#".
 */
static void
strip_comment(char *s)
{
	size_t i;

	for (i = 0; s[i] != '\0'; i++) {
		if ((s[i] == '#' || s[i] == ';') &&
		    (i == 0 || isspace((unsigned char)s[i - 1]))) {
			s[i] = '\0';
			break;
		}
	}
	rstrip(s);
}

static char *
skip_space(char *s)
{
	while (isspace((unsigned char)*s))
		s++;
	return s;
}

static void begin_section(struct parse *, const char *);

/* what inih gets for one raw line: the line, or "" if it is not valid */
static const char *
classify(struct parse *p)
{
	char *line = p->raw, *s, *sep, *inner;
	size_t len, nlen;

	if (p->lineno == 1 && strncmp(line, "\xEF\xBB\xBF", 3) == 0)
		line += 3;
	strip_comment(line);
	s = skip_space(line);
	p->is_cont = 0;
	if (*s == '\0') {
		p->cont_ok = 0;
		return "";
	}
	if (s > line && p->cont_ok && strchr(s, '=') == NULL) {
		p->is_cont = 1; /* inih sees the indent, too */
		return line;
	}
	p->cont_ok = 0;
	len = strlen(s);
	if (*s == '[') {
		if (s[len - 1] != ']') {
			perr(p, p->lineno,
			    "syntax error: section header "
			    "must end with ']'");
			p->cur_kind = S_SKIP;
			p->list = NULL;
			return "";
		}
		inner = xstrndup(s + 1, len - 2);
		begin_section(p, inner);
		free(inner);
		return s;
	}
	if ((sep = strpbrk(s, "=:")) == NULL || sep == s) {
		perr(p, p->lineno,
		    "syntax error: expected \"key = value\" "
		    "or \"[section]\"");
		return "";
	}
	for (nlen = (size_t)(sep - s); isspace((unsigned char)s[nlen - 1]);)
		nlen--;
	p->cont_ok = (nlen == 7 && strncmp(s, "require", 7) == 0) ||
	             (nlen == 7 && strncmp(s, "backups", 7) == 0) ||
	             (nlen == 4 && strncmp(s, "disk", 4) == 0);
	return s;
}

static int conf_on_kv(void *, const char *, const char *, const char *);

/*
 * A line longer than inih's buffer (num - 1: 199 characters in Debian's
 * and Homebrew's builds, fixed when inih was compiled) goes to the handler
 * from here, split as inih splits it: the name before the first '=' or
 * ':', both sides trimmed. So do continuation lines, which inih would only
 * join to a key it has seen itself. classify() has removed the comment,
 * checked the shape and begun a section; inih then gets a blank line.
 */
static void
feed_direct(struct parse *p, const char *line)
{
	char *s = xstrdup(line), *name = skip_space(s), *sep;

	if (p->is_cont)
		conf_on_kv(p, NULL, "", name);
	else if (*name != '[' && (sep = strpbrk(name, "=:")) != NULL) {
		*sep = '\0';
		rstrip(name);
		conf_on_kv(p, NULL, name, skip_space(sep + 1));
	}
	free(s);
}

static char *
conf_reader(char *str, int num, void *arg)
{
	struct parse *p = arg;
	const char *line;
	size_t len;

	if (next_line(p) == -1)
		return NULL;
	p->lineno++;
	line = classify(p);
	len = strlen(line);
	if (len > CONF_LINE_MAX) {
		perr(p, p->lineno,
		    "line too long (%zu characters, at most %d): split a "
		    "long list over indented lines",
		    len, CONF_LINE_MAX);
		line = "";
		len = 0;
		p->cont_ok = p->is_cont = 0;
	} else if (len >= (size_t)num || p->is_cont) {
		feed_direct(p, line);
		line = "";
		len = 0;
	}
	memcpy(str, line, len + 1);
	return str;
}

/* ---- sections ------------------------------------------------------- */

static int
valid_name(const char *s)
{
	size_t n = strlen(s);

	return n >= 1 && n <= CONF_NAME_MAX &&
	       strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	                 "0123456789_.-") == n;
}

static struct sect *
cur_sect(struct parse *p)
{
	return &p->sects[p->cur];
}

static void
sect_label(const struct parse *p, const struct sect *st, char *buf, size_t len)
{
	const struct conf *c = p->conf;

	switch (st->kind) {
	case S_PEER:
		snprintf(buf, len, "[peer %s]", c->peers[st->idx].name);
		break;
	case S_GUARD:
		snprintf(buf, len, "[guard %s@%s]", c->guards[st->idx].name,
		    c->guards[st->idx].peer);
		break;
	case S_SERVICE:
		snprintf(buf, len, "[service %s@%s]", c->services[st->idx].name,
		    c->services[st->idx].peer);
		break;
	default:
		snprintf(buf, len, "[mesh]");
		break;
	}
}

static void
add_sect(struct parse *p, enum sect_kind kind, size_t idx)
{
	struct sect *st;

	p->sects = xreallocarray(p->sects, p->nsects + 1, sizeof(*p->sects));
	st = &p->sects[p->nsects];
	memset(st, 0, sizeof(*st));
	st->kind = kind;
	st->idx = idx;
	st->line = p->lineno;
	p->cur = p->nsects++;
	p->cur_kind = kind;
}

static void
begin_mesh(struct parse *p, const char *arg)
{
	if (*arg != '\0') {
		perr(p, p->lineno, "[mesh] takes no name");
		return;
	}
	if (p->mesh_sect != -1) {
		perr(p, p->lineno,
		    "duplicate section [mesh] (first at "
		    "line %d)",
		    p->sects[p->mesh_sect].line);
		return;
	}
	p->mesh_sect = (int)p->nsects;
	add_sect(p, S_MESH, 0);
}

static void
begin_peer(struct parse *p, const char *arg)
{
	struct conf *c = p->conf;
	struct conf_peer *pe;
	int i;

	if (!valid_name(arg)) {
		perr(p, p->lineno,
		    "bad peer name \"%s\": use 1-%d of "
		    "A-Z a-z 0-9 _ . -",
		    arg, CONF_NAME_MAX);
		return;
	}
	if ((i = conf_peer_index(c, arg)) != -1) {
		perr(p, p->lineno,
		    "duplicate section [peer %s] (first at "
		    "line %d)",
		    arg, c->peers[i].line);
		return;
	}
	c->peers = xreallocarray(c->peers, c->npeers + 1, sizeof(*c->peers));
	pe = &c->peers[c->npeers];
	memset(pe, 0, sizeof(*pe));
	snprintf(pe->name, sizeof(pe->name), "%s", arg);
	pe->ssh_port = 22;
	pe->line = p->lineno;
	add_sect(p, S_PEER, c->npeers++);
}

/* "NAME@PEER" into two checked names: 0, -1 without one '@', -2 if a
 * name is bad */
static int
parse_at(const char *arg, char *name, char *peer)
{
	const char *at = strchr(arg, '@');
	size_t n;

	if (at == NULL || strchr(at + 1, '@') != NULL)
		return -1;
	n = (size_t)(at - arg);
	if (n < 1 || n > CONF_NAME_MAX ||
	    strspn(arg, "abcdefghijklmnopqrstu"
	                "vwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != n ||
	    !valid_name(at + 1))
		return -2;
	memcpy(name, arg, n);
	name[n] = '\0';
	snprintf(peer, CONF_NAME_MAX + 1, "%s", at + 1);
	return 0;
}

/* a section header's "NAME@PEER"; -1 (error reported) if bad */
static int
split_at(
    struct parse *p, const char *type, const char *arg, char *name, char *peer)
{
	switch (parse_at(arg, name, peer)) {
	case -1:
		perr(p, p->lineno, "[%s %s]: expected [%s NAME@PEER]", type,
		    arg, type);
		return -1;
	case -2:
		perr(p, p->lineno,
		    "bad %s name \"%s\": NAME and PEER are 1-%d "
		    "of A-Z a-z 0-9 _ . -",
		    type, arg, CONF_NAME_MAX);
		return -1;
	}
	return 0;
}

static void
begin_guard(struct parse *p, const char *arg)
{
	struct conf *c = p->conf;
	struct conf_guard g;
	size_t i;

	memset(&g, 0, sizeof(g));
	g.max_size = CONF_GUARD_SIZE;
	g.service_idx = -1;
	if (split_at(p, "guard", arg, g.name, g.peer) == -1)
		return;
	for (i = 0; i < c->nguards; i++) {
		if (strcmp(c->guards[i].name, g.name) == 0 &&
		    strcmp(c->guards[i].peer, g.peer) == 0) {
			perr(p, p->lineno,
			    "duplicate section [guard %s] "
			    "(first at line %d)",
			    arg, c->guards[i].line);
			return;
		}
	}
	g.line = p->lineno;
	c->guards =
	    xreallocarray(c->guards, c->nguards + 1, sizeof(*c->guards));
	c->guards[c->nguards] = g;
	add_sect(p, S_GUARD, c->nguards++);
}

/* interval and timeout are settled in check_service(): they depend on
 * the probe */
static void
service_defaults(struct conf_service *sv)
{
	sv->interval_ms = 10 * 1000;
	sv->timeout_ms = 5 * 1000;
	sv->failures_before_restart = 2;
	sv->successes_before_up = 2;
	sv->start_grace_ms = 30 * 1000;
	sv->restart_timeout_ms = 60 * 1000;
	sv->restart_backoff = 2;
	sv->restart_backoff_max_ms = 5 * 60 * 1000;
	sv->breaker_failures = 3;
	sv->breaker_window_ms = 10 * 60 * 1000;
	sv->breaker_cooldown_ms = 10 * 60 * 1000;
}

static void
begin_service(struct parse *p, const char *arg)
{
	struct conf *c = p->conf;
	struct conf_service sv;
	size_t i;

	memset(&sv, 0, sizeof(sv));
	service_defaults(&sv);
	if (split_at(p, "service", arg, sv.name, sv.peer) == -1)
		return;
	for (i = 0; i < c->nservices; i++) {
		if (strcmp(c->services[i].name, sv.name) == 0 &&
		    strcmp(c->services[i].peer, sv.peer) == 0) {
			perr(p, p->lineno,
			    "duplicate section [service %s] "
			    "(first at line %d)",
			    arg, c->services[i].line);
			return;
		}
	}
	sv.line = p->lineno;
	c->services =
	    xreallocarray(c->services, c->nservices + 1, sizeof(*c->services));
	c->services[c->nservices] = sv;
	add_sect(p, S_SERVICE, c->nservices++);
}

/* "[type arg]" with the brackets removed; a bad header skips its keys */
static void
begin_section(struct parse *p, const char *inner)
{
	char *arg, *copy, *s;
	size_t n, k;

	p->cur_kind = S_SKIP;
	p->list = NULL;
	copy = xstrdup(inner);
	s = skip_space(copy);
	n = strcspn(s, " \t");
	arg = skip_space(s + n);
	rstrip(arg);
	for (k = S_MESH; k <= S_SERVICE; k++)
		if (n == strlen(sect_names[k]) &&
		    strncmp(s, sect_names[k], n) == 0)
			break;
	switch (k) {
	case S_MESH:
		begin_mesh(p, arg);
		break;
	case S_PEER:
		begin_peer(p, arg);
		break;
	case S_GUARD:
		begin_guard(p, arg);
		break;
	case S_SERVICE:
		begin_service(p, arg);
		break;
	default:
		perr(p, p->lineno,
		    "unknown section type \"%.*s\" (expected "
		    "mesh, peer, guard or service)",
		    (int)n, s);
		break;
	}
	free(copy);
}

/* ---- values --------------------------------------------------------- */

static int
parse_uint(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		if (v > (max - (uint64_t)(*s - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* why conf_parse_duration() refused s */
static const char *
duration_why(const char *s)
{
	size_t n = strspn(s, "0123456789.");

	if (*s == '-')
		return "must not be negative";
	if (s[n] == '\0')
		return "missing unit (ms, s, m or h)";
	if (n > 0 && (strcmp(s + n, "ms") == 0 || strcmp(s + n, "s") == 0 ||
	                 strcmp(s + n, "m") == 0 || strcmp(s + n, "h") == 0))
		return "too large, or not a whole number of milliseconds";
	return "expected a number and a unit: ms, s, m or h (e.g. 500ms, 2s)";
}

static void
set_duration(struct parse *p, const char *key, const char *v, uint64_t *dst)
{
	uint64_t ms;

	if (conf_parse_duration(v, &ms) == -1)
		perr(p, p->lineno, "%s: bad duration \"%s\": %s", key, v,
		    duration_why(v));
	else if (ms == 0)
		perr(p, p->lineno, "%s: must be more than 0", key);
	else
		*dst = ms;
}

static void
set_number(struct parse *p, const struct keyword *kw, const char *v, void *dst)
{
	uint64_t n;

	switch (kw->type) {
	case V_PORT:
		if (parse_uint(v, 65535, &n) == -1 || n == 0)
			perr(p, p->lineno,
			    "%s: bad port \"%s\" (expected "
			    "1-65535)",
			    kw->name, v);
		else
			*(uint16_t *)dst = (uint16_t)n;
		break;
	case V_UINT:
		if (parse_uint(v, 1000000, &n) == -1)
			perr(p, p->lineno,
			    "%s: bad number \"%s\" (expected "
			    "0-1000000)",
			    kw->name, v);
		else
			*(unsigned *)dst = (unsigned)n;
		break;
	default: /* V_BYTES */
		if (parse_uint(v, UINT64_MAX, &n) == -1 || n == 0)
			perr(p, p->lineno,
			    "%s: bad size \"%s\" (expected a "
			    "number of bytes)",
			    kw->name, v);
		else
			*(uint64_t *)dst = n;
		break;
	}
}

static int
is_url(const char *v)
{
	return (strncmp(v, "http://", 7) == 0 && v[7] != '\0') ||
	       (strncmp(v, "https://", 8) == 0 && v[8] != '\0');
}

static int
is_listen(const char *v)
{
	char *host;
	uint16_t port = 0;

	if (conf_parse_hostport(v, &host, &port) == -1)
		return 0;
	free(host);
	return port != 0;
}

static void
set_string(struct parse *p, const struct keyword *kw, const char *v, char **dst)
{
	if (kw->type == V_ABSPATH && v[0] != '/')
		perr(p, p->lineno, "%s: \"%s\" is not an absolute path",
		    kw->name, v);
	else if (kw->type == V_LISTEN && !is_listen(v))
		perr(p, p->lineno,
		    "%s: bad address \"%s\" (expected "
		    "host:port, e.g. 127.0.0.1:7947)",
		    kw->name, v);
	else if (kw->type == V_URL && !is_url(v))
		perr(p, p->lineno,
		    "%s: \"%s\" is not an http:// or https:// "
		    "URL",
		    kw->name, v);
	else {
		free(*dst);
		*dst = xstrdup(v);
	}
}

static void
set_address(struct parse *p, struct conf_peer *pe, const char *v)
{
	uint16_t port = 0;

	if (conf_parse_hostport(v, &pe->address, &port) == -1)
		perr(p, p->lineno,
		    "address: bad address \"%s\" (expected "
		    "host, IPv4, IPv6, host:port or [IPv6]:port)",
		    v);
	else
		pe->port = port; /* 0: [mesh] port, filled in later */
}

static void
set_pubkey(struct parse *p, struct conf_peer *pe, const char *v)
{
	unsigned char buf[CONF_PUBKEY_LEN + 1];
	size_t len = 0;

	if (sodium_base642bin(buf, sizeof(buf), v, strlen(v), NULL, &len, NULL,
	        sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    len != CONF_PUBKEY_LEN)
		perr(p, p->lineno,
		    "pubkey: not the base64 of a 32-byte "
		    "Ed25519 public key (see peerwatch keygen)");
	else
		memcpy(pe->pubkey, buf, CONF_PUBKEY_LEN);
}

static void
set_ssh(struct parse *p, struct conf_peer *pe, const char *v)
{
	if (conf_parse_ssh(v, &pe->ssh_user, &pe->ssh_host, &pe->ssh_port) ==
	    -1)
		perr(p, p->lineno,
		    "ssh: bad ssh spec \"%s\" (expected "
		    "user@host or user@host:port)",
		    v);
	else
		pe->has_ssh = 1;
}

static void
set_hostkey(struct parse *p, struct conf_peer *pe, const char *v)
{
	const char *fp = v + 7;

	if (strncmp(v, "SHA256:", 7) != 0 || *fp == '\0' ||
	    strspn(fp, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	               "0123456789+/=") != strlen(fp))
		perr(p, p->lineno,
		    "ssh_hostkey: \"%s\" is not a SHA256: "
		    "fingerprint (as ssh-keygen -lf prints it)",
		    v);
	else
		pe->ssh_hostkey = xstrdup(v);
}

static void
set_quorum(struct parse *p, unsigned *dst, const char *v)
{
	uint64_t n;

	if (strcmp(v, "auto") == 0)
		*dst = 0;
	else if (parse_uint(v, 1000, &n) == -1 || n == 0)
		perr(p, p->lineno,
		    "quorum: bad value \"%s\" (expected auto "
		    "or a number from 1 to the number of peers - 1)",
		    v);
	else
		*dst = (unsigned)n;
}

static void
list_add(char ***list, size_t *n, const char *s, size_t len)
{
	*list = xreallocarray(*list, *n + 1, sizeof(**list));
	(*list)[(*n)++] = xstrndup(s, len);
}

/* items of a require or backups value, from its line or a continuation */
static void
add_items(struct parse *p, const char *v)
{
	const char *seps = p->list_key == K_REQUIRE ? " \t," : " \t";
	char *item;
	size_t n;

	for (v += strspn(v, seps); *v != '\0'; v += strspn(v, seps)) {
		n = strcspn(v, seps);
		item = xstrndup(v, n);
		if (p->list_key == K_REQUIRE && !conf_valid_path(item))
			perr(p, p->lineno,
			    "require: \"%s\" is not a dotted "
			    "JSON path (like channels.telegram)",
			    item);
		else if (p->list_key == K_DISK && item[0] != '/')
			perr(p, p->lineno,
			    "disk: \"%s\" is not an absolute path (a "
			    "mount point, like / or /data)",
			    item);
		else if (p->list_key == K_BACKUPS && item[0] != '/' &&
		         strcmp(item, "mesh") != 0 &&
		         strncmp(item, "{file}", 6) != 0)
			perr(p, p->lineno,
			    "backups: \"%s\" is not an absolute "
			    "path, {file}... or mesh",
			    item);
		else
			list_add(p->list, p->nlist, v, n);
		free(item);
		v += n;
	}
}

/* "beat:90s": no probe runs, the service reports in */
static void
set_beat(struct parse *p, struct conf_service *sv, const char *v)
{
	uint64_t ms;

	while (isspace((unsigned char)*v))
		v++;
	if (*v == '\0')
		perr(p, p->lineno,
		    "probe: beat: needs a duration, e.g. beat:90s");
	else if (conf_parse_duration(v, &ms) == -1)
		perr(p, p->lineno, "probe: bad beat \"%s\": %s", v,
		    duration_why(v));
	else if (ms < CONF_WATCH_MIN_MS || ms > CONF_WATCH_MAX_MS)
		perr(p, p->lineno, "probe: a beat is 100ms to 720h, not %s", v);
	else {
		sv->probe_kind = CONF_PROBE_BEAT;
		sv->beat_ms = ms;
	}
}

static void
set_probe(struct parse *p, struct conf_service *sv, const char *v)
{
	if (strncmp(v, "beat:", 5) == 0)
		set_beat(p, sv, v + 5);
	else if (strncmp(v, "tcp://", 6) == 0) {
		if (is_listen(v + 6)) {
			sv->probe_kind = CONF_PROBE_TCP;
			sv->probe = xstrdup(v + 6);
		} else
			perr(p, p->lineno,
			    "probe: \"%s\" is not tcp://host:port", v);
	} else if (strncmp(v, "http://", 7) == 0 ||
	           strncmp(v, "https://", 8) == 0) {
		sv->probe_kind = CONF_PROBE_HTTP;
		sv->probe = xstrdup(v);
	} else if (strncmp(v, "exec:", 5) == 0 || strpbrk(v, " \t")) {
		if (strncmp(v, "exec:", 5) == 0)
			for (v += 5; isspace((unsigned char)*v); v++)
				;
		if (*v == '\0') {
			perr(p, p->lineno, "probe: empty exec: command");
			return;
		}
		sv->probe_kind = CONF_PROBE_EXEC;
		sv->probe = xstrdup(v);
	} else if (is_listen(v)) {
		sv->probe_kind = CONF_PROBE_TCP;
		sv->probe = xstrdup(v);
	} else
		perr(p, p->lineno,
		    "probe: \"%s\" is not a URL, host:port or "
		    "command (write exec:%s to run it)",
		    v, v);
}

static void
set_watch_duration(
    struct parse *p, const struct keyword *kw, const char *v, uint64_t *dst)
{
	uint64_t ms = 0;

	set_duration(p, kw->name, v, &ms);
	if (ms > CONF_WATCH_MAX_MS)
		perr(p, p->lineno, "%s: at most 720h (30 days)", kw->name);
	else if (kw->key == K_INTERVAL && ms != 0 && ms < CONF_WATCH_MIN_MS)
		perr(p, p->lineno, "interval: at least 100ms");
	else if (ms != 0)
		*dst = ms;
}

/* counts (1-100) and restart_backoff (1-10, "x2" or "2") */
static void
set_small(
    struct parse *p, const struct keyword *kw, const char *v, unsigned *dst)
{
	uint64_t n, max = kw->type == V_BACKOFF ? 10 : 100;
	const char *s = v;

	if (kw->type == V_BACKOFF && *s == 'x')
		s++;
	if (parse_uint(s, max, &n) == -1 || n == 0)
		perr(p, p->lineno, "%s: bad %s \"%s\" (expected 1-%llu%s)",
		    kw->name, kw->type == V_BACKOFF ? "factor" : "number", v,
		    (unsigned long long)max,
		    kw->type == V_BACKOFF ? ", as 2 or x2" : "");
	else
		*dst = (unsigned)n;
}

/* "85%" or "85": 1-100; -1 if not */
static int
parse_percent(const char *v, uint64_t *n)
{
	char buf[8];
	size_t len = strlen(v);

	if (len > 0 && v[len - 1] == '%')
		len--;
	if (len == 0 || len >= sizeof(buf))
		return -1;
	memcpy(buf, v, len);
	buf[len] = '\0';
	return parse_uint(buf, 100, n) == -1 || *n == 0 ? -1 : 0;
}

static void
set_percent(
    struct parse *p, const struct keyword *kw, const char *v, unsigned *dst)
{
	uint64_t n;

	if (parse_percent(v, &n) == -1)
		perr(p, p->lineno,
		    "%s: bad percentage \"%s\" (expected 1-100, "
		    "e.g. 85%%)",
		    kw->name, v);
	else
		*dst = (unsigned)n;
}

/* the multiplier of a size's unit letter; 0 if none */
static uint64_t
size_unit(char c)
{
	switch (c) {
	case 'K':
	case 'k':
		return 1024;
	case 'M':
	case 'm':
		return 1024 * 1024;
	case 'G':
	case 'g':
		return 1024 * 1024 * 1024;
	case 'T':
	case 't':
		return 1024ULL * 1024 * 1024 * 1024;
	default:
		return 0;
	}
}

/*
 * swap_warn / swap_critical: "512M", "4G" (binary units) into bytes, or
 * "50%" of the swap space into *_pct = 1 and the percent. Bare bytes are
 * refused: "512" is more likely a forgotten M than 512 bytes.
 */
static void
set_swap(struct parse *p, const struct keyword *kw, const char *v,
    struct conf_mesh *m)
{
	int warn = kw->key == K_SWAP_WARN;
	uint64_t *dst = warn ? &m->res.swap_warn : &m->res.swap_critical;
	int *pct = warn ? &m->res.swap_warn_pct : &m->res.swap_critical_pct;
	size_t len = strlen(v);
	uint64_t n, unit = size_unit(v[len - 1]);
	char *num;

	if (v[len - 1] == '%') {
		if (parse_percent(v, &n) == -1)
			perr(p, p->lineno,
			    "%s: bad percentage \"%s\" (expected 1-100%%)",
			    kw->name, v);
		else {
			*dst = n;
			*pct = 1;
		}
		return;
	}
	num = xstrndup(v, len - 1);
	if (unit == 0 || parse_uint(num, UINT64_MAX / unit, &n) == -1)
		perr(p, p->lineno,
		    "%s: bad size \"%s\" (expected a number and K, M, G or "
		    "T, e.g. 512M, or a percentage of swap, e.g. 50%%)",
		    kw->name, v);
	else if (n == 0)
		perr(p, p->lineno,
		    "%s: must be more than 0 (leave it out to not guard "
		    "swap)",
		    kw->name);
	else {
		*dst = n * unit;
		*pct = 0;
	}
	free(num);
}

/* a guard's "service = NAME@PEER": checked here, found at the end */
static void
set_service_ref(struct parse *p, const char *v)
{
	char name[CONF_NAME_MAX + 1], peer[CONF_NAME_MAX + 1];
	struct sect *st = cur_sect(p);

	if (parse_at(v, name, peer) != 0)
		perr(p, p->lineno,
		    "service: \"%s\" is not NAME@PEER (the [service "
		    "NAME@PEER] this file configures)",
		    v);
	else {
		free(st->ref);
		st->ref = xstrdup(v);
	}
}

/* the struct the current section fills */
static void *
sect_base(struct parse *p)
{
	struct conf *c = p->conf;
	size_t i = cur_sect(p)->idx;

	switch (p->cur_kind) {
	case S_PEER:
		return &c->peers[i];
	case S_GUARD:
		return &c->guards[i];
	case S_SERVICE:
		return &c->services[i];
	default:
		return &c->mesh;
	}
}

/* dst is the field at kw->off in base: the table's offsetof() */
static void
set_value(struct parse *p, const struct keyword *kw, const char *v)
{
	void *base = sect_base(p), *dst = (char *)base + kw->off;
	struct conf_guard *g = base;

	switch (kw->type) {
	case V_DURATION:
		set_duration(p, kw->name, v, dst);
		break;
	case V_PORT:
	case V_UINT:
	case V_BYTES:
		set_number(p, kw, v, dst);
		if (kw->key == K_MAX_SIZE && g->max_size > CONF_GUARD_SIZE_MAX)
			perr(p, p->lineno, "max_size: at most %u bytes",
			    CONF_GUARD_SIZE_MAX);
		break;
	case V_TOP_LEVEL:
		if (strcmp(v, "object") == 0 || strcmp(v, "any") == 0)
			*(int *)dst = strcmp(v, "any") == 0;
		else
			perr(p, p->lineno,
			    "top_level: \"%s\" is not object or any", v);
		break;
	case V_STRING:
	case V_PATH:
	case V_ABSPATH:
	case V_LISTEN:
	case V_URL:
		set_string(p, kw, v, dst);
		break;
	case V_QUORUM:
		set_quorum(p, dst, v);
		break;
	case V_ADDRESS:
		set_address(p, base, v);
		break;
	case V_PUBKEY:
		set_pubkey(p, base, v);
		break;
	case V_SSH:
		set_ssh(p, base, v);
		break;
	case V_HOSTKEY:
		set_hostkey(p, base, v);
		break;
	case V_REQUIRE:
	case V_BACKUPS:
	case V_DISK:
		p->list = dst;
		if (kw->type == V_DISK)
			p->nlist = &((struct conf_mesh *)base)->res.ndisk;
		else
			p->nlist =
			    kw->type == V_REQUIRE ? &g->nrequire : &g->nbackups;
		p->list_key = kw->key;
		add_items(p, v);
		break;
	case V_PROBE:
		set_probe(p, base, v);
		break;
	case V_WATCH_DURATION:
		set_watch_duration(p, kw, v, dst);
		break;
	case V_COUNT:
	case V_BACKOFF:
		set_small(p, kw, v, dst);
		break;
	case V_PERCENT:
		set_percent(p, kw, v, dst);
		break;
	case V_SWAP:
		set_swap(p, kw, v, base);
		break;
	case V_SERVICE_REF:
		set_service_ref(p, v);
		break;
	}
}

static const struct keyword *
keyword_find(enum sect_kind kind, const char *name)
{
	size_t i;

	for (i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++)
		if (keywords[i].sect == kind &&
		    strcmp(keywords[i].name, name) == 0)
			return &keywords[i];
	return NULL;
}

static void
unknown_key(struct parse *p, const char *name)
{
	char label[2 * CONF_NAME_MAX + 16];
	enum sect_kind k;

	sect_label(p, cur_sect(p), label, sizeof(label));
	for (k = S_MESH; k <= S_SERVICE; k++)
		if (keyword_find(k, name) != NULL)
			break;
	if (k <= S_SERVICE)
		perr(p, p->lineno,
		    "unknown key \"%s\" in %s (it belongs in "
		    "[%s])",
		    name, label, sect_names[k]);
	else
		perr(p, p->lineno, "unknown key \"%s\" in %s", name, label);
}

static int
conf_on_kv(void *arg, const char *section, const char *name, const char *value)
{
	struct parse *p = arg;
	const struct keyword *kw;
	struct sect *st;
	char label[2 * CONF_NAME_MAX + 16];

	(void)section; /* ours, from begin_section(), is richer */
	if (p->cur_kind == S_SKIP)
		return 1;
	if (p->cur_kind == S_NONE) {
		perr(p, p->lineno,
		    "\"%s\" is outside any section (keys go "
		    "under [mesh], [peer NAME], ...)",
		    name);
		return 1;
	}
	if (p->is_cont) {
		if (p->list != NULL)
			add_items(p, value);
		return 1;
	}
	p->list = NULL;
	if ((kw = keyword_find(p->cur_kind, name)) == NULL) {
		unknown_key(p, name);
		return 1;
	}
	st = cur_sect(p);
	if (st->klines[kw->key] != 0) {
		sect_label(p, st, label, sizeof(label));
		perr(p, p->lineno,
		    "duplicate key \"%s\" in %s (first at "
		    "line %d)",
		    name, label, st->klines[kw->key]);
		return 1;
	}
	st->klines[kw->key] = p->lineno;
	if (*value == '\0' && kw->type != V_REQUIRE && kw->type != V_BACKUPS &&
	    kw->type != V_DISK)
		perr(p, p->lineno, "%s: empty value", name);
	else
		set_value(p, kw, value);
	return 1; /* never let inih count an error: we have them all */
}

/* ---- checks that need the whole file -------------------------------- */

/*
 * The line to blame for a problem with [mesh] keys a and b: a's if set,
 * else b's, else the [mesh] header (or 1 without one).
 */
static int
mesh_line(const struct parse *p, enum key a, enum key b)
{
	const struct sect *st;

	if (p->mesh_sect == -1)
		return 1;
	st = &p->sects[p->mesh_sect];
	if (st->klines[a] != 0)
		return st->klines[a];
	return st->klines[b] != 0 ? st->klines[b] : st->line;
}

static void
check_peer_pair(struct parse *p, const struct sect *a, const struct sect *b)
{
	const struct conf_peer *pa = &p->conf->peers[a->idx];
	const struct conf_peer *pb = &p->conf->peers[b->idx];

	if (pa->address != NULL && pb->address != NULL &&
	    strcasecmp(pa->address, pb->address) == 0 && pa->port == pb->port)
		perr(p, b->klines[K_ADDRESS],
		    "address: %s port %u of [peer "
		    "%s] is already used by [peer %s] (line %d)",
		    pb->address, pb->port, pb->name, pa->name,
		    a->klines[K_ADDRESS]);
	if (!sodium_is_zero(pa->pubkey, CONF_PUBKEY_LEN) &&
	    sodium_memcmp(pa->pubkey, pb->pubkey, CONF_PUBKEY_LEN) == 0)
		perr(p, b->klines[K_PUBKEY],
		    "pubkey: [peer %s] has the same "
		    "pubkey as [peer %s] (line %d)",
		    pb->name, pa->name, a->klines[K_PUBKEY]);
}

static void
check_peer(struct parse *p, const struct sect *st)
{
	struct conf_peer *pe = &p->conf->peers[st->idx];
	size_t j;

	if (st->klines[K_ADDRESS] == 0)
		perr(p, st->line, "[peer %s]: missing address", pe->name);
	if (st->klines[K_PUBKEY] == 0)
		perr(p, st->line, "[peer %s]: missing pubkey", pe->name);
	if (pe->port == 0)
		pe->port = p->conf->mesh.port;
	if (pe->has_ssh && pe->ssh_hostkey == NULL &&
	    p->conf->mesh.known_hosts == NULL)
		perr(p, st->klines[K_SSH],
		    "ssh: nothing pins the host key of "
		    "[peer %s]: set ssh_hostkey or [mesh] known_hosts",
		    pe->name);
	for (j = 0; j < (size_t)(st - p->sects); j++)
		if (p->sects[j].kind == S_PEER)
			check_peer_pair(p, &p->sects[j], st);
}

/* {file} in each backup becomes the guard's file */
static void
expand_backups(struct conf_guard *g)
{
	char *b, *at;
	size_t i;

	for (i = 0; i < g->nbackups && g->file != NULL; i++) {
		while ((at = strstr(g->backups[i], "{file}")) != NULL) {
			*at = '\0';
			b = xasprintf("%s%s%s", g->backups[i], g->file, at + 6);
			free(g->backups[i]);
			g->backups[i] = b;
		}
	}
}

/* the [peer] a guard or service names; -1 (error reported) if none */
static int
check_ref(struct parse *p, const struct sect *st, const char *type,
    const char *name, const char *peer, size_t *idx)
{
	int i;

	if ((i = conf_peer_index(p->conf, peer)) == -1) {
		perr(p, st->line, "[%s %s@%s]: no [peer %s]", type, name, peer,
		    peer);
		return -1;
	}
	*idx = (size_t)i;
	return 0;
}

/* the index of [service name@peer], -1 if there is none */
static long
service_index(const struct conf *c, const char *name, const char *peer)
{
	size_t i;

	for (i = 0; i < c->nservices; i++)
		if (strcmp(c->services[i].name, name) == 0 &&
		    strcmp(c->services[i].peer, peer) == 0)
			return (long)i;
	return -1;
}

/* "service = NAME@PEER": a [service] anywhere in the file, on the
 * guard's own peer (its heartbeats report the service's state) */
static void
check_guard_service(
    struct parse *p, const struct sect *st, struct conf_guard *g)
{
	char name[CONF_NAME_MAX + 1], peer[CONF_NAME_MAX + 1];
	int line = st->klines[K_SERVICE];
	long i;

	if (st->ref == NULL || parse_at(st->ref, name, peer) != 0)
		return;
	i = service_index(p->conf, name, peer);
	if (strcmp(peer, g->peer) != 0 && i != -1)
		perr(p, line,
		    "service: [service %s] (line %d) runs on %s, not on %s "
		    "like [guard %s@%s] (line %d)",
		    st->ref, p->conf->services[i].line, peer, g->peer, g->name,
		    g->peer, st->line);
	else if (strcmp(peer, g->peer) != 0)
		perr(p, line,
		    "service: %s is not on %s like [guard %s@%s] (line %d): "
		    "name a [service NAME@%s]",
		    st->ref, g->peer, g->name, g->peer, st->line, g->peer);
	else if (i == -1)
		perr(p, line, "service: no [service %s] in this file", st->ref);
	else
		g->service_idx = i;
}

static void
check_guard(struct parse *p, const struct sect *st)
{
	struct conf_guard *g = &p->conf->guards[st->idx];

	check_ref(p, st, "guard", g->name, g->peer, &g->peer_idx);
	if (st->klines[K_FILE] == 0)
		perr(p, st->line, "[guard %s@%s]: missing file", g->name,
		    g->peer);
	if (st->klines[K_ON_FLAG] != 0 && st->klines[K_FLAG] == 0)
		perr(p, st->klines[K_ON_FLAG],
		    "on_flag: set, but there is "
		    "no flag for it to watch");
	check_guard_service(p, st, g);
	expand_backups(g);
}

/* "line N" or "the default" for a key of section st */
static const char *
written_at(const struct sect *st, enum key k, char *buf, size_t len)
{
	if (st->klines[k] == 0)
		snprintf(buf, len, "the default");
	else
		snprintf(buf, len, "line %d", st->klines[k]);
	return buf;
}

/*
 * A beat is checked every interval (by default a third of the beat, 100ms
 * to 10s) and has no timeout; beat_file needs a beat. A probe's timeout
 * defaults to 5s or the interval if that is shorter, and a written one
 * must fit in the interval.
 */
static void
service_timing(struct parse *p, const struct sect *st, struct conf_service *sv)
{
	int lt = st->klines[K_TIMEOUT], li = st->klines[K_INTERVAL];
	char where[32];

	if (sv->probe_kind != CONF_PROBE_BEAT) {
		if (st->klines[K_BEAT_FILE] != 0)
			perr(p, st->klines[K_BEAT_FILE],
			    "beat_file: only with probe = beat:DURATION "
			    "(line %d)",
			    st->klines[K_PROBE]);
		if (lt != 0 && sv->timeout_ms > sv->interval_ms)
			perr(p, lt,
			    "timeout (%llums) must be at most interval "
			    "(%llums, %s)",
			    (unsigned long long)sv->timeout_ms,
			    (unsigned long long)sv->interval_ms,
			    written_at(st, K_INTERVAL, where, sizeof(where)));
	} else {
		if (lt != 0)
			perr(p, lt,
			    "timeout: a beat:%llums probe has none; interval "
			    "is how often its beat is checked",
			    (unsigned long long)sv->beat_ms);
		if (li == 0) {
			sv->interval_ms = sv->beat_ms / 3;
			if (sv->interval_ms > 10 * 1000)
				sv->interval_ms = 10 * 1000;
			if (sv->interval_ms < CONF_WATCH_MIN_MS)
				sv->interval_ms = CONF_WATCH_MIN_MS;
		} else if (sv->interval_ms > sv->beat_ms)
			perr(p, li,
			    "interval (%llums) must be at most the beat "
			    "(%llums, line %d)",
			    (unsigned long long)sv->interval_ms,
			    (unsigned long long)sv->beat_ms,
			    st->klines[K_PROBE]);
	}
	if (lt == 0 && sv->timeout_ms > sv->interval_ms)
		sv->timeout_ms = sv->interval_ms;
}

static void
check_service(struct parse *p, const struct sect *st)
{
	struct conf_service *sv = &p->conf->services[st->idx];

	check_ref(p, st, "service", sv->name, sv->peer, &sv->peer_idx);
	if (st->klines[K_PROBE] == 0)
		perr(p, st->line, "[service %s@%s]: missing probe", sv->name,
		    sv->peer);
	else if (sv->probe != NULL || sv->beat_ms != 0)
		service_timing(p, st, sv);
}

#define CONF_TIMING_MAX_MS (60 * 60 * 1000ULL)

/* the line that set key in [mesh], 0 if the user did not write it */
static int
mesh_written(const struct parse *p, enum key k)
{
	if (p->mesh_sect == -1)
		return 0;
	return p->sects[p->mesh_sect].klines[k];
}

/*
 * suspect_after and down_after follow interval unless written (2x and 4x,
 * as memberlist derives its timeouts from the probe interval). A derived
 * value gives way to a written one, so only values the user wrote can
 * conflict, and the error names their lines.
 */
static void
derive_timing(struct parse *p)
{
	struct conf_mesh *m = &p->conf->mesh;
	int li = mesh_written(p, K_INTERVAL);
	int ls = mesh_written(p, K_SUSPECT_AFTER);
	int ld = mesh_written(p, K_DOWN_AFTER);
	char where[32];

	/* bounds first, so the arithmetic below cannot overflow */
	if (m->interval_ms == 0 || m->interval_ms > CONF_TIMING_MAX_MS) {
		perr(p, li, "interval: must be between 1ms and 1h");
		return;
	}
	if (m->suspect_after_ms > CONF_TIMING_MAX_MS ||
	    m->down_after_ms > CONF_TIMING_MAX_MS) {
		perr(p, m->suspect_after_ms > CONF_TIMING_MAX_MS ? ls : ld,
		    "%s: at most 1h",
		    m->suspect_after_ms > CONF_TIMING_MAX_MS ? "suspect_after"
		                                             : "down_after");
		return;
	}
	if (ls == 0) {
		m->suspect_after_ms = 2 * m->interval_ms;
		if (ld != 0 && m->suspect_after_ms >= m->down_after_ms &&
		    m->down_after_ms > m->interval_ms)
			m->suspect_after_ms =
			    m->interval_ms +
			    (m->down_after_ms - m->interval_ms) / 2;
	}
	if (ld == 0) {
		m->down_after_ms = 4 * m->interval_ms;
		if (m->down_after_ms <= m->suspect_after_ms)
			m->down_after_ms = 2 * m->suspect_after_ms;
	}
	if (li != 0)
		snprintf(where, sizeof(where), "line %d", li);
	else
		snprintf(where, sizeof(where), "the default");
	/* the first of the two that interval does not stay below */
	if (m->interval_ms >= m->suspect_after_ms ||
	    m->interval_ms >= m->down_after_ms) {
		int s = m->interval_ms >= m->suspect_after_ms;
		perr(p, s ? ls : ld,
		    "interval (%llums, %s) must be less than %s (%llums)",
		    (unsigned long long)m->interval_ms, where,
		    s ? "suspect_after" : "down_after",
		    (unsigned long long)(s ? m->suspect_after_ms
		                           : m->down_after_ms));
	} else if (m->suspect_after_ms >= m->down_after_ms)
		perr(p, ld,
		    "suspect_after (%llums, line %d) must be less than "
		    "down_after (%llums)",
		    (unsigned long long)m->suspect_after_ms, ls,
		    (unsigned long long)m->down_after_ms);
}

/* "85%" or "536870912 bytes" */
static const char *
fmt_level(uint64_t v, int pct, char *buf, size_t len)
{
	snprintf(
	    buf, len, pct ? "%llu%%" : "%llu bytes", (unsigned long long)v);
	return buf;
}

/* a warn level must stay below its critical one; the line to blame is
 * critical's if written, else warn's */
static void
check_levels(struct parse *p, const char *what, enum key kw, enum key kc,
    uint64_t warn, uint64_t crit, int pct)
{
	int lw = mesh_written(p, kw), lc = mesh_written(p, kc);
	char vw[32], vc[32], where[32];

	if (warn < crit)
		return;
	fmt_level(warn, pct, vw, sizeof(vw));
	fmt_level(crit, pct, vc, sizeof(vc));
	if (lc != 0)
		perr(p, lc,
		    "%s_critical (%s) must be more than %s_warn (%s, %s)", what,
		    vc, what, vw,
		    written_at(
		        &p->sects[p->mesh_sect], kw, where, sizeof(where)));
	else
		perr(p, lw,
		    "%s_warn (%s) must be less than %s_critical (%s, "
		    "the default)",
		    what, vw, what, vc);
}

static void
check_resources(struct parse *p)
{
	const struct conf_resources *r = &p->conf->mesh.res;

	if (p->mesh_sect == -1)
		return; /* all defaults */
	check_levels(p, "disk", K_DISK_WARN, K_DISK_CRITICAL, r->disk_warn,
	    r->disk_critical, 1);
	if (r->swap_warn != 0 && r->swap_critical != 0 &&
	    r->swap_warn_pct == r->swap_critical_pct)
		check_levels(p, "swap", K_SWAP_WARN, K_SWAP_CRITICAL,
		    r->swap_warn, r->swap_critical, r->swap_warn_pct);
	if (r->disk_cleanup != NULL && r->ndisk == 0)
		perr(p, mesh_written(p, K_DISK_CLEANUP),
		    "disk_cleanup: set, but there is no disk for it to "
		    "clean");
}

static void
check_mesh(struct parse *p)
{
	const struct conf_mesh *m = &p->conf->mesh;
	size_t n = p->conf->npeers;

	if (n == 0)
		perr(p, p->lineno > 0 ? p->lineno : 1,
		    "no [peer] section: "
		    "list every host, this one included, as [peer NAME]");
	if (n > 0 && m->quorum > n - 1)
		perr(p, mesh_line(p, K_QUORUM, K_QUORUM),
		    "quorum: %u is more than the "
		    "%zu other peer(s); use auto or 1-%zu",
		    m->quorum, n - 1, n - 1);
	derive_timing(p);
	check_resources(p);
	if ((m->telegram_chat == NULL) != (m->telegram_token_file == NULL))
		perr(p, mesh_line(p, K_TELEGRAM_CHAT, K_TELEGRAM_TOKEN_FILE),
		    "telegram_chat "
		    "and telegram_token_file go together: set both or "
		    "neither");
}

static void
check_all(struct parse *p)
{
	size_t i;

	for (i = 0; i < p->nsects; i++) {
		switch (p->sects[i].kind) {
		case S_PEER:
			check_peer(p, &p->sects[i]);
			break;
		case S_GUARD:
			check_guard(p, &p->sects[i]);
			break;
		case S_SERVICE:
			check_service(p, &p->sects[i]);
			break;
		default:
			break;
		}
	}
	check_mesh(p);
}

/* ---- loading -------------------------------------------------------- */

static int
perr_cmp(const void *a, const void *b)
{
	const struct perr *x = a, *y = b;

	if (x->line != y->line)
		return x->line < y->line ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* errors in line order, as "FILE:LINE: message", into errs */
static void
flush_errors(struct parse *p, struct conf_errors *errs)
{
	size_t i;

	if (p->nerrs > 0)
		qsort(p->errs, p->nerrs, sizeof(*p->errs), perr_cmp);
	for (i = 0; i < p->nerrs; i++) {
		if (errs != NULL) {
			errs->msgs = xreallocarray(
			    errs->msgs, errs->n + 1, sizeof(*errs->msgs));
			errs->msgs[errs->n++] = xasprintf("%s:%d: %s", p->name,
			    p->errs[i].line, p->errs[i].msg);
		}
		free(p->errs[i].msg);
	}
	free(p->errs);
}

static struct conf *
load(struct parse *p, struct conf_errors *errs)
{
	struct conf *c;
	size_t i;
	int rc;

	p->conf = conf_new(p->name);
	p->mesh_sect = -1;
	rc = ini_parse_stream(conf_reader, p, conf_on_kv, p);
	if (p->fp != NULL && ferror(p->fp))
		perr(p, p->lineno + 1, "read error: %s", strerror(errno));
	else if (rc < 0)
		perr(p, p->lineno, "out of memory");
	else if (rc > 0) /* a line our reader let through */
		perr(p, rc, "syntax error");
	check_all(p);
	c = p->conf;
	if (p->nerrs > 0) {
		conf_free(c);
		c = NULL;
	}
	flush_errors(p, errs);
	for (i = 0; i < p->nsects; i++)
		free(p->sects[i].ref);
	free(p->sects);
	free(p->raw);
	return c;
}

struct conf *
conf_load_string(const char *text, const char *name, struct conf_errors *errs)
{
	struct parse p;

	memset(&p, 0, sizeof(p));
	p.name = name;
	p.str = text;
	return load(&p, errs);
}

struct conf *
conf_load_file(const char *path, struct conf_errors *errs)
{
	struct parse p;
	struct conf *c;

	memset(&p, 0, sizeof(p));
	p.name = path;
	if ((p.fp = fopen(path, "r")) == NULL) {
		if (errs != NULL) {
			errs->msgs = xreallocarray(
			    errs->msgs, errs->n + 1, sizeof(*errs->msgs));
			errs->msgs[errs->n++] =
			    xasprintf("%s: %s", path, strerror(errno));
		}
		return NULL;
	}
	c = load(&p, errs);
	fclose(p.fp);
	return c;
}

/* ---- lookups -------------------------------------------------------- */

int
conf_peer_index(const struct conf *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->npeers; i++)
		if (strcmp(c->peers[i].name, name) == 0)
			return (int)i;
	return -1;
}

unsigned
conf_needed_votes(const struct conf *c)
{
	size_t voters = c->npeers > 0 ? c->npeers - 1 : 0;

	if (c->mesh.quorum != 0)
		return c->mesh.quorum;
	return (unsigned)(voters / 2 + 1);
}

static const struct conf_peer *
self_peer(const struct conf *c, size_t self)
{
	return self < c->npeers ? &c->peers[self] : NULL;
}

const char *
conf_state_dir(const struct conf *c, size_t self)
{
	const struct conf_peer *pe = self_peer(c, self);

	return pe != NULL && pe->state_dir != NULL ? pe->state_dir
	                                           : c->mesh.state_dir;
}

const char *
conf_status_listen(const struct conf *c, size_t self)
{
	const struct conf_peer *pe = self_peer(c, self);

	return pe != NULL && pe->status_listen != NULL ? pe->status_listen
	                                               : c->mesh.status_listen;
}

const char *
conf_ollama_listen(const struct conf *c, size_t self)
{
	const struct conf_peer *pe = self_peer(c, self);

	return pe != NULL && pe->ollama_listen != NULL ? pe->ollama_listen
	                                               : c->mesh.ollama_listen;
}

const char *
conf_key_path(const struct conf *c, size_t self)
{
	const struct conf_peer *pe = self_peer(c, self);

	return pe != NULL && pe->key != NULL ? pe->key : c->mesh.key;
}

const char *
conf_revive_flag(const struct conf *c, size_t peer)
{
	const struct conf_peer *pe = self_peer(c, peer);

	return pe != NULL && pe->revive_flag != NULL ? pe->revive_flag
	                                             : c->mesh.revive_flag;
}
