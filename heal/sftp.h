/* SPDX-License-Identifier: ISC */
/*
 * sftp: the remote fsops backend: a silent peer's files over SSH/SFTP with
 * libssh. Key authentication only (ssh_key), the host key pinned by a
 * SHA256 fingerprint (ssh_hostkey) or found in a known_hosts file; an
 * unknown or changed key is refused. No passwords, never "accept new".
 * Every call blocks (with timeouts): use it only on the revive worker
 * thread, never on the loop thread. Never exits; never logs secrets.
 */
#ifndef PW_HEAL_SFTP_H
#define PW_HEAL_SFTP_H

#include <stddef.h>
#include <stdint.h>

#include "heal/fsops.h"

/* why a connect failed: the revive logic escalates differently */
enum sftp_fail {
	SFTP_OK = 0,
	SFTP_UNREACHABLE, /* TCP connect / banner / timeout */
	SFTP_HOSTKEY,     /* unknown or changed host key */
	SFTP_AUTH,        /* key refused */
	SFTP_PROTOCOL     /* SFTP subsystem failed, other errors */
};

struct sftp_target {
	const char *host;
	uint16_t port;
	const char *user;
	const char *key_file;       /* private key (OpenSSH format) */
	const char *hostkey_sha256; /* "SHA256:..." or NULL */
	const char *known_hosts;    /* file or NULL */
	uint64_t timeout_ms;        /* connect, auth and each op */
};

struct sftp_conn;

struct sftp_conn *sftp_connect(
    const struct sftp_target *, enum sftp_fail *why, char *err, size_t errlen);
void sftp_disconnect(struct sftp_conn *);
/* the fsops over this connection; valid until sftp_disconnect */
const struct fsops *sftp_fsops(struct sftp_conn *);
const char *sftp_fail_name(enum sftp_fail);

#endif
