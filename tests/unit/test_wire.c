/* SPDX-License-Identifier: ISC */
/*
 * test_wire: the heartbeat datagram. Roundtrip of every field, signatures
 * under the right and a wrong key, every bit flip and every truncation of
 * a valid datagram rejected, size limits on both sides, the replay order
 * and the drop names, plus a small seeded mutation fuzz for the parser.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "transport/wire.h"

struct keys {
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
	unsigned char pk2[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk2[crypto_sign_SECRETKEYBYTES];
};

static const char test_payload[] =
    "{\"peers\":{\"beta\":\"alive\",\"gamma\":\"suspect\"}}";

static int
setup(void **state)
{
	struct keys *k;

	if (sodium_init() < 0)
		return -1;
	k = test_malloc(sizeof(*k));
	crypto_sign_keypair(k->pk, k->sk);
	crypto_sign_keypair(k->pk2, k->sk2);
	*state = k;
	return 0;
}

static int
teardown(void **state)
{
	test_free(*state);
	return 0;
}

static void
make_hb(struct wire_hb *hb, const char *name, const char *payload)
{
	memset(hb, 0, sizeof(*hb));
	hb->flags = 0;
	hb->incarnation = 0x0102030405060708ULL;
	hb->seq = 0xfffffffffffffffeULL;
	hb->sent_at_ms = 1795388462345ULL;
	strncpy(hb->name, name, sizeof(hb->name) - 1);
	hb->payload = payload;
	hb->payload_len = payload ? strlen(payload) : 0;
}

static void
test_roundtrip(void **state)
{
	struct keys *k = *state;
	unsigned char buf[WIRE_MAX];
	struct wire_hb hb, out;
	int n;

	make_hb(&hb, "alpha-1.lan_x", test_payload);
	hb.flags = 0x5a;
	n = wire_encode(&hb, k->sk, buf, sizeof(buf));
	assert_int_equal(
	    n, WIRE_HDR_LEN + 1 + 13 + strlen(test_payload) + WIRE_SIG_LEN);
	assert_int_equal(wire_parse(buf, (size_t)n, &out), WIRE_OK);
	assert_int_equal(out.flags, 0x5a);
	assert_true(out.incarnation == hb.incarnation);
	assert_true(out.seq == hb.seq);
	assert_true(out.sent_at_ms == hb.sent_at_ms);
	assert_string_equal(out.name, "alpha-1.lan_x");
	assert_int_equal(out.payload_len, strlen(test_payload));
	assert_memory_equal(out.payload, test_payload, out.payload_len);
	assert_ptr_equal(
	    out.payload, (const char *)buf + WIRE_HDR_LEN + 1 + 13);
	assert_int_equal(wire_verify(buf, (size_t)n, k->pk), 0);
}

/* exact bytes: magic, version, big-endian integers */
static void
test_layout(void **state)
{
	static const unsigned char want[] = {'P', 'W', 'H', 'B', 1, 0, 0, 2, 1,
	    2, 3, 4, 5, 6, 7, 8, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe,
	    0, 0, 0x01, 0xa2, 0x05, 0x7d, 0xd5, 0x09, 1, 'a', '{', '}'};
	struct keys *k = *state;
	unsigned char buf[WIRE_MAX];
	struct wire_hb hb;
	int n;

	make_hb(&hb, "a", "{}");
	n = wire_encode(&hb, k->sk, buf, sizeof(buf));
	assert_int_equal(n, (int)sizeof(want) + WIRE_SIG_LEN);
	assert_true(hb.sent_at_ms == 0x01a2057dd509ULL);
	assert_memory_equal(buf, want, sizeof(want));
}

static void
test_empty_payload(void **state)
{
	struct keys *k = *state;
	unsigned char buf[WIRE_MAX];
	struct wire_hb hb, out;
	int n;

	make_hb(&hb, "b", NULL);
	n = wire_encode(&hb, k->sk, buf, sizeof(buf));
	assert_int_equal(n, WIRE_MIN_LEN);
	assert_int_equal(wire_parse(buf, (size_t)n, &out), WIRE_OK);
	assert_int_equal(out.payload_len, 0);
	assert_string_equal(out.name, "b");
	assert_int_equal(wire_verify(buf, (size_t)n, k->pk), 0);
}

static void
test_verify_wrong_key(void **state)
{
	struct keys *k = *state;
	unsigned char buf[WIRE_MAX];
	struct wire_hb hb;
	int n;

	make_hb(&hb, "alpha", test_payload);
	n = wire_encode(&hb, k->sk, buf, sizeof(buf));
	assert_true(n > 0);
	assert_int_equal(wire_verify(buf, (size_t)n, k->pk), 0);
	assert_int_equal(wire_verify(buf, (size_t)n, k->pk2), -1);
	n = wire_encode(&hb, k->sk2, buf, sizeof(buf));
	assert_int_equal(wire_verify(buf, (size_t)n, k->pk2), 0);
	assert_int_equal(wire_verify(buf, (size_t)n, k->pk), -1);
	/* lengths outside the datagram bounds never verify */
	assert_int_equal(wire_verify(buf, WIRE_MIN_LEN - 1, k->pk2), -1);
	assert_int_equal(wire_verify(buf, 0, k->pk2), -1);
}

static int
rejected(const unsigned char *buf, size_t len, const unsigned char *pk)
{
	struct wire_hb out;

	return wire_parse(buf, len, &out) != WIRE_OK ||
	       wire_verify(buf, len, pk) != 0;
}

static void
flip_all(const struct keys *k, const char *name, const char *payload)
{
	unsigned char buf[WIRE_MAX], copy[WIRE_MAX];
	struct wire_hb hb;
	size_t i, len;
	int n, bit;

	make_hb(&hb, name, payload);
	n = wire_encode(&hb, k->sk, buf, sizeof(buf));
	assert_true(n > 0);
	len = (size_t)n;
	assert_false(rejected(buf, len, k->pk));
	for (i = 0; i < len; i++) {
		for (bit = 0; bit < 8; bit++) {
			memcpy(copy, buf, len);
			copy[i] ^= (unsigned char)(1u << bit);
			if (!rejected(copy, len, k->pk))
				fail_msg("bit %d of byte %zu accepted", bit, i);
		}
		memcpy(copy, buf, len);
		copy[i] ^= 0xff;
		if (!rejected(copy, len, k->pk))
			fail_msg("byte %zu ^ 0xff accepted", i);
	}
}

static void
test_flips(void **state)
{
	flip_all(*state, "alpha", test_payload);
	flip_all(*state, "z", NULL);
}

static void
test_truncation(void **state)
{
	struct keys *k = *state;
	unsigned char buf[WIRE_MAX];
	struct wire_hb hb, out;
	size_t i;
	int n;

	make_hb(&hb, "alpha", test_payload);
	n = wire_encode(&hb, k->sk, buf, sizeof(buf));
	assert_true(n > 0);
	for (i = 0; i < (size_t)n; i++) {
		assert_int_equal(wire_parse(buf, i, &out), WIRE_TOO_SHORT);
		assert_int_equal(wire_verify(buf, i, k->pk), -1);
	}
}

static void
test_too_long(void **state)
{
	struct keys *k = *state;
	unsigned char buf[WIRE_MAX + 16];
	struct wire_hb hb, out;
	int n;

	make_hb(&hb, "alpha", test_payload);
	n = wire_encode(&hb, k->sk, buf, sizeof(buf));
	assert_true(n > 0);
	memset(buf + n, 0, sizeof(buf) - (size_t)n);
	assert_int_equal(wire_parse(buf, WIRE_MAX + 1, &out), WIRE_TOO_LONG);
	assert_int_equal(wire_parse(buf, sizeof(buf), &out), WIRE_TOO_LONG);
	assert_int_equal(wire_verify(buf, WIRE_MAX + 1, k->pk), -1);
}

static void
test_max_size(void **state)
{
	struct keys *k = *state;
	unsigned char buf[WIRE_MAX + 1];
	char payload[WIRE_MAX];
	struct wire_hb hb, out;
	size_t room;

	/* a 63-byte name and a payload filling the datagram exactly */
	memset(payload, 'x', sizeof(payload));
	make_hb(&hb, "", NULL);
	memset(hb.name, 'n', WIRE_NAME_MAX);
	room = WIRE_MAX - WIRE_HDR_LEN - 1 - WIRE_NAME_MAX - WIRE_SIG_LEN;
	hb.payload = payload;
	hb.payload_len = room;
	assert_int_equal(wire_encode(&hb, k->sk, buf, sizeof(buf)), WIRE_MAX);
	assert_int_equal(wire_parse(buf, WIRE_MAX, &out), WIRE_OK);
	assert_int_equal(strlen(out.name), WIRE_NAME_MAX);
	assert_int_equal(out.payload_len, room);
	assert_int_equal(wire_verify(buf, WIRE_MAX, k->pk), 0);
	/* one byte more is refused, as is a buffer one byte short */
	hb.payload_len = room + 1;
	assert_int_equal(wire_encode(&hb, k->sk, buf, sizeof(buf)), -1);
	hb.payload_len = room;
	assert_int_equal(wire_encode(&hb, k->sk, buf, WIRE_MAX - 1), -1);
}

static void
test_encode_refuses(void **state)
{
	struct keys *k = *state;
	unsigned char buf[WIRE_MAX];
	struct wire_hb hb;

	make_hb(&hb, "", test_payload);
	assert_int_equal(wire_encode(&hb, k->sk, buf, sizeof(buf)), -1);
	memset(hb.name, 'a', sizeof(hb.name)); /* 64 chars, no NUL */
	assert_int_equal(wire_encode(&hb, k->sk, buf, sizeof(buf)), -1);
	make_hb(&hb, "bad name", test_payload);
	assert_int_equal(wire_encode(&hb, k->sk, buf, sizeof(buf)), -1);
	make_hb(&hb, "bad/name", test_payload);
	assert_int_equal(wire_encode(&hb, k->sk, buf, sizeof(buf)), -1);
	make_hb(&hb, "alpha", NULL);
	hb.payload_len = 3; /* length without bytes */
	assert_int_equal(wire_encode(&hb, k->sk, buf, sizeof(buf)), -1);
	make_hb(&hb, "alpha", test_payload);
	hb.payload_len = (size_t)-1; /* must not wrap the sum */
	assert_int_equal(wire_encode(&hb, k->sk, buf, sizeof(buf)), -1);
	hb.payload_len = 70000;
	assert_int_equal(wire_encode(&hb, k->sk, buf, sizeof(buf)), -1);
	make_hb(&hb, "alpha", test_payload);
	assert_int_equal(wire_encode(&hb, k->sk, buf, WIRE_MIN_LEN), -1);
}

/* hand-made headers: the reasons structural damage is reported under */
static void
test_parse_reasons(void **state)
{
	struct keys *k = *state;
	unsigned char buf[WIRE_MAX], copy[WIRE_MAX];
	struct wire_hb hb, out;
	size_t len;
	int n;

	make_hb(&hb, "alpha", "{}");
	n = wire_encode(&hb, k->sk, buf, sizeof(buf));
	assert_true(n > 0);
	len = (size_t)n;
#define TRY(off, val, want)                                                    \
	do {                                                                   \
		memcpy(copy, buf, len);                                        \
		copy[(off)] = (val);                                           \
		assert_int_equal(wire_parse(copy, len, &out), (want));         \
	} while (0)
	TRY(0, 'X', WIRE_BAD_MAGIC);
	TRY(3, 'b', WIRE_BAD_MAGIC);
	TRY(4, 2, WIRE_BAD_MAGIC);
	TRY(4, 0, WIRE_BAD_MAGIC);
	TRY(5, 0xff, WIRE_OK); /* flags kept, not checked */
	assert_int_equal(out.flags, 0xff);
	TRY(7, 3, WIRE_TOO_SHORT);    /* payload claims one byte more */
	TRY(7, 1, WIRE_BAD_PAYLOAD);  /* ... one byte less */
	TRY(6, 1, WIRE_TOO_SHORT);    /* ... 256 more */
	TRY(32, 0, WIRE_BAD_PAYLOAD); /* empty name */
	TRY(32, 64, WIRE_BAD_PAYLOAD);
	TRY(32, 255, WIRE_BAD_PAYLOAD);
	TRY(32, 6, WIRE_TOO_SHORT);   /* name one longer: lengths overrun */
	TRY(32, 4, WIRE_BAD_PAYLOAD); /* ... one shorter: bytes left over */
	TRY(33, ' ', WIRE_BAD_PAYLOAD);
	TRY(37, 0, WIRE_BAD_PAYLOAD);
	TRY(37, 0x80, WIRE_BAD_PAYLOAD);
	TRY(35, '_', WIRE_OK); /* structurally fine; the signature fails */
	assert_string_equal(out.name, "al_ha");
	assert_int_equal(wire_verify(copy, len, k->pk), -1);
#undef TRY
}

/* incarnation and sent_at are range-checked: at most INT64_MAX */
static void
test_parse_ranges(void **state)
{
	static const struct {
		uint64_t inc, seq, sent;
		enum wire_drop want;
	} t[] = {
	    {1, 1, 1795388462345ULL, WIRE_OK},
	    {INT64_MAX, 1, INT64_MAX, WIRE_OK},
	    {1, UINT64_MAX, 1, WIRE_OK}, /* a seq is only compared */
	    {1, 1, (uint64_t)INT64_MAX + 1, WIRE_BAD_PAYLOAD},
	    {1, 1, UINT64_MAX, WIRE_BAD_PAYLOAD},
	    {(uint64_t)INT64_MAX + 1, 1, 1, WIRE_BAD_PAYLOAD},
	    {UINT64_MAX, 1, 1, WIRE_BAD_PAYLOAD},
	};
	struct keys *k = *state;
	unsigned char buf[WIRE_MAX];
	struct wire_hb hb, out;
	size_t i;
	int n;

	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		make_hb(&hb, "alpha", "{}");
		hb.incarnation = t[i].inc;
		hb.seq = t[i].seq;
		hb.sent_at_ms = t[i].sent;
		n = wire_encode(&hb, k->sk, buf, sizeof(buf));
		assert_true(n > 0);
		assert_int_equal(wire_parse(buf, (size_t)n, &out), t[i].want);
		if (t[i].want != WIRE_OK)
			assert_true(
			    out.sent_at_ms == 0 && out.incarnation == 0);
	}
}

static void
test_is_newer(void **state)
{
	static const struct {
		uint64_t inc, seq, linc, lseq;
		int want;
	} t[] = {
	    {5, 10, 5, 9, 1},
	    {5, 10, 5, 10, 0},
	    {5, 9, 5, 10, 0},
	    {6, 0, 5, 10, 1},
	    {4, 1000, 5, 0, 0},
	    {0, 0, 0, 0, 0},
	    {0, 1, 0, 0, 1},
	    {UINT64_MAX, 0, UINT64_MAX - 1, UINT64_MAX, 1},
	    {UINT64_MAX - 1, UINT64_MAX, UINT64_MAX, 0, 0},
	    {7, UINT64_MAX, 7, UINT64_MAX - 1, 1},
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(
		    !!wire_is_newer(t[i].inc, t[i].seq, t[i].linc, t[i].lseq),
		    t[i].want);
}

static void
test_drop_names(void **state)
{
	(void)state;
	assert_string_equal(wire_drop_name(WIRE_OK), "ok");
	assert_string_equal(wire_drop_name(WIRE_TOO_SHORT), "too_short");
	assert_string_equal(wire_drop_name(WIRE_TOO_LONG), "too_long");
	assert_string_equal(wire_drop_name(WIRE_BAD_MAGIC), "bad_magic");
	assert_string_equal(wire_drop_name(WIRE_UNKNOWN_PEER), "unknown_peer");
	assert_string_equal(
	    wire_drop_name(WIRE_BAD_SIGNATURE), "bad_signature");
	assert_string_equal(wire_drop_name(WIRE_REPLAY), "replay");
	assert_string_equal(wire_drop_name(WIRE_BAD_PAYLOAD), "bad_payload");
	assert_string_equal(wire_drop_name(WIRE_NDROPS), "unknown");
	assert_string_equal(wire_drop_name((enum wire_drop) - 1), "unknown");
}

/* xorshift64: a fixed seed keeps failures reproducible */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
check_parsed(const unsigned char *buf, size_t len, const struct wire_hb *out)
{
	const unsigned char *p = (const unsigned char *)out->payload;

	assert_true(
	    p >= buf && p + out->payload_len + WIRE_SIG_LEN == buf + len);
	assert_in_range(strlen(out->name), 1, WIRE_NAME_MAX);
}

/*
 * Random mutations (byte values, lengths, the two length fields) of a
 * valid datagram. Run under ASan this finds any read past len.
 */
static void
test_fuzz(void **state)
{
	struct keys *k = *state;
	unsigned char buf[WIRE_MAX], copy[WIRE_MAX + 8];
	struct wire_hb hb, out;
	uint64_t s = 0x9e3779b97f4a7c15ULL;
	size_t len, mlen;
	int i, j, n;

	make_hb(&hb, "fuzz", test_payload);
	n = wire_encode(&hb, k->sk, buf, sizeof(buf));
	assert_true(n > 0);
	len = (size_t)n;
	for (i = 0; i < 200000; i++) {
		memcpy(copy, buf, len);
		for (j = (int)(rnd(&s) % 4); j >= 0; j--)
			copy[rnd(&s) % 40] = (unsigned char)rnd(&s);
		mlen = (size_t)(rnd(&s) % (len + 8));
		if (mlen > len)
			memset(copy + len, (int)(rnd(&s) & 0xff), mlen - len);
		if (wire_parse(copy, mlen, &out) == WIRE_OK)
			check_parsed(copy, mlen, &out);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_roundtrip),
	    cmocka_unit_test(test_layout),
	    cmocka_unit_test(test_empty_payload),
	    cmocka_unit_test(test_verify_wrong_key),
	    cmocka_unit_test(test_flips),
	    cmocka_unit_test(test_truncation),
	    cmocka_unit_test(test_too_long),
	    cmocka_unit_test(test_max_size),
	    cmocka_unit_test(test_encode_refuses),
	    cmocka_unit_test(test_parse_reasons),
	    cmocka_unit_test(test_parse_ranges),
	    cmocka_unit_test(test_is_newer),
	    cmocka_unit_test(test_drop_names),
	    cmocka_unit_test(test_fuzz),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
