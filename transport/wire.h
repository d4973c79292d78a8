/* SPDX-License-Identifier: ISC */
/*
 * wire: the v1 heartbeat datagram, pure functions over caller buffers.
 * Lengths are checked before every read; nothing here allocates, logs or
 * touches a socket, so it is easy to test and fuzz.
 *
 *  4 magic "PWHB" | 1 version=1 | 1 flags=0 | 2 payload length |
 *  8 incarnation | 8 sequence | 8 sent_at (unix ms) | 1+n sender name |
 *  payload (compact JSON, may be empty) | 64 Ed25519 signature over all
 *  before it. All integers big-endian. At most WIRE_MAX bytes.
 */
#ifndef PW_TRANSPORT_WIRE_H
#define PW_TRANSPORT_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_MAGIC "PWHB"
#define WIRE_VERSION 1
#define WIRE_MAX 1200
#define WIRE_HDR_LEN 32 /* magic .. sent_at */
#define WIRE_SIG_LEN 64
#define WIRE_NAME_MAX 63
#define WIRE_MIN_LEN (WIRE_HDR_LEN + 1 + 1 + WIRE_SIG_LEN)
/* the largest incarnation or sent_at a datagram may carry */
#define WIRE_U64_MAX ((uint64_t)INT64_MAX)

/* drop reasons, in /metrics and /status order */
enum wire_drop {
	WIRE_OK = 0,
	WIRE_TOO_SHORT,
	WIRE_TOO_LONG,
	WIRE_BAD_MAGIC, /* magic or version */
	WIRE_UNKNOWN_PEER,
	WIRE_BAD_SIGNATURE,
	WIRE_REPLAY,
	WIRE_BAD_PAYLOAD,
	WIRE_NDROPS
};

struct wire_hb {
	uint8_t flags;
	uint64_t incarnation;
	uint64_t seq;
	uint64_t sent_at_ms;
	char name[WIRE_NAME_MAX + 1];
	const char *payload; /* points into the datagram; not NUL-ended */
	size_t payload_len;
};

/* "too_short", ... ; "ok" for WIRE_OK */
const char *wire_drop_name(enum wire_drop);

/*
 * Encode and sign hb (payload/payload_len used as given) into buf.
 * sk is libsodium's 64-byte Ed25519 secret key. Returns the datagram
 * length, or -1 if it would exceed WIRE_MAX or buflen, or the name is
 * empty, longer than WIRE_NAME_MAX or not all [A-Za-z0-9_.-].
 */
int wire_encode(const struct wire_hb *hb, const unsigned char *sk,
    unsigned char *buf, size_t buflen);

/*
 * Structural parse, no signature check: fills out (payload points into
 * buf; out is zeroed on failure). Returns, checked in this order:
 *  WIRE_TOO_SHORT   len < WIRE_MIN_LEN;
 *  WIRE_TOO_LONG    len > WIRE_MAX;
 *  WIRE_BAD_MAGIC   magic or version wrong (flags are kept, not checked);
 *  WIRE_BAD_PAYLOAD name length 0 or > WIRE_NAME_MAX;
 *  WIRE_TOO_SHORT   the length fields claim more bytes than len;
 *  WIRE_BAD_PAYLOAD they claim fewer, or a name byte is not [A-Za-z0-9_.-],
 *                   or incarnation or sent_at > WIRE_U64_MAX;
 *  WIRE_OK.
 * The payload is not checked to be JSON here.
 */
enum wire_drop wire_parse(
    const unsigned char *buf, size_t len, struct wire_hb *out);

/* Verify the trailing signature under pk (32 bytes). 0 ok, -1 bad. */
int wire_verify(const unsigned char *buf, size_t len, const unsigned char *pk);

/* (inc, seq) strictly after (last_inc, last_seq)? */
int wire_is_newer(
    uint64_t inc, uint64_t seq, uint64_t last_inc, uint64_t last_seq);

#endif
