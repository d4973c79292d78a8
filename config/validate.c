/* SPDX-License-Identifier: ISC */
/*
 * validate: what a single value means, and who this host is. The pure
 * parsers for durations, host:port, ssh specs and JSON paths that conf.c
 * applies to every value; the Ed25519 secret key files; and
 * conf_find_self(), which ties a key file to one [peer]. Never exits, never
 * logs: problems go back to the caller as -1 and an error string. Secret
 * bytes are wiped before they leave a function.
 */
#include <sys/stat.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "common/xmalloc.h"
#include "config/conf.h"

#define SECKEY_B64_LEN                                                         \
	sodium_base64_ENCODED_LEN(                                             \
	    CONF_SECKEY_LEN, sodium_base64_VARIANT_ORIGINAL)

static const struct {
	const char *suffix;
	uint64_t ms;
} duration_units[] = {
    {"ms", 1},
    {"s", 1000},
    {"m", 60 * 1000},
    {"h", 60 * 60 * 1000},
};

/*
 * "2s", "500ms", "1.5m": a decimal number and a unit. A fraction is fine as
 * long as the result is a whole number of milliseconds; integer arithmetic
 * only, so "0.1s" is exactly 100.
 */
int
conf_parse_duration(const char *s, uint64_t *ms)
{
	uint64_t whole = 0, frac = 0, fdiv = 1, unit = 0, fr;
	size_t i;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		if (whole > (UINT64_MAX - (uint64_t)(*s - '0')) / 10)
			return -1;
		whole = whole * 10 + (uint64_t)(*s - '0');
	}
	if (*s == '.') {
		if (!isdigit((unsigned char)*++s))
			return -1;
		for (; isdigit((unsigned char)*s); s++) {
			if (fdiv >= 1000000000)
				return -1;
			frac = frac * 10 + (uint64_t)(*s - '0');
			fdiv *= 10;
		}
	}
	for (i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++)
		if (strcmp(s, duration_units[i].suffix) == 0)
			unit = duration_units[i].ms;
	if (unit == 0 || whole > UINT64_MAX / unit)
		return -1;
	fr = frac * unit; /* < 1e9 * 3.6e6: no overflow */
	if (fr % fdiv != 0 || whole * unit > UINT64_MAX - fr / fdiv)
		return -1;
	*ms = whole * unit + fr / fdiv;
	return 0;
}

static int
parse_port(const char *s, uint16_t *port)
{
	unsigned long v = 0;

	if (*s == '\0' || strlen(s) > 5)
		return -1;
	for (; *s != '\0'; s++) {
		if (!isdigit((unsigned char)*s))
			return -1;
		v = v * 10 + (unsigned long)(*s - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*port = (uint16_t)v;
	return 0;
}

/* an IPv6 literal, optionally with a %zone */
static int
valid_v6(const char *s)
{
	struct in6_addr a;
	char buf[INET6_ADDRSTRLEN + 1];
	const char *zone = strchr(s, '%');
	size_t len = zone != NULL ? (size_t)(zone - s) : strlen(s);

	if (len >= sizeof(buf))
		return 0;
	if (zone != NULL && (zone[1] == '\0' || strlen(zone) > 16))
		return 0;
	memcpy(buf, s, len);
	buf[len] = '\0';
	return inet_pton(AF_INET6, buf, &a) == 1;
}

/* a hostname or IPv4 literal; all-numeric names must be real IPv4 */
static int
valid_host(const char *s)
{
	struct in_addr a;
	size_t len = strlen(s);

	if (len == 0 || len > 253 || s[0] == '-' || s[0] == '.')
		return 0;
	if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	              "0123456789.-_") != len)
		return 0;
	if (strspn(s, "0123456789.") == len)
		return inet_pton(AF_INET, s, &a) == 1;
	return 1;
}

int
conf_parse_hostport(const char *s, char **host, uint16_t *port)
{
	const char *colon, *end;
	char *h;
	uint16_t p = *port;

	if (*s == '[') {
		if ((end = strchr(s, ']')) == NULL)
			return -1;
		h = xstrndup(s + 1, (size_t)(end - s - 1));
		if (!valid_v6(h) ||
		    (end[1] != '\0' &&
		        (end[1] != ':' || parse_port(end + 2, &p) == -1)))
			goto fail;
	} else if ((colon = strchr(s, ':')) != NULL &&
	           strchr(colon + 1, ':') != NULL) {
		h = xstrdup(s); /* bare IPv6, no port */
		if (!valid_v6(h))
			goto fail;
	} else if (colon != NULL) {
		h = xstrndup(s, (size_t)(colon - s));
		if (!valid_host(h) || parse_port(colon + 1, &p) == -1)
			goto fail;
	} else {
		h = xstrdup(s);
		if (!valid_host(h))
			goto fail;
	}
	*host = h;
	*port = p;
	return 0;
fail:
	free(h);
	return -1;
}

int
conf_parse_ssh(const char *s, char **user, char **host, uint16_t *port)
{
	const char *at = strchr(s, '@');
	size_t ulen;
	uint16_t p = 22;
	char *h;

	if (at == NULL || at == s)
		return -1;
	ulen = (size_t)(at - s);
	if (strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	              "0123456789._-") != ulen ||
	    s[0] == '-')
		return -1;
	if (conf_parse_hostport(at + 1, &h, &p) == -1)
		return -1;
	*user = xstrndup(s, ulen);
	*host = h;
	*port = p;
	return 0;
}

/* 1 when s is seg(.seg)*, each seg non-empty [A-Za-z0-9_-]; else 0 */
int
conf_valid_path(const char *s)
{
	size_t n;

	for (;;) {
		n = strspn(s,
		    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
		    "0123456789_-");
		if (n == 0)
			return 0;
		s += n;
		if (*s == '\0')
			return 1;
		if (*s++ != '.')
			return 0;
	}
}

void
conf_pubkey_b64(
    const unsigned char pk[CONF_PUBKEY_LEN], char *out, size_t outlen)
{
	if (outlen < sodium_base64_ENCODED_LEN(
	                 CONF_PUBKEY_LEN, sodium_base64_VARIANT_ORIGINAL)) {
		if (outlen > 0)
			out[0] = '\0';
		return;
	}
	sodium_bin2base64(
	    out, outlen, pk, CONF_PUBKEY_LEN, sodium_base64_VARIANT_ORIGINAL);
}

/* open a key file and refuse it if anyone but the owner may read it */
static int
open_seckey(const char *path, char *err, size_t errlen)
{
	struct stat st;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: not a regular file", path);
		goto fail;
	}
	if ((st.st_mode & 077) != 0) {
		snprintf(err, errlen,
		    "%s: key file is readable by group or "
		    "others (mode %04o); chmod 600 %s",
		    path, (unsigned)(st.st_mode & 07777), path);
		goto fail;
	}
	return fd;
fail:
	close(fd);
	return -1;
}

/* the whole (small) file into buf, trailing whitespace removed */
static ssize_t
read_small(int fd, char *buf, size_t size)
{
	size_t len = 0;
	ssize_t n;

	while (len < size) {
		n = read(fd, buf + len, size - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	while (len > 0 && isspace((unsigned char)buf[len - 1]))
		len--;
	return (ssize_t)len;
}

int
conf_read_seckey(const char *path, unsigned char sk[CONF_SECKEY_LEN], char *err,
    size_t errlen)
{
	char buf[SECKEY_B64_LEN + 16];
	unsigned char pk[CONF_PUBKEY_LEN], sk2[CONF_SECKEY_LEN];
	size_t binlen = 0;
	ssize_t len;
	int fd, rc = -1;

	if ((fd = open_seckey(path, err, errlen)) == -1)
		return -1;
	if ((len = read_small(fd, buf, sizeof(buf))) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		goto out;
	}
	if ((size_t)len >= sizeof(buf) ||
	    sodium_base642bin(sk, CONF_SECKEY_LEN, buf, (size_t)len, NULL,
	        &binlen, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    binlen != CONF_SECKEY_LEN) {
		snprintf(err, errlen,
		    "%s: not a peerwatch secret key "
		    "(expected one line: base64 of 64 bytes)",
		    path);
		goto out;
	}
	/* the second half must be the public key of the seed in the first */
	crypto_sign_seed_keypair(pk, sk2, sk);
	if (sodium_memcmp(pk, sk + CONF_SECKEY_LEN - CONF_PUBKEY_LEN,
	        CONF_PUBKEY_LEN) != 0) {
		snprintf(err, errlen,
		    "%s: corrupt secret key (public half "
		    "does not match the seed)",
		    path);
		goto out;
	}
	rc = 0;
out:
	if (rc == -1)
		sodium_memzero(sk, CONF_SECKEY_LEN);
	sodium_memzero(buf, sizeof(buf));
	sodium_memzero(sk2, sizeof(sk2));
	close(fd);
	return rc;
}

static int
write_all(int fd, const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(fd, buf, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int
conf_write_seckey(const char *path, const unsigned char sk[CONF_SECKEY_LEN],
    char *err, size_t errlen)
{
	char buf[SECKEY_B64_LEN + 1];
	size_t len;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd == -1 && errno == EEXIST) {
		snprintf(
		    err, errlen, "%s: exists, refusing to overwrite", path);
		return -1;
	}
	if (fd == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	sodium_bin2base64(buf, SECKEY_B64_LEN, sk, CONF_SECKEY_LEN,
	    sodium_base64_VARIANT_ORIGINAL);
	len = strlen(buf);
	buf[len++] = '\n';
	if (write_all(fd, buf, len) == -1 || fsync(fd) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		sodium_memzero(buf, sizeof(buf));
		close(fd);
		unlink(path);
		return -1;
	}
	sodium_memzero(buf, sizeof(buf));
	if (close(fd) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	return 0;
}

static int
self_by_key(const struct conf *c, const unsigned char pk[CONF_PUBKEY_LEN])
{
	size_t i;

	for (i = 0; i < c->npeers; i++)
		if (sodium_memcmp(c->peers[i].pubkey, pk, CONF_PUBKEY_LEN) == 0)
			return (int)i;
	return -1;
}

int
conf_find_self(const struct conf *c, const char *name, unsigned char *seckey,
    char *err, size_t errlen)
{
	unsigned char sk[CONF_SECKEY_LEN], pk[CONF_PUBKEY_LEN];
	char b64[CONF_PUBKEY_LEN * 2];
	const char *kpath = c->mesh.key;
	int idx = -1;

	if (name != NULL) {
		if ((idx = conf_peer_index(c, name)) == -1) {
			snprintf(
			    err, errlen, "no [peer %s] in %s", name, c->path);
			return -1;
		}
		kpath = conf_key_path(c, (size_t)idx);
	}
	if (conf_read_seckey(kpath, sk, err, errlen) == -1)
		return -1;
	crypto_sign_ed25519_sk_to_pk(pk, sk);
	conf_pubkey_b64(pk, b64, sizeof(b64));
	if (name != NULL &&
	    sodium_memcmp(pk, c->peers[idx].pubkey, CONF_PUBKEY_LEN) != 0) {
		snprintf(err, errlen,
		    "%s: public key %s does not match the "
		    "pubkey of [peer %s] in %s",
		    kpath, b64, name, c->path);
		idx = -1;
	} else if (name == NULL && (idx = self_by_key(c, pk)) == -1)
		snprintf(err, errlen,
		    "no [peer] in %s has this host's public "
		    "key %s (from %s)",
		    c->path, b64, kpath);
	if (idx != -1 && seckey != NULL)
		memcpy(seckey, sk, CONF_SECKEY_LEN);
	sodium_memzero(sk, sizeof(sk));
	return idx;
}
