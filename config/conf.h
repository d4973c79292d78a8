/* SPDX-License-Identifier: ISC */
/*
 * conf: peers.conf, parsed (inih) and validated into one read-only value.
 * Every error is collected as "FILE:LINE: message" so check-config can list
 * them all at once. Never exits, never logs: errors go to the caller.
 * A struct conf is built whole, validated, and only then used; reload builds
 * a new one and swaps it in, so nothing here is ever mutated after load.
 */
#ifndef PW_CONFIG_CONF_H
#define PW_CONFIG_CONF_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CONF_NAME_MAX 63    /* peer, guard and service names */
#define CONF_LINE_MAX 65535 /* characters of one line, comments removed */
#define CONF_PUBKEY_LEN 32  /* Ed25519 public key */
#define CONF_SECKEY_LEN 64  /* libsodium Ed25519 secret key */
#define CONF_DEFAULT_PATH "/etc/peerwatch/peers.conf"

struct conf_peer {
	char name[CONF_NAME_MAX + 1];
	char *address; /* host or IP literal, without port */
	uint16_t port; /* heartbeat port (address's :port or mesh) */
	unsigned char pubkey[CONF_PUBKEY_LEN];
	int has_ssh;
	char *ssh_user; /* from "ssh = user@host[:port]" */
	char *ssh_host;
	uint16_t ssh_port;        /* default 22 */
	char *ssh_hostkey;        /* "SHA256:..." or NULL */
	char *ollama;             /* URL or NULL */
	unsigned ollama_priority; /* lower is tried first; 0 */
	/* per-host overrides of [mesh] keys, NULL when not set; hosts that
	 * share one machine (demo, tests) need their own dirs and ports */
	char *key;
	char *state_dir;
	char *status_listen;
	char *ollama_listen;
	char *revive_flag; /* this host's peerwatch revive flag */
	int line;          /* line of the section header */
};

struct conf_guard {
	char name[CONF_NAME_MAX + 1]; /* "openclaw" of openclaw@macbook */
	char peer[CONF_NAME_MAX + 1]; /* "macbook" */
	size_t peer_idx;              /* index into conf.peers */
	char *file;
	char **require; /* dotted JSON paths */
	size_t nrequire;
	char **backups; /* as written, {file} expanded; "mesh" */
	size_t nbackups;
	char *flag;
	char *on_flag;     /* run by systemd/launchd, never by us */
	uint64_t max_size; /* bytes; 0 = CONF_GUARD_SIZE */
	int any_json;      /* top_level = any: not only an object */
	/* "service = app@h3": the [service] this file configures; a revive
	 * is done when the target reports it up. -1: none named */
	long service_idx;
	int line;
};

#define CONF_GUARD_SIZE (4u * 1024 * 1024)      /* max_size default */
#define CONF_GUARD_SIZE_MAX (64u * 1024 * 1024) /* max_size limit */

enum conf_probe_kind {
	CONF_PROBE_HTTP, /* 2xx/3xx = up */
	CONF_PROBE_TCP,  /* a connection = up */
	CONF_PROBE_EXEC, /* exit 0 = up */
	CONF_PROBE_BEAT  /* a push beat within beat_ms = up */
};

/* [service NAME@PEER]: run only on PEER (local watch, heal/watch.h) */
struct conf_service {
	char name[CONF_NAME_MAX + 1];
	char peer[CONF_NAME_MAX + 1];
	size_t peer_idx;
	enum conf_probe_kind probe_kind;
	char *probe;      /* URL, host:port, or a command line; NULL for beat */
	uint64_t beat_ms; /* "beat:90s": down when no beat for this long */
	char *beat_file;  /* optional: its mtime is a beat too (touch FILE) */
	uint64_t interval_ms;             /* 10s: between probes */
	uint64_t timeout_ms;              /* 5s: one probe, <= interval */
	unsigned failures_before_restart; /* 2: failed probes in a row */
	unsigned successes_before_up;     /* 2: good probes in a row */
	uint64_t start_grace_ms;          /* 30s after a restart */
	char *restart;                    /* command line or NULL */
	uint64_t restart_timeout_ms;      /* 60s */
	unsigned restart_backoff;         /* 2: wait x2 per restart in a row */
	uint64_t restart_backoff_max_ms;  /* 5m */
	unsigned breaker_failures;        /* 3 failed restarts ... */
	uint64_t breaker_window_ms;       /* ... within 10m open it */
	uint64_t breaker_cooldown_ms;     /* 10m open, then one try */
	int line;
};

/* [mesh] resource guards (each host its own figures) */
struct conf_resources {
	char **disk; /* mount points; none = no disk guard */
	size_t ndisk;
	unsigned disk_warn;     /* 85 (%) */
	unsigned disk_critical; /* 95 (%) */
	char *disk_cleanup;     /* command run above disk_warn, or NULL */
	/* swap in use: bytes, or a percentage of total when *_pct is set;
	 * 0 = not guarded */
	uint64_t swap_warn;
	uint64_t swap_critical;
	int swap_warn_pct, swap_critical_pct;
	uint64_t interval_ms; /* 30s: between readings */
};

struct conf_mesh {
	uint16_t port;                    /* 7946 */
	uint64_t interval_ms;             /* 500 */
	uint64_t suspect_after_ms;        /* 2 x interval unless set */
	uint64_t down_after_ms;           /* 4 x interval unless set */
	unsigned quorum;                  /* 0 = auto (majority of voters) */
	unsigned max_revives_per_hour;    /* 2 */
	uint64_t max_skew_ms;             /* 120000 */
	uint64_t revive_verify_ms;        /* 30000 */
	uint64_t max_sleep_ms;            /* 24h: asleep, then watched again */
	uint64_t guard_interval_ms;       /* 10000 */
	uint64_t mesh_backup_interval_ms; /* 3600000 */
	uint64_t ssh_timeout_ms;          /* 10000: connect + auth */
	uint64_t events_max_bytes;        /* 10 MiB: rotate events.jsonl */
	unsigned events_keep;             /* 5 rotated files kept */
	char *key;                        /* /etc/peerwatch/key */
	char *state_dir;                  /* /var/lib/peerwatch */
	char *status_listen;              /* 127.0.0.1:7947 */
	char *ollama_listen;              /* 127.0.0.1:11435 */
	uint64_t ollama_max_body;         /* 64 MiB: larger requests get 413 */
	uint64_t ollama_first_byte_timeout_ms; /* 300000: model loads */
	uint64_t ollama_probe_interval_ms; /* 5000: own /api/tags, /api/ps */
	uint64_t ollama_backoff_ms;        /* 10000: a failed backend rests */
	char *telegram_token_file;         /* NULL if unset */
	char *telegram_chat;
	char *telegram_api;        /* https://api.telegram.org */
	uint64_t alert_grace_ms;   /* 30000: closed sooner = only logged */
	uint64_t alert_repeat_ms;  /* 4 h: reminders while open */
	unsigned alert_flap_limit; /* 5 opens an hour, then `flapping`; 0 off */
	char *alert_explain_model; /* NULL: no explanation */
	uint64_t alert_explain_timeout_ms; /* 20000 */
	char *ssh_key;                     /* /etc/peerwatch/ssh_id_ed25519 */
	char *known_hosts;                 /* NULL: only ssh_hostkey pins */
	char *revive_flag; /* /var/lib/peerwatch/flags/revive-peerwatch.flag */
	struct conf_resources res;
};

struct conf {
	char *path;
	struct conf_mesh mesh;
	struct conf_peer *peers;
	size_t npeers;
	struct conf_guard *guards;
	size_t nguards;
	struct conf_service *services;
	size_t nservices;
};

/* One error, already formatted as "FILE:LINE: message". */
struct conf_errors {
	char **msgs;
	size_t n;
};

/*
 * Parse and validate. Returns a conf, or NULL with every error in errs
 * (errs may have entries even when a conf is returned: none today).
 * `name` is what FILE: says in messages.
 */
struct conf *conf_load_file(const char *path, struct conf_errors *errs);
struct conf *conf_load_string(
    const char *text, const char *name, struct conf_errors *errs);
void conf_free(struct conf *);
void conf_errors_clear(struct conf_errors *);

/*
 * Which [peer] is this host: `name` when given (error if unknown), else the
 * peer whose pubkey matches the one derived from the secret key file (the
 * [peer]'s own key= override, else [mesh] key). Also checks the key file is
 * not readable by group or others. Returns the index, or -1 with err set.
 * When seckey is not NULL the 64-byte secret key is copied there.
 */
int conf_find_self(const struct conf *, const char *name, unsigned char *seckey,
    char *err, size_t errlen);

/* Effective per-host values: the [peer] override or the [mesh] value. */
const char *conf_state_dir(const struct conf *, size_t self);
const char *conf_status_listen(const struct conf *, size_t self);
const char *conf_ollama_listen(const struct conf *, size_t self);
const char *conf_key_path(const struct conf *, size_t self);
/* where a revive drops the flag that restarts peerwatch on that peer */
const char *conf_revive_flag(const struct conf *, size_t peer);

/* -1 if not found */
int conf_peer_index(const struct conf *, const char *name);

/* quorum votes needed to confirm a peer down: [mesh] quorum, or
 * floor(voters/2)+1 with voters = npeers - 1 */
unsigned conf_needed_votes(const struct conf *);

/* "500ms", "2s", "1m", "1h" -> ms; -1 on error. Bare numbers are refused. */
int conf_parse_duration(const char *s, uint64_t *ms);
/* "user@host[:port]" */
int conf_parse_ssh(const char *s, char **user, char **host, uint16_t *port);
/* "host", "1.2.3.4:p", "[v6]:p", "v6"; port stays unchanged if absent */
int conf_parse_hostport(const char *s, char **host, uint16_t *port);
/* a dotted JSON path: non-empty segments of [A-Za-z0-9_-] (and digits) */
int conf_valid_path(const char *s);

/* secret key files: libsodium's 64-byte seed||pk, stored as base64 text */
int conf_read_seckey(const char *path, unsigned char sk[CONF_SECKEY_LEN],
    char *err, size_t errlen);
int conf_write_seckey(const char *path, const unsigned char sk[CONF_SECKEY_LEN],
    char *err, size_t errlen);
/* base64 (standard, padded) of the 32-byte public key into out (>= 45) */
void conf_pubkey_b64(
    const unsigned char pk[CONF_PUBKEY_LEN], char *out, size_t outlen);

#endif
