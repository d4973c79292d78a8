/* SPDX-License-Identifier: ISC */
/*
 * pwforge: sends one crafted heartbeat datagram in the real wire format
 * (transport/wire.h), for the "forged" integration scenario. Each mode
 * aims at one drop reason of the receiver:
 *
 *   unknown   a sender name not in the config, fresh key   -> unknown_peer
 *   wrongkey  a real peer's name signed with a fresh key   -> bad_signature
 *   flip      signed with the real key (--key), one byte
 *             flipped at --offset (default 20, the seq)    -> bad_signature
 *   replay    signed with the real key, (--inc, --seq) at
 *             or below what the receiver accepted          -> replay
 *   short     10 bytes                                     -> too_short
 *   long      1300 bytes                                   -> too_long
 *   garbage   random bytes (never starting with "PWHB")    -> bad_magic
 *   badjson   signed with the real key, payload "not json",
 *             (--inc, --seq) newer than the receiver's     -> bad_payload
 *   badmagic  a well-formed datagram with magic "PWHX"     -> bad_magic
 *   signed    signed with the real key, every field as given
 *             (--inc, --seq, --sent-at): e.g. sent_at 2^63 -> bad_payload
 *
 * --count N sends N datagrams, the incarnation one higher each time (a
 * flood of new incarnations).
 *
 * A test tool: never part of the daemon, exits on any error.
 */
#include <sys/socket.h>
#include <sys/types.h>
#include <netdb.h>

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "config/conf.h"
#include "transport/wire.h"

struct pwforge_opts {
	const char *mode;
	const char *host;
	const char *port;
	const char *name;
	const char *key;
	const char *payload;
	uint64_t inc;
	uint64_t seq;
	uint64_t sent_at; /* 0: now */
	unsigned long count;
	size_t offset;
};

static void
pwforge_usage(void)
{
	fprintf(stderr,
	    "usage: pwforge [--name NAME] [--key FILE] [--inc N] "
	    "[--seq N] [--sent-at MS] [--offset N]\n"
	    "               [--count N] [--payload JSON] MODE HOST PORT\n"
	    "modes: unknown wrongkey flip replay short long garbage badjson "
	    "badmagic signed\n");
	exit(2);
}

static void
pwforge_die(const char *msg)
{
	fprintf(stderr, "pwforge: %s\n", msg);
	exit(1);
}

static void
pwforge_send(const struct pwforge_opts *o, const unsigned char *buf, size_t len)
{
	struct addrinfo hints, *res;
	int fd, rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV;
	if ((rc = getaddrinfo(o->host, o->port, &hints, &res)) != 0) {
		fprintf(stderr, "pwforge: %s: %s\n", o->host, gai_strerror(rc));
		exit(1);
	}
	fd = socket(res->ai_family, SOCK_DGRAM, 0);
	if (fd == -1 || sendto(fd, buf, len, 0, res->ai_addr,
	                    res->ai_addrlen) != (ssize_t)len) {
		perror("pwforge: sendto");
		exit(1);
	}
	close(fd);
	freeaddrinfo(res);
}

/* the real key (--key) or a fresh one */
static void
pwforge_key(const struct pwforge_opts *o, int real, unsigned char *sk)
{
	unsigned char pk[CONF_PUBKEY_LEN];
	char err[512];

	if (!real) {
		crypto_sign_keypair(pk, sk);
		return;
	}
	if (o->key == NULL)
		pwforge_die("this mode needs --key FILE (the real peer's key)");
	if (conf_read_seckey(o->key, sk, err, sizeof(err)) == -1)
		pwforge_die(err);
}

/* a signed datagram of o->name; returns its length */
static size_t
pwforge_encode(const struct pwforge_opts *o, const char *name,
    const char *payload, int real_key, unsigned char *buf, size_t buflen)
{
	unsigned char sk[CONF_SECKEY_LEN];
	struct wire_hb hb;
	struct timespec ts;
	int len;

	memset(&hb, 0, sizeof(hb));
	clock_gettime(CLOCK_REALTIME, &ts);
	hb.incarnation = o->inc ? o->inc : (uint64_t)ts.tv_sec;
	hb.seq = o->seq;
	hb.sent_at_ms = o->sent_at ? o->sent_at
	                           : (uint64_t)ts.tv_sec * 1000 +
	                                 (uint64_t)ts.tv_nsec / 1000000;
	snprintf(hb.name, sizeof(hb.name), "%s", name);
	hb.payload = payload;
	hb.payload_len = strlen(payload);
	pwforge_key(o, real_key, sk);
	len = wire_encode(&hb, sk, buf, buflen);
	sodium_memzero(sk, sizeof(sk));
	if (len == -1)
		pwforge_die("wire_encode failed (name or payload too long?)");
	return (size_t)len;
}

static const char *
pwforge_need_name(const struct pwforge_opts *o)
{
	if (o->name == NULL)
		pwforge_die("this mode needs --name NAME (a configured peer)");
	return o->name;
}

static size_t
pwforge_build(const struct pwforge_opts *o, unsigned char *buf, size_t buflen)
{
	const char *m = o->mode, *pl = o->payload;
	size_t len;

	if (strcmp(m, "unknown") == 0)
		return pwforge_encode(
		    o, o->name ? o->name : "mallory", pl, 0, buf, buflen);
	if (strcmp(m, "wrongkey") == 0)
		return pwforge_encode(
		    o, pwforge_need_name(o), pl, 0, buf, buflen);
	if (strcmp(m, "flip") == 0) {
		len =
		    pwforge_encode(o, pwforge_need_name(o), pl, 1, buf, buflen);
		if (o->offset >= len)
			pwforge_die("--offset beyond the datagram");
		buf[o->offset] ^= 0x01;
		return len;
	}
	if (strcmp(m, "replay") == 0 || strcmp(m, "signed") == 0)
		return pwforge_encode(
		    o, pwforge_need_name(o), pl, 1, buf, buflen);
	if (strcmp(m, "badjson") == 0)
		return pwforge_encode(
		    o, pwforge_need_name(o), "not json", 1, buf, buflen);
	if (strcmp(m, "badmagic") == 0) {
		len = pwforge_encode(
		    o, o->name ? o->name : "mallory", pl, 0, buf, buflen);
		buf[3] = 'X';
		return len;
	}
	if (strcmp(m, "short") == 0) {
		memcpy(buf, WIRE_MAGIC, 4);
		randombytes_buf(buf + 4, 6);
		return 10;
	}
	if (strcmp(m, "long") == 0 || strcmp(m, "garbage") == 0) {
		len = strcmp(m, "long") == 0 ? 1300 : 200;
		randombytes_buf(buf, len);
		if (len == 1300)
			memcpy(buf, WIRE_MAGIC, 4);
		else if (memcmp(buf, WIRE_MAGIC, 4) == 0)
			buf[0] ^= 0xff;
		return len;
	}
	pwforge_usage();
	return 0;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"name", required_argument, NULL, 'n'},
	    {"key", required_argument, NULL, 'k'},
	    {"inc", required_argument, NULL, 'i'},
	    {"seq", required_argument, NULL, 's'},
	    {"offset", required_argument, NULL, 'o'},
	    {"sent-at", required_argument, NULL, 't'},
	    {"count", required_argument, NULL, 'c'},
	    {"payload", required_argument, NULL, 'p'}, {NULL, 0, NULL, 0}};
	struct pwforge_opts o;
	unsigned char buf[1400];
	size_t len;
	int ch;

	memset(&o, 0, sizeof(o));
	o.seq = 1;
	o.offset = 20;
	o.payload = "{}";
	while ((ch = getopt_long(argc, argv, "n:k:i:s:o:p:t:c:", opts, NULL)) !=
	       -1) {
		switch (ch) {
		case 'n':
			o.name = optarg;
			break;
		case 'k':
			o.key = optarg;
			break;
		case 'i':
			o.inc = strtoull(optarg, NULL, 10);
			break;
		case 's':
			o.seq = strtoull(optarg, NULL, 10);
			break;
		case 'c':
			o.count = strtoul(optarg, NULL, 10);
			break;
		case 't':
			o.sent_at = strtoull(optarg, NULL, 10);
			break;
		case 'o':
			o.offset = strtoul(optarg, NULL, 10);
			break;
		case 'p':
			o.payload = optarg;
			break;
		default:
			pwforge_usage();
		}
	}
	if (argc - optind != 3)
		pwforge_usage();
	o.mode = argv[optind];
	o.host = argv[optind + 1];
	o.port = argv[optind + 2];
	if (sodium_init() < 0)
		pwforge_die("libsodium failed to initialise");
	do {
		len = pwforge_build(&o, buf, sizeof(buf));
		pwforge_send(&o, buf, len);
		if (o.inc)
			o.inc++;
	} while (o.count > 1 && --o.count > 0);
	return 0;
}
