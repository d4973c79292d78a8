/* SPDX-License-Identifier: ISC */
/*
 * wire: encode, parse and verify the v1 heartbeat datagram. Pure functions
 * over caller buffers: never allocates, never logs, never exits. Every
 * length is checked before the bytes it covers are read, and integers are
 * assembled byte by byte so no read is ever unaligned. Callers run
 * sodium_init() once at start-up before signing or verifying.
 */
#include <string.h>

#include <sodium.h>

#include "transport/wire.h"

/* offsets of the fixed header fields */
#define WIRE_OFF_VERSION 4
#define WIRE_OFF_FLAGS 5
#define WIRE_OFF_PLEN 6
#define WIRE_OFF_INC 8
#define WIRE_OFF_SEQ 16
#define WIRE_OFF_SENT 24
#define WIRE_OFF_NAMELEN WIRE_HDR_LEN

static const char *const wire_drop_names[WIRE_NDROPS] = {
    [WIRE_OK] = "ok",
    [WIRE_TOO_SHORT] = "too_short",
    [WIRE_TOO_LONG] = "too_long",
    [WIRE_BAD_MAGIC] = "bad_magic",
    [WIRE_UNKNOWN_PEER] = "unknown_peer",
    [WIRE_BAD_SIGNATURE] = "bad_signature",
    [WIRE_REPLAY] = "replay",
    [WIRE_BAD_PAYLOAD] = "bad_payload",
};

const char *
wire_drop_name(enum wire_drop d)
{
	if ((unsigned)d >= WIRE_NDROPS)
		return "unknown";
	return wire_drop_names[d];
}

static void
wire_put_u16(unsigned char *p, uint16_t v)
{
	p[0] = (unsigned char)(v >> 8);
	p[1] = (unsigned char)v;
}

static void
wire_put_u64(unsigned char *p, uint64_t v)
{
	int i;

	for (i = 7; i >= 0; i--) {
		p[i] = (unsigned char)v;
		v >>= 8;
	}
}

static uint16_t
wire_get_u16(const unsigned char *p)
{
	return (uint16_t)((unsigned)p[0] << 8 | p[1]);
}

static uint64_t
wire_get_u64(const unsigned char *p)
{
	uint64_t v = 0;
	int i;

	for (i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

/* [A-Za-z0-9_.-], spelled out so the locale cannot widen it */
static int
wire_name_char_ok(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

static int
wire_name_ok(const unsigned char *name, size_t n)
{
	size_t i;

	if (n == 0 || n > WIRE_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!wire_name_char_ok(name[i]))
			return 0;
	return 1;
}

int
wire_encode(const struct wire_hb *hb, const unsigned char *sk,
    unsigned char *buf, size_t buflen)
{
	size_t namelen, body, total;
	unsigned char *p;

	namelen = strnlen(hb->name, sizeof(hb->name));
	if (!wire_name_ok((const unsigned char *)hb->name, namelen))
		return -1;
	if (hb->payload == NULL && hb->payload_len != 0)
		return -1;
	/* compare before adding so a huge payload_len cannot wrap */
	if (hb->payload_len > WIRE_MAX)
		return -1;
	body = WIRE_HDR_LEN + 1 + namelen + hb->payload_len;
	total = body + WIRE_SIG_LEN;
	if (total > WIRE_MAX || total > buflen)
		return -1;

	memcpy(buf, WIRE_MAGIC, 4);
	buf[WIRE_OFF_VERSION] = WIRE_VERSION;
	buf[WIRE_OFF_FLAGS] = hb->flags;
	wire_put_u16(buf + WIRE_OFF_PLEN, (uint16_t)hb->payload_len);
	wire_put_u64(buf + WIRE_OFF_INC, hb->incarnation);
	wire_put_u64(buf + WIRE_OFF_SEQ, hb->seq);
	wire_put_u64(buf + WIRE_OFF_SENT, hb->sent_at_ms);
	p = buf + WIRE_OFF_NAMELEN;
	*p++ = (unsigned char)namelen;
	memcpy(p, hb->name, namelen);
	p += namelen;
	if (hb->payload_len > 0)
		memcpy(p, hb->payload, hb->payload_len);

	if (crypto_sign_detached(buf + body, NULL, buf, body, sk) != 0)
		return -1;
	return (int)total;
}

/* magic, version and the name field; len >= WIRE_MIN_LEN already */
static enum wire_drop
wire_parse_head(const unsigned char *buf, size_t *namelen)
{
	if (memcmp(buf, WIRE_MAGIC, 4) != 0 ||
	    buf[WIRE_OFF_VERSION] != WIRE_VERSION)
		return WIRE_BAD_MAGIC;
	*namelen = buf[WIRE_OFF_NAMELEN];
	if (*namelen == 0 || *namelen > WIRE_NAME_MAX)
		return WIRE_BAD_PAYLOAD;
	return WIRE_OK;
}

enum wire_drop
wire_parse(const unsigned char *buf, size_t len, struct wire_hb *out)
{
	size_t namelen, plen, want;
	const unsigned char *name;
	enum wire_drop d;

	memset(out, 0, sizeof(*out));
	if (len < WIRE_MIN_LEN)
		return WIRE_TOO_SHORT;
	if (len > WIRE_MAX)
		return WIRE_TOO_LONG;
	if ((d = wire_parse_head(buf, &namelen)) != WIRE_OK)
		return d;
	plen = wire_get_u16(buf + WIRE_OFF_PLEN);
	want = WIRE_HDR_LEN + 1 + namelen + plen + WIRE_SIG_LEN;
	if (want > len)
		return WIRE_TOO_SHORT;
	if (want < len)
		return WIRE_BAD_PAYLOAD;
	/* from here every field lies inside buf[0..len) */
	name = buf + WIRE_OFF_NAMELEN + 1;
	if (!wire_name_ok(name, namelen))
		return WIRE_BAD_PAYLOAD;
	/* an incarnation or a clock beyond int64 is nonsense from any real
	 * sender, and the receiver keeps them in JSON (replay.json, /status)
	 * and subtracts its clock from sent_at: refuse them here, once for
	 * every caller. The sequence is only ever compared. */
	if (wire_get_u64(buf + WIRE_OFF_INC) > WIRE_U64_MAX ||
	    wire_get_u64(buf + WIRE_OFF_SENT) > WIRE_U64_MAX)
		return WIRE_BAD_PAYLOAD;

	out->flags = buf[WIRE_OFF_FLAGS];
	out->incarnation = wire_get_u64(buf + WIRE_OFF_INC);
	out->seq = wire_get_u64(buf + WIRE_OFF_SEQ);
	out->sent_at_ms = wire_get_u64(buf + WIRE_OFF_SENT);
	memcpy(out->name, name, namelen);
	out->name[namelen] = '\0';
	out->payload = (const char *)(name + namelen);
	out->payload_len = plen;
	return WIRE_OK;
}

int
wire_verify(const unsigned char *buf, size_t len, const unsigned char *pk)
{
	size_t body;

	if (len < WIRE_MIN_LEN || len > WIRE_MAX)
		return -1;
	body = len - WIRE_SIG_LEN;
	if (crypto_sign_verify_detached(buf + body, buf, body, pk) != 0)
		return -1;
	return 0;
}

int
wire_is_newer(uint64_t inc, uint64_t seq, uint64_t last_inc, uint64_t last_seq)
{
	if (inc != last_inc)
		return inc > last_inc;
	return seq > last_seq;
}
