/* SPDX-License-Identifier: ISC */
/*
 * guard: keep one guarded config file valid. Validation (JSON parses, every
 * `require` dotted path exists) and the backup cascade run over struct
 * fsops, so the same code heals this host's own files and, over SFTP, a
 * silent peer's. Never truncates: a broken file is copied to
 * FILE.broken-<unix time> before the good one is renamed over it (at most
 * GUARD_KEEP_BROKEN such copies per file are kept). Never follows a link
 * and never replaces one (SECURITY.md says what the restore promises).
 * Never blocks on the network itself (the SFTP backend does, on the revive
 * peerwatch-heal worker process); never exits; never logs secrets.
 */
#ifndef PW_HEAL_GUARD_H
#define PW_HEAL_GUARD_H

#include <stddef.h>
#include <stdint.h>

#include "config/conf.h"
#include "heal/fsops.h"

#define GUARD_KEEP_BROKEN 5 /* broken copies kept per file, newest first */

enum guard_outcome {
	GUARD_VALID,         /* file was fine; nothing written */
	GUARD_RESTORED,      /* restored from `source` */
	GUARD_WOULD_RESTORE, /* dry run: would restore from `source` */
	GUARD_NO_SOURCE,     /* invalid and no backup validates; untouched */
	GUARD_ERROR          /* I/O failed (detail); may be partial */
};

struct guard_result {
	enum guard_outcome outcome;
	char invalid_reason[256]; /* why `file` was invalid */
	char source[1024];        /* backup path or "mesh:<path>" used */
	char broken_copy[1024];   /* FILE.broken-<t>, "" if file missing */
	char detail[512];         /* error text / per-source reasons */
	char warning[256];        /* restored, but owner/mode not kept */
	unsigned sources_tried;
};

/* 0 if data is valid for g (a JSON object, or any JSON value with
 * top_level = any and no require, holding every `require` path, at most
 * guard_max_size(g) bytes); else -1 with a reason that names a position,
 * never the file's bytes */
int guard_validate(const struct conf_guard *g, const char *data, size_t len,
    char *reason, size_t reasonlen);
/* the most bytes g's file or a backup may have: max_size, or the default */
size_t guard_max_size(const struct conf_guard *g);

/*
 * Check g's file through fs and restore it from the cascade if needed.
 * mesh_dir is this host's local store for g (state_dir/mesh/PEER/GUARD),
 * read through the local backend for the "mesh" entry; NULL skips "mesh".
 * now_s names the broken copy. dry_run: decide, write nothing.
 */
int guard_check(const struct conf_guard *g, const struct fsops *fs,
    const char *mesh_dir, uint64_t now_s, int dry_run,
    struct guard_result *res);

/*
 * Write the revive flag atomically (FLAG.peerwatch-tmp then rename) with
 * body {"by","at","reason","restored_from"}; restored_from may be NULL.
 */
int guard_write_flag(const struct conf_guard *g, const struct fsops *fs,
    const char *by, uint64_t at_ms, const char *reason,
    const char *restored_from, char *err, size_t errlen);

/*
 * The mesh copy store: state_dir/mesh/PEER/GUARD/<unix ms>.json, last
 * `keep` versions. Stores data only if it validates and differs from the
 * newest stored copy. Returns 1 stored, 0 unchanged, -1 invalid or error.
 */
int guard_mesh_store(const char *mesh_dir, const struct conf_guard *g,
    const char *data, size_t len, uint64_t now_ms, unsigned keep, char *err,
    size_t errlen);
/* "STATE_DIR/mesh/PEER/GUARD" (malloc'd) */
char *guard_mesh_dir(const char *state_dir, const struct conf_guard *g);

const char *guard_outcome_name(enum guard_outcome);
/* 1 if path's last component is one peerwatch makes next to a file
 * (.peerwatch-tmp*, .peerwatch-old-*, .broken-<t>): never a backup */
int guard_is_artefact(const char *path);

#endif
