/* SPDX-License-Identifier: ISC */
/*
 * test_hb: two real hb instances on one loop over 127.0.0.1 UDP, one of
 * them addressed by a host name. The name goes through transport/resolve
 * (here a getaddrinfo stand-in that knows beta.test as 127.0.0.1, since a
 * test may not depend on DNS), so heartbeats must flow both ways. With
 * evdns (which reads only /etc/resolv.conf) no such name ever resolved.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <netdb.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>
#include <sodium.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/xmalloc.h"
#include "config/conf.h"
#include "transport/hb.h"
#include "transport/resolve.h"

static int gai_calls;

/* beta.test is 127.0.0.1; every other name is unknown */
static int
fake_gai(const char *host, const char *port, const struct addrinfo *hints,
    struct addrinfo **res)
{
	struct addrinfo h = *hints;

	__atomic_add_fetch(&gai_calls, 1, __ATOMIC_SEQ_CST);
	if (strcmp(host, "beta.test") != 0)
		return EAI_NONAME;
	h.ai_family = AF_INET;
	h.ai_flags |= AI_NUMERICHOST;
	return getaddrinfo("127.0.0.1", port, &h, res);
}

/* a UDP port free on 127.0.0.1 just now */
static unsigned
free_port(void)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	assert_true(fd != -1);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return ntohs(sin.sin_port);
}

struct side {
	unsigned heard;
};

static void
recv_cb(const struct hb_msg *m, void *arg)
{
	struct side *s = arg;

	(void)m;
	s->heard++;
}

static const char *
status_cb(void *arg)
{
	(void)arg;
	return "{}";
}

static void
test_name_resolved_off_loop(void **state)
{
	unsigned char pka[crypto_sign_PUBLICKEYBYTES],
	    ska[crypto_sign_SECRETKEYBYTES];
	unsigned char pkb[crypto_sign_PUBLICKEYBYTES],
	    skb[crypto_sign_SECRETKEYBYTES];
	char b64a[64], b64b[64], dir[] = "/tmp/pw-test-hb.XXXXXX", err[512];
	struct conf_errors errs = {NULL, 0};
	struct side a = {0}, b = {0};
	struct event_base *base;
	struct hb *ha, *hbb;
	struct conf *c;
	uint64_t deadline;
	char *text, *cmd;
	size_t i;

	(void)state;
	assert_true(sodium_init() >= 0);
	crypto_sign_keypair(pka, ska);
	crypto_sign_keypair(pkb, skb);
	sodium_bin2base64(b64a, sizeof(b64a), pka, sizeof(pka),
	    sodium_base64_VARIANT_ORIGINAL);
	sodium_bin2base64(b64b, sizeof(b64b), pkb, sizeof(pkb),
	    sodium_base64_VARIANT_ORIGINAL);
	assert_non_null(mkdtemp(dir));
	text = xasprintf("[mesh]\ninterval = 100ms\n"
	                 "[peer alpha]\naddress = 127.0.0.1:%u\npubkey = %s\n"
	                 "state_dir = %s/a\n"
	                 "[peer beta]\naddress = beta.test:%u\npubkey = %s\n"
	                 "state_dir = %s/b\n",
	    free_port(), b64a, dir, free_port(), b64b, dir);
	c = conf_load_string(text, "hb.conf", &errs);
	for (i = 0; i < errs.n; i++)
		fprintf(stderr, "%s\n", errs.msgs[i]);
	assert_non_null(c);
	conf_errors_clear(&errs);
	free(text);

	resolve_set_gai(fake_gai);
	base = event_base_new();
	ha = hb_new(base, c, 0, ska, recv_cb, status_cb, &a, err, sizeof(err));
	assert_non_null(ha);
	hbb = hb_new(base, c, 1, skb, recv_cb, status_cb, &b, err, sizeof(err));
	assert_non_null(hbb);
	hb_start(ha);
	hb_start(hbb);
	/* both send every 100 ms: the loop wakes at least that often */
	deadline = clock_mono_ms() + 10000;
	while ((a.heard < 3 || b.heard < 3) && clock_mono_ms() < deadline)
		event_base_loop(base, EVLOOP_ONCE);
	/* alpha knows beta only as beta.test: beta hearing it proves the
	 * name resolved, through the resolver (alpha's literal needs none) */
	assert_true(b.heard >= 3);
	assert_true(a.heard >= 3);
	assert_true(__atomic_load_n(&gai_calls, __ATOMIC_SEQ_CST) >= 1);

	hb_free(ha);
	hb_free(hbb);
	event_base_free(base);
	resolve_set_gai(NULL);
	conf_free(c);
	cmd = xasprintf("rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
	free(cmd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_name_resolved_off_loop),
	};

	log_init(1, -1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
