/* SPDX-License-Identifier: ISC */
/*
 * test_conf: peers.conf parsing and validation (config/conf.c,
 * config/validate.c). Most cases parse a string; each error kind is
 * checked for its exact "FILE:LINE:" prefix. Key files live in a mkdtemp
 * dir that each test removes. The fixtures in tests/fixtures are checked
 * against their "# expect:" lines.
 */
#include <sys/stat.h>

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "common/xmalloc.h"
#include "config/conf.h"

#define PK1 "uAOpVdx/l+1Ay1gvWX/V1SHgey9XqYxJJ6K6aui7Xxs="
#define PK2 "FltJUcp+BdK5TRQFh8K6BQFttgvqkDtSp4XgPHJRKhg="
#define PK3 "j4GrW3hJR06N/0sKw7ZZ18inWIu5JjUD5t+dlMR1YxI="
/* three lines */
#define PEER_A "[peer a]\naddress = 10.0.0.1\npubkey = " PK1 "\n"

struct want {
	int line;
	const char *sub; /* NULL ends a list */
};

static void
dump(const struct conf_errors *e)
{
	size_t i;

	for (i = 0; i < e->n; i++)
		print_message("  error: %s\n", e->msgs[i]);
}

/* text must fail with exactly the errors in w, in that order */
static void
expect_errors(const char *text, const struct want *w)
{
	struct conf_errors e = {NULL, 0};
	struct conf *c;
	char prefix[64];
	size_t i, n;

	for (n = 0; w[n].sub != NULL; n++)
		;
	c = conf_load_string(text, "t.conf", &e);
	if (e.n != n)
		dump(&e);
	assert_null(c);
	assert_int_equal(e.n, n);
	for (i = 0; i < n; i++) {
		snprintf(prefix, sizeof(prefix), "t.conf:%d: ", w[i].line);
		if (strncmp(e.msgs[i], prefix, strlen(prefix)) != 0 ||
		    strstr(e.msgs[i], w[i].sub) == NULL)
			dump(&e);
		assert_memory_equal(e.msgs[i], prefix, strlen(prefix));
		assert_non_null(strstr(e.msgs[i], w[i].sub));
	}
	conf_errors_clear(&e);
}

static struct conf *
load_ok(const char *text)
{
	struct conf_errors e = {NULL, 0};
	struct conf *c;

	c = conf_load_string(text, "t.conf", &e);
	if (e.n != 0)
		dump(&e);
	assert_int_equal(e.n, 0);
	assert_non_null(c);
	return c;
}

/* ---- good files ----------------------------------------------------- */

static void
test_defaults(void **state)
{
	struct conf *c = load_ok(PEER_A);
	const struct conf_mesh *m = &c->mesh;

	(void)state;
	assert_string_equal(c->path, "t.conf");
	assert_int_equal(m->port, 7946);
	assert_int_equal(m->interval_ms, 500);
	assert_int_equal(m->suspect_after_ms, 1000);
	assert_int_equal(m->down_after_ms, 2000);
	assert_int_equal(m->quorum, 0);
	assert_int_equal(m->max_revives_per_hour, 2);
	assert_int_equal(m->max_skew_ms, 120000);
	assert_int_equal(m->revive_verify_ms, 30000);
	assert_int_equal(m->guard_interval_ms, 10000);
	assert_int_equal(m->mesh_backup_interval_ms, 3600000);
	assert_int_equal(m->ssh_timeout_ms, 10000);
	assert_int_equal(m->events_max_bytes, 10485760);
	assert_int_equal(m->events_keep, 5);
	assert_string_equal(m->key, "/etc/peerwatch/key");
	assert_string_equal(m->state_dir, "/var/lib/peerwatch");
	assert_string_equal(m->status_listen, "127.0.0.1:7947");
	assert_string_equal(m->ollama_listen, "127.0.0.1:11435");
	assert_string_equal(m->telegram_api, "https://api.telegram.org");
	assert_string_equal(m->ssh_key, "/etc/peerwatch/ssh_id_ed25519");
	assert_null(m->telegram_token_file);
	assert_null(m->telegram_chat);
	assert_null(m->known_hosts);
	assert_int_equal(c->npeers, 1);
	assert_string_equal(c->peers[0].address, "10.0.0.1");
	assert_int_equal(c->peers[0].port, 7946);
	assert_int_equal(c->peers[0].has_ssh, 0);
	assert_int_equal(c->peers[0].line, 1);
	assert_int_equal(conf_needed_votes(c), 1);
	assert_string_equal(conf_state_dir(c, 0), "/var/lib/peerwatch");
	assert_string_equal(conf_key_path(c, 0), "/etc/peerwatch/key");
	conf_free(c);
}

static const char values_conf[] = "[mesh]\n" /* 1 */
                                  "port = 7000   # heartbeats\n"
                                  "interval = 250ms\n"
                                  "suspect_after = 1.5s ; semicolon comment\n"
                                  "down_after = 1m\n" /* 5 */
                                  "quorum = 2\n"
                                  "known_hosts = /etc/peerwatch/known_hosts\n"
                                  "telegram_chat = -100123\n"
                                  "telegram_token_file = /t\n"
                                  "[peer a]   # first\n" /* 10 */
                                  "address = 10.0.0.1:7950\n"
                                  "pubkey = " PK1 "\n"
                                  "ssh = root@[fd00::1]:2222\n"
                                  "ollama = http://10.0.0.1:11434/#frag\n"
                                  "state_dir = /tmp/a\n" /* 15 */
                                  "status_listen = 127.0.0.1:8000\n"
                                  "[ peer   b ]\n"
                                  "address = fd00::2\n"
                                  "pubkey: " PK2 "\n"
                                  "ssh = u@host.example\n" /* 20 */
                                  "[peer c]\n"
                                  "    address = host-c.example\n"
                                  "    pubkey = " PK3 "\n"
                                  "[guard g@a]\n"
                                  "file = /etc/g.json\n" /* 25 */
                                  "require = x.y, z  w-1.2\n"
                                  "backups = {file}.bak\n"
                                  "    /b/*.json\n"
                                  "\tmesh\n"
                                  "[service s1@b]\n" /* 30 */
                                  "probe = https://x/health\n"
                                  "[service s2@b]\n"
                                  "probe = 127.0.0.1:80\n"
                                  "[service s3@b]\n"
                                  "probe = exec: /bin/true\n" /* 35 */
                                  "[service s4@b]\n"
                                  "probe = /bin/check --fast\n"
                                  "restart = systemctl restart s4\n";

static void
test_values(void **state)
{
	struct conf *c = load_ok(values_conf);
	const struct conf_guard *g;

	(void)state;
	assert_int_equal(c->mesh.port, 7000);
	assert_int_equal(c->mesh.interval_ms, 250);
	assert_int_equal(c->mesh.suspect_after_ms, 1500);
	assert_int_equal(c->mesh.down_after_ms, 60000);
	assert_int_equal(conf_needed_votes(c), 2);
	assert_string_equal(c->mesh.telegram_chat, "-100123");
	assert_int_equal(c->npeers, 3);
	assert_int_equal(c->peers[0].port, 7950);
	assert_int_equal(c->peers[0].line, 10);
	assert_int_equal(c->peers[0].has_ssh, 1);
	assert_string_equal(c->peers[0].ssh_user, "root");
	assert_string_equal(c->peers[0].ssh_host, "fd00::1");
	assert_int_equal(c->peers[0].ssh_port, 2222);
	assert_string_equal(c->peers[0].ollama, "http://10.0.0.1:11434/#frag");
	assert_string_equal(conf_state_dir(c, 0), "/tmp/a");
	assert_string_equal(conf_status_listen(c, 0), "127.0.0.1:8000");
	assert_string_equal(conf_ollama_listen(c, 0), "127.0.0.1:11435");
	assert_string_equal(conf_state_dir(c, 1), "/var/lib/peerwatch");
	assert_string_equal(c->peers[1].name, "b");
	assert_string_equal(c->peers[1].address, "fd00::2");
	assert_int_equal(c->peers[1].port, 7000);
	assert_int_equal(c->peers[1].ssh_port, 22);
	assert_string_equal(c->peers[2].address, "host-c.example");
	assert_int_equal(conf_peer_index(c, "c"), 2);
	assert_int_equal(conf_peer_index(c, "zz"), -1);
	g = &c->guards[0];
	assert_int_equal(g->peer_idx, 0);
	assert_int_equal(g->line, 24);
	assert_int_equal(g->nrequire, 3);
	assert_string_equal(g->require[0], "x.y");
	assert_string_equal(g->require[1], "z");
	assert_string_equal(g->require[2], "w-1.2");
	assert_int_equal(g->nbackups, 3);
	assert_string_equal(g->backups[0], "/etc/g.json.bak");
	assert_string_equal(g->backups[1], "/b/*.json");
	assert_string_equal(g->backups[2], "mesh");
	assert_int_equal(c->nservices, 4);
	assert_int_equal(c->services[0].probe_kind, CONF_PROBE_HTTP);
	assert_int_equal(c->services[0].peer_idx, 1);
	assert_int_equal(c->services[1].probe_kind, CONF_PROBE_TCP);
	assert_int_equal(c->services[2].probe_kind, CONF_PROBE_EXEC);
	assert_string_equal(c->services[2].probe, "/bin/true");
	assert_int_equal(c->services[3].probe_kind, CONF_PROBE_EXEC);
	assert_string_equal(c->services[3].probe, "/bin/check --fast");
	assert_string_equal(c->services[3].restart, "systemctl restart s4");
	assert_null(c->services[0].restart);
	conf_free(c);
}

static void
test_example(void **state)
{
	const char *dir = getenv("PW_SOURCE_DIR");
	struct conf_errors e = {NULL, 0};
	struct conf *c;
	char path[4096];

	(void)state;
	if (dir == NULL)
		skip();
	snprintf(path, sizeof(path), "%s/deploy/peers.conf.example", dir);
	c = conf_load_file(path, &e);
	dump(&e);
	assert_int_equal(e.n, 0);
	assert_non_null(c);
	assert_int_equal(c->npeers, 3);
	assert_string_equal(c->peers[2].address, "fd7a:115c:a1e0::3");
	assert_int_equal(c->peers[2].ssh_port, 2222);
	assert_int_equal(c->nguards, 2);
	assert_int_equal(c->guards[0].nbackups, 6);
	assert_string_equal(c->guards[0].backups[2],
	    "/Users/felipe/.openclaw/openclaw.json.bak.2");
	assert_string_equal(c->guards[0].backups[5], "mesh");
	assert_int_equal(c->nservices, 4);
	assert_int_equal(c->services[2].probe_kind, CONF_PROBE_TCP);
	assert_int_equal(c->services[3].probe_kind, CONF_PROBE_EXEC);
	assert_string_equal(
	    conf_key_path(c, 1), "/usr/local/etc/peerwatch/key");
	conf_free(c);
}

static void
test_free_null(void **state)
{
	struct conf_errors e = {NULL, 0};

	(void)state;
	conf_free(NULL);
	conf_errors_clear(&e);
	conf_errors_clear(NULL);
	assert_null(conf_load_string("[mesh\n", "t.conf", NULL));
}

/* ---- one test per error kind ---------------------------------------- */

static void
test_unknown_key(void **state)
{
	struct conf_errors e = {NULL, 0};

	(void)state;
	assert_null(
	    conf_load_string("[mesh]\ncolour = blue\n" PEER_A, "t.conf", &e));
	assert_int_equal(e.n, 1);
	assert_string_equal(e.msgs[0], "t.conf:2: unknown key \"colour\" in "
	                               "[mesh]");
	conf_errors_clear(&e);
	expect_errors(PEER_A "colour = red\naddress2 = x\nrequire = a\n",
	    (struct want[]){{4, "unknown key \"colour\" in [peer a]"},
	        {5, "unknown key \"address2\" in [peer a]"},
	        {6, "unknown key \"require\" in [peer a] (it belongs in "
	            "[guard])"},
	        {0, NULL}});
}

static void
test_unknown_section(void **state)
{
	(void)state;
	expect_errors("[mesh]\n[foo bar]\nx = 1\n" PEER_A "[]\n",
	    (struct want[]){{2, "unknown section type \"foo\""},
	        {7, "unknown section type \"\""}, {0, NULL}});
}

static void
test_duplicate_section(void **state)
{
	(void)state;
	expect_errors(PEER_A
	    "[peer a]\naddress = 10.0.0.2\npubkey = " PK2
	    "\n[mesh]\n[mesh]\nport = 1\n[guard g@a]\nfile = /f\n"
	    "[guard g@a]\n[service s@a]\nprobe = a:1\n[service s@a]\n",
	    (struct want[]){{4, "duplicate section [peer a] (first at line 1)"},
	        {8, "duplicate section [mesh] (first at line 7)"},
	        {12, "duplicate section [guard g@a] (first at line 10)"},
	        {15, "duplicate section [service s@a] (first at line 13)"},
	        {0, NULL}});
}

static void
test_duplicate_key(void **state)
{
	(void)state;
	expect_errors("[mesh]\nport = 1\nport = 2\n" PEER_A "pubkey = " PK2
	              "\n",
	    (struct want[]){
	        {3, "duplicate key \"port\" in [mesh] (first at line 2)"},
	        {7, "duplicate key \"pubkey\" in [peer a] (first at line 6)"},
	        {0, NULL}});
}

static void
test_bad_duration(void **state)
{
	(void)state;
	expect_errors("[mesh]\n"
	              "interval = 500\n"
	              "suspect_after = 2x\n"
	              "down_after = -1s\n"
	              "max_skew = 99999999999999999999h\n"
	              "revive_verify = 0s\n"
	              "guard_interval = 1.5ms\n"
	              "ssh_timeout = 10 s\n"
	              "mesh_backup_interval = 1S\n" PEER_A,
	    (struct want[]){{2, "interval: bad duration \"500\": missing unit"},
	        {3, "suspect_after: bad duration \"2x\""},
	        {4, "down_after: bad duration \"-1s\": must not be negative"},
	        {5, "max_skew: bad duration \"99999999999999999999h\": too "
	            "large"},
	        {6, "revive_verify: must be more than 0"},
	        {7, "guard_interval: bad duration \"1.5ms\""},
	        {8, "ssh_timeout: bad duration \"10 s\""},
	        {9, "mesh_backup_interval: bad duration \"1S\""}, {0, NULL}});
}

/* the Ollama failover keys: defaults, values, bad values */
static void
test_ollama_keys(void **state)
{
	struct conf *c;

	(void)state;
	c = load_ok(PEER_A);
	assert_int_equal(c->mesh.ollama_max_body, 64 * 1024 * 1024);
	assert_int_equal(c->mesh.ollama_first_byte_timeout_ms, 300000);
	assert_int_equal(c->mesh.ollama_probe_interval_ms, 5000);
	assert_int_equal(c->mesh.ollama_backoff_ms, 10000);
	assert_int_equal(c->peers[0].ollama_priority, 0);
	conf_free(c);
	c = load_ok("[mesh]\nollama_max_body = 1000\n"
	            "ollama_first_byte_timeout = 90s\n"
	            "ollama_probe_interval = 2s\nollama_backoff = 1m\n" PEER_A
	            "ollama = http://10.0.0.1:11434\nollama_priority = 5\n");
	assert_int_equal(c->mesh.ollama_max_body, 1000);
	assert_int_equal(c->mesh.ollama_first_byte_timeout_ms, 90000);
	assert_int_equal(c->mesh.ollama_probe_interval_ms, 2000);
	assert_int_equal(c->mesh.ollama_backoff_ms, 60000);
	assert_int_equal(c->peers[0].ollama_priority, 5);
	conf_free(c);
	expect_errors("[mesh]\nollama_max_body = 0\n"
	              "ollama_first_byte_timeout = 0s\n"
	              "ollama_probe_interval = 5\n" PEER_A
	              "ollama_priority = -1\n",
	    (struct want[]){{2, "ollama_max_body: bad size \"0\""},
	        {3, "ollama_first_byte_timeout: must be more than 0"},
	        {4, "ollama_probe_interval: bad duration \"5\""},
	        {8, "ollama_priority: bad number \"-1\""}, {0, NULL}});
}

static void
test_bad_port(void **state)
{
	(void)state;
	expect_errors("[mesh]\nport = 0\n[mesh]\n" PEER_A,
	    (struct want[]){{2, "port: bad port \"0\" (expected 1-65535)"},
	        {3, "duplicate section [mesh]"}, {0, NULL}});
	expect_errors("[mesh]\nport = 65536\nevents_keep = x\n"
	              "events_max_bytes = 0\n" PEER_A,
	    (struct want[]){{2, "port: bad port \"65536\""},
	        {3, "events_keep: bad number \"x\""},
	        {4, "events_max_bytes: bad size \"0\""}, {0, NULL}});
}

static void
test_bad_address(void **state)
{
	(void)state;
	expect_errors(
	    "[peer a]\naddress = 10.0.0.300\npubkey = " PK1 "\n"
	    "[peer b]\naddress = 10.0.0.1:99999\npubkey = " PK2 "\n"
	    "[peer c]\naddress = fd00::zz\npubkey = " PK3 "\n"
	    "[peer d]\naddress = [fd00::1\npubkey = " PK1 "\n"
	    "[peer e]\naddress = bad host!\n"
	    "[mesh]\nstatus_listen = 127.0.0.1\nollama_listen = x:y\n",
	    (struct want[]){{2, "address: bad address \"10.0.0.300\""},
	        {5, "address: bad address \"10.0.0.1:99999\""},
	        {8, "address: bad address \"fd00::zz\""},
	        {11, "address: bad address \"[fd00::1\""},
	        {12, "pubkey: [peer d] has the same pubkey as [peer a]"},
	        {13, "[peer e]: missing pubkey"},
	        {14, "address: bad address \"bad host!\""},
	        {16, "status_listen: bad address \"127.0.0.1\""},
	        {17, "ollama_listen: bad address \"x:y\""}, {0, NULL}});
}

static void
test_duplicate_address(void **state)
{
	(void)state;
	expect_errors(PEER_A
	    "[peer b]\naddress = 10.0.0.1:7946\npubkey = " PK2
	    "\n[peer c]\naddress = 10.0.0.1:7950\npubkey = " PK3 "\n"
	    "[peer d]\naddress = 10.0.0.1:7950\npubkey = " PK3 "\n",
	    (struct want[]){
	        {5, "address: 10.0.0.1 port 7946 of [peer b] is already used "
	            "by [peer a] (line 2)"},
	        {11, "already used by [peer c] (line 8)"},
	        {12, "pubkey: [peer d] has the same pubkey as [peer c]"},
	        {0, NULL}});
}

static void
test_bad_pubkey(void **state)
{
	(void)state;
	expect_errors("[peer a]\naddress = 10.0.0.1\npubkey = not*base64\n"
	              "[peer b]\naddress = 10.0.0.2\n"
	              "pubkey = j4GrW3hJR06N/0sKw7ZZ18inWIu5JjUD5t+dlMR1Yw==\n"
	              "[peer c]\naddress = 10.0.0.3\n"
	              "pubkey = AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n",
	    (struct want[]){
	        {3, "pubkey: not the base64 of a 32-byte Ed25519 public key"},
	        {6, "pubkey: not the base64 of a 32-byte"},
	        {9, "pubkey: not the base64 of a 32-byte"}, {0, NULL}});
}

static void
test_missing_peer_keys(void **state)
{
	(void)state;
	expect_errors("[peer a]\n\n[peer b]\naddress = 10.0.0.2\n"
	              "[peer c]\npubkey = " PK3 "\n",
	    (struct want[]){{1, "[peer a]: missing address"},
	        {1, "[peer a]: missing pubkey"},
	        {3, "[peer b]: missing pubkey"},
	        {5, "[peer c]: missing address"}, {0, NULL}});
}

static void
test_unknown_peer_ref(void **state)
{
	(void)state;
	expect_errors(PEER_A "[guard x@nosuch]\nfile = /f\n"
	                     "[service y@nosuch]\nprobe = 1.2.3.4:5\n",
	    (struct want[]){{4, "[guard x@nosuch]: no [peer nosuch]"},
	        {6, "[service y@nosuch]: no [peer nosuch]"}, {0, NULL}});
}

/* a guard's size cap and top-level type (issue 13, item 9) */
static void
test_guard_size_top_level(void **state)
{
	struct conf *c;

	(void)state;
	c = load_ok(PEER_A "[guard g@a]\nfile = /f\n[guard h@a]\nfile = /h\n"
	                   "max_size = 1048576\ntop_level = any\n");
	assert_int_equal(c->guards[0].max_size, CONF_GUARD_SIZE);
	assert_int_equal(c->guards[0].any_json, 0);
	assert_int_equal(c->guards[1].max_size, 1048576);
	assert_int_equal(c->guards[1].any_json, 1);
	conf_free(c);
	expect_errors(PEER_A "[guard g@a]\nfile = /f\nmax_size = 67108865\n"
	                     "top_level = array\n[guard h@a]\nfile = /h\n"
	                     "max_size = 0\n",
	    (struct want[]){{6, "max_size: at most 67108864 bytes"},
	        {7, "top_level: \"array\" is not object or any"},
	        {10, "max_size: bad size \"0\""}, {0, NULL}});
}

static void
test_guard_service_required(void **state)
{
	(void)state;
	expect_errors(PEER_A "[guard g@a]\nrequire = x\non_flag = touch /x\n"
	                     "[service s@a]\nrestart = true\n",
	    (struct want[]){{4, "[guard g@a]: missing file"},
	        {6, "on_flag: set, but there is no flag"},
	        {7, "[service s@a]: missing probe"}, {0, NULL}});
	expect_errors(PEER_A
	    "[guard g@a]\nfile = rel.json\nflag = f\n"
	    "[service s@a]\nprobe = /bin/check\n[service t@a]\n"
	    "probe = ftp://x\n[service u@a]\nprobe = exec:\n",
	    (struct want[]){{5, "file: \"rel.json\" is not an absolute"},
	        {6, "flag: \"f\" is not an absolute path"},
	        {8, "probe: \"/bin/check\" is not a URL, host:port or command "
	            "(write exec:/bin/check"},
	        {10, "probe: \"ftp://x\""}, {12, "probe: empty exec:"},
	        {0, NULL}});
}

static void
test_bad_require(void **state)
{
	(void)state;
	expect_errors(PEER_A "[guard g@a]\nfile = /f\n"
	                     "require = a..b, .c, ok.path\n"
	                     "backups = rel/path {file}.bak\n"
	                     "  also/rel\n",
	    (struct want[]){{6, "require: \"a..b\" is not a dotted JSON path"},
	        {6, "require: \".c\" is not a dotted JSON path"},
	        {7, "backups: \"rel/path\" is not an absolute path"},
	        {8, "backups: \"also/rel\""}, {0, NULL}});
}

static void
test_bad_ssh(void **state)
{
	(void)state;
	expect_errors("[mesh]\nknown_hosts = /k\n" PEER_A "ssh = nouser\n"
	              "[peer b]\naddress = b\npubkey = " PK2 "\nssh = @host\n"
	              "[peer c]\naddress = c\npubkey = " PK3
	              "\nssh = u@host:0\n"
	              "[peer d]\naddress = d\npubkey = " PK1 "\nssh = u@\n",
	    (struct want[]){
	        {6, "ssh: bad ssh spec \"nouser\" (expected user@host"},
	        {10, "ssh: bad ssh spec \"@host\""},
	        {14, "ssh: bad ssh spec \"u@host:0\""},
	        {17, "same pubkey as [peer a]"},
	        {18, "ssh: bad ssh spec \"u@\""}, {0, NULL}});
}

static void
test_bad_hostkey(void **state)
{
	(void)state;
	expect_errors(PEER_A "ssh = u@h\nssh_hostkey = MD5:aa:bb\n"
	                     "[peer b]\naddress = b\npubkey = " PK2
	                     "\nssh = u@b\n"
	                     "ssh_hostkey = SHA256:\n",
	    (struct want[]){{4, "ssh: nothing pins the host key of [peer a]"},
	        {5, "ssh_hostkey: \"MD5:aa:bb\" is not a SHA256: fingerprint"},
	        {9, "ssh: nothing pins the host key of [peer b]"},
	        {10, "ssh_hostkey: \"SHA256:\""}, {0, NULL}});
}

static void
test_bad_quorum(void **state)
{
	(void)state;
	expect_errors("[mesh]\nquorum = most\n" PEER_A,
	    (struct want[]){{2, "quorum: bad value \"most\""}, {0, NULL}});
	expect_errors("[mesh]\nquorum = 0\n" PEER_A,
	    (struct want[]){{2, "quorum: bad value \"0\""}, {0, NULL}});
	expect_errors("[mesh]\nquorum = 3\n" PEER_A
	              "[peer b]\naddress = b\npubkey = " PK2 "\n"
	              "[peer c]\naddress = c\npubkey = " PK3 "\n",
	    (struct want[]){{2, "quorum: 3 is more than the 2 other "
	                        "peer(s); use auto or 1-2"},
	        {0, NULL}});
}

static void
test_timing_order(void **state)
{
	(void)state;
	/* only values the user wrote can conflict; the error names both */
	expect_errors("[mesh]\ninterval = 1s\nsuspect_after = 1s\n" PEER_A,
	    (struct want[]){{3, "interval (1000ms, line 2) must be less than "
	                        "suspect_after (1000ms)"},
	        {0, NULL}});
	expect_errors(
	    "[mesh]\nsuspect_after = 2s\nport = 1\ndown_after = 2s\n" PEER_A,
	    (struct want[]){{4, "suspect_after (2000ms, line 2) must be less "
	                        "than down_after (2000ms)"},
	        {0, NULL}});
	expect_errors("[mesh]\ndown_after = 400ms\n" PEER_A,
	    (struct want[]){{2, "interval (500ms, the default) must be less "
	                        "than down_after (400ms)"},
	        {0, NULL}});
	expect_errors("[mesh]\nsuspect_after = 300ms\n" PEER_A,
	    (struct want[]){{2, "interval (500ms, the default) must be less "
	                        "than suspect_after (300ms)"},
	        {0, NULL}});
	expect_errors("[mesh]\ninterval = 2h\n" PEER_A,
	    (struct want[]){
	        {2, "interval: must be between 1ms and 1h"}, {0, NULL}});
	expect_errors("[mesh]\ndown_after = 99999999999h\n" PEER_A,
	    (struct want[]){{2, "down_after: at most 1h"}, {0, NULL}});
}

static void
expect_timing(const char *mesh, uint64_t i, uint64_t s, uint64_t d)
{
	char buf[512];
	struct conf *c;

	snprintf(buf, sizeof(buf), "[mesh]\n%s" PEER_A, mesh);
	c = load_ok(buf);
	assert_int_equal(c->mesh.interval_ms, i);
	assert_int_equal(c->mesh.suspect_after_ms, s);
	assert_int_equal(c->mesh.down_after_ms, d);
	conf_free(c);
}

/* suspect_after and down_after follow interval unless written */
static void
test_timing_derived(void **state)
{
	(void)state;
	expect_timing("", 500, 1000, 2000);
	expect_timing("interval = 1s\n", 1000, 2000, 4000);
	expect_timing("interval = 100ms\n", 100, 200, 400);
	expect_timing("interval = 1s\nsuspect_after = 5s\n", 1000, 5000, 10000);
	expect_timing("interval = 1s\ndown_after = 1500ms\n", 1000, 1250, 1500);
	expect_timing("suspect_after = 2s\n", 500, 2000, 4000);
	expect_timing("down_after = 1s\n", 500, 750, 1000);
	expect_timing("interval = 1s\nsuspect_after = 1500ms\n"
	              "down_after = 3s\n",
	    1000, 1500, 3000);
}

static void
test_bad_names(void **state)
{
	(void)state;
	expect_errors(
	    "[peer bad name]\naddress = x\n[peer a/b]\n"
	    "[peer 0123456789012345678901234567890123456789012345678901234567"
	    "89abcd]\n[peer]\n" PEER_A "[guard nope]\n[service x@y@z]\n"
	    "[guard @a]\n[mesh x]\n",
	    (struct want[]){{1, "bad peer name \"bad name\""},
	        {3, "bad peer name \"a/b\""}, {4, "bad peer name \"0123"},
	        {5, "bad peer name \"\""},
	        {9, "[guard nope]: expected [guard NAME@PEER]"},
	        {10, "[service x@y@z]: expected [service NAME@PEER]"},
	        {11, "bad guard name \"@a\""}, {12, "[mesh] takes no name"},
	        {0, NULL}});
}

static void
test_no_peer(void **state)
{
	(void)state;
	expect_errors("[mesh]\nport = 7000\n\n",
	    (struct want[]){{3, "no [peer] section"}, {0, NULL}});
	expect_errors("", (struct want[]){{1, "no [peer] section"}, {0, NULL}});
}

static void
test_syntax(void **state)
{
	(void)state;
	expect_errors("[mesh\nport 7000\n= 5\n" PEER_A "  more\n"
	              "port = 1\n",
	    (struct want[]){
	        {1, "syntax error: section header must end with ']'"},
	        {2, "syntax error: expected \"key = value\""},
	        {3, "syntax error"}, {7, "syntax error"},
	        {8, "unknown key \"port\" in [peer a] (it belongs in [mesh])"},
	        {0, NULL}});
	expect_errors("port = 1\n" PEER_A "[peer b] trailing\n",
	    (struct want[]){{1, "\"port\" is outside any section"},
	        {5, "section header must end with ']'"}, {0, NULL}});
}

/* a string of n copies of c, NUL-ended (the caller frees) */
static char *
repeat(char c, size_t n)
{
	char *s = malloc(n + 1);

	assert_non_null(s);
	memset(s, c, n);
	s[n] = '\0';
	return s;
}

/*
 * Lines longer than inih's compiled-in 199 characters are read whole: a
 * 1000-character restart and on_flag command, a long backups list and its
 * long continuation as the first key of a section (issue 13 item 16).
 */
static void
test_long_line(void **state)
{
	char *cmd = repeat('x', 990), *b1 = repeat('b', 400),
	     *b2 = repeat('c', 300), *text;
	struct conf *c;

	(void)state;
	text = xasprintf(PEER_A "[guard g@a]\nbackups = /%s /z  # note\n"
	                        "  /%s\nfile = /f\nflag = /g\n"
	                        "on_flag = echo %s\n"
	                        "[service s@a]\nprobe = a:1\n"
	                        "restart = echo %s ; trailing comment\n",
	    b1, b2, cmd, cmd);
	c = load_ok(text);
	assert_int_equal(c->guards[0].nbackups, 3);
	assert_int_equal(strlen(c->guards[0].backups[0]), 401);
	assert_string_equal(c->guards[0].backups[1], "/z");
	assert_int_equal(strlen(c->guards[0].backups[2]), 301);
	assert_int_equal(strlen(c->guards[0].on_flag), 995);
	assert_int_equal(strlen(c->services[0].restart), 995);
	assert_memory_equal(c->services[0].restart, "echo xxx", 8);
	conf_free(c);
	free(text);
	/* the same errors as on a short line, on the right line */
	text = xasprintf(PEER_A "[service s@a]\nprobe = a:1\n"
	                        "restart = echo %s\nrestart = %s\n"
	                        "colour = %s\n",
	    cmd, cmd, cmd);
	expect_errors(text, (struct want[]){{7, "duplicate key \"restart\""},
	                        {8, "unknown key \"colour\""}, {0, NULL}});
	free(text);
	free(cmd);
	free(b1);
	free(b2);
	/* a bound remains */
	cmd = repeat('x', CONF_LINE_MAX);
	text = xasprintf(PEER_A "[service s@a]\nprobe = a:1\nrestart = %s\n"
	                        "  /cont\nport = 1\n",
	    cmd);
	expect_errors(
	    text, (struct want[]){{6, "line too long"}, {7, "syntax error"},
	              {8, "unknown key \"port\""}, {0, NULL}});
	free(text);
	free(cmd);
}

static void
test_telegram_pair(void **state)
{
	(void)state;
	expect_errors(
	    "[mesh]\ntelegram_chat = 1\ntelegram_api = ftp://x\n" PEER_A
	    "ollama = localhost:11434\nkey =\n",
	    (struct want[]){{2, "telegram_chat and telegram_token_file go "
	                        "together"},
	        {3, "telegram_api: \"ftp://x\" is not an http"},
	        {7, "ollama: \"localhost:11434\" is not an http"},
	        {8, "key: empty value"}, {0, NULL}});
}

/* the escalation keys: defaults, values, bad values */
static void
test_alert_keys(void **state)
{
	struct conf *c = load_ok(PEER_A);

	(void)state;
	assert_int_equal(c->mesh.alert_grace_ms, 30000);
	assert_int_equal(c->mesh.alert_repeat_ms, 4 * 3600 * 1000);
	assert_int_equal(c->mesh.alert_flap_limit, 5);
	assert_null(c->mesh.alert_explain_model);
	assert_int_equal(c->mesh.alert_explain_timeout_ms, 20000);
	conf_free(c);
	c = load_ok("[mesh]\nalert_grace = 2s\nalert_repeat = 1h\n"
	            "alert_flap_limit = 0\nalert_explain_model = qwen3:8b\n"
	            "alert_explain_timeout = 5s\n" PEER_A);
	assert_int_equal(c->mesh.alert_grace_ms, 2000);
	assert_int_equal(c->mesh.alert_repeat_ms, 3600 * 1000);
	assert_int_equal(c->mesh.alert_flap_limit, 0);
	assert_string_equal(c->mesh.alert_explain_model, "qwen3:8b");
	assert_int_equal(c->mesh.alert_explain_timeout_ms, 5000);
	conf_free(c);
	expect_errors("[mesh]\nalert_grace = soon\nalert_flap_limit = -1\n"
	              "alert_explain_timeout = 0s\n" PEER_A,
	    (struct want[]){{2, "alert_grace: bad duration"},
	        {3, "alert_flap_limit: bad number"},
	        {4, "alert_explain_timeout: must be more than 0"}, {0, NULL}});
}

/* errors from parsing and from the final checks come out in line order */
static void
test_many_errors(void **state)
{
	(void)state;
	expect_errors("[mesh]\n" /* 1 */
	              "colour = blue\n"
	              "interval = 5\n"
	              "quorum = 9\n"
	              "suspect_after = 3s\n" /* 5 */
	              "[peer a]\n"
	              "address = 10.0.0.1\n"
	              "pubkey = short\n"
	              "[guard cfg@nobody]\n"
	              "require = ok, bad..path\n" /* 10 */
	              "[peer a]\n"
	              "[peer b]\n"
	              "address = 10.0.0.2\n"
	              "pubkey = " PK2 "\n"
	              "ssh = nope\n" /* 15 */
	              "weird line\n",
	    (struct want[]){{2, "unknown key \"colour\" in [mesh]"},
	        {3, "interval: bad duration \"5\": missing unit"},
	        {4, "quorum: 9 is more than the 1 other peer(s)"},
	        {8, "pubkey: not the base64"},
	        {9, "[guard cfg@nobody]: no [peer nobody]"},
	        {9, "[guard cfg@nobody]: missing file"},
	        {10, "require: \"bad..path\""},
	        {11, "duplicate section [peer a] (first at line 6)"},
	        {15, "ssh: bad ssh spec \"nope\""}, {16, "syntax error"},
	        {0, NULL}});
}

/* ---- value parsers -------------------------------------------------- */

static void
test_parse_duration(void **state)
{
	static const struct {
		const char *s;
		int rc;
		uint64_t ms;
	} t[] = {
	    {"500ms", 0, 500},
	    {"2s", 0, 2000},
	    {"1m", 0, 60000},
	    {"1h", 0, 3600000},
	    {"1.5s", 0, 1500},
	    {"0.1s", 0, 100},
	    {"0ms", 0, 0},
	    {"2.25m", 0, 135000},
	    {"5124095576030h", 0, 5124095576030ULL * 3600000},
	    {"5124095576031h", -1, 0},
	    {"18446744073709551615ms", 0, UINT64_MAX},
	    {"18446744073709551616ms", -1, 0},
	    {"500", -1, 0},
	    {"", -1, 0},
	    {"s", -1, 0},
	    {"-1s", -1, 0},
	    {"1.5ms", -1, 0},
	    {"1.s", -1, 0},
	    {".5s", -1, 0},
	    {"2 s", -1, 0},
	    {"2d", -1, 0},
	    {"2S", -1, 0},
	    {"2sec", -1, 0},
	    {"+2s", -1, 0},
	    {"1.0000000001s", -1, 0},
	};
	size_t i;
	uint64_t ms;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		ms = 12345;
		if (conf_parse_duration(t[i].s, &ms) != t[i].rc)
			fail_msg("conf_parse_duration(\"%s\") != %d", t[i].s,
			    t[i].rc);
		if (t[i].rc == 0)
			assert_int_equal(ms, t[i].ms);
		else
			assert_int_equal(ms, 12345);
	}
}

static void
test_parse_hostport(void **state)
{
	static const struct {
		const char *s;
		int rc;
		const char *host;
		uint16_t port;
	} t[] = {
	    {"10.0.0.1", 0, "10.0.0.1", 99},
	    {"10.0.0.1:7950", 0, "10.0.0.1", 7950},
	    {"[fd00::1]:7950", 0, "fd00::1", 7950},
	    {"[fd00::1]", 0, "fd00::1", 99},
	    {"fd00::1", 0, "fd00::1", 99},
	    {"fe80::1%eth0", 0, "fe80::1%eth0", 99},
	    {"host.example", 0, "host.example", 99},
	    {"my_host:22", 0, "my_host", 22},
	    {"", -1, NULL, 0},
	    {":80", -1, NULL, 0},
	    {"host:", -1, NULL, 0},
	    {"host:0", -1, NULL, 0},
	    {"host:65536", -1, NULL, 0},
	    {"host:8x", -1, NULL, 0},
	    {"1.2.3.256", -1, NULL, 0},
	    {"[fd00::1]x", -1, NULL, 0},
	    {"[10.0.0.1]:80", -1, NULL, 0},
	    {"fd00::g", -1, NULL, 0},
	    {"-host", -1, NULL, 0},
	    {"a b", -1, NULL, 0},
	};
	size_t i;
	char *host;
	uint16_t port;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		host = NULL;
		port = 99;
		if (conf_parse_hostport(t[i].s, &host, &port) != t[i].rc)
			fail_msg("conf_parse_hostport(\"%s\") != %d", t[i].s,
			    t[i].rc);
		if (t[i].rc == 0) {
			assert_string_equal(host, t[i].host);
			assert_int_equal(port, t[i].port);
		} else {
			assert_null(host);
			assert_int_equal(port, 99);
		}
		free(host);
	}
}

static void
test_parse_ssh(void **state)
{
	char *user = NULL, *host = NULL;
	uint16_t port = 0;

	(void)state;
	assert_int_equal(
	    conf_parse_ssh("peerwatch@10.0.0.1", &user, &host, &port), 0);
	assert_string_equal(user, "peerwatch");
	assert_string_equal(host, "10.0.0.1");
	assert_int_equal(port, 22);
	free(user);
	free(host);
	assert_int_equal(
	    conf_parse_ssh("a.b-c@[fd00::1]:2200", &user, &host, &port), 0);
	assert_string_equal(user, "a.b-c");
	assert_string_equal(host, "fd00::1");
	assert_int_equal(port, 2200);
	free(user);
	free(host);
	user = host = NULL;
	assert_int_equal(conf_parse_ssh("host", &user, &host, &port), -1);
	assert_int_equal(conf_parse_ssh("@host", &user, &host, &port), -1);
	assert_int_equal(conf_parse_ssh("u@", &user, &host, &port), -1);
	assert_int_equal(conf_parse_ssh("u v@h", &user, &host, &port), -1);
	assert_int_equal(conf_parse_ssh("-o@h", &user, &host, &port), -1);
	assert_int_equal(conf_parse_ssh("u@h:x", &user, &host, &port), -1);
	assert_null(user);
	assert_null(host);
}

static void
test_valid_path(void **state)
{
	(void)state;
	assert_true(conf_valid_path("channels.telegram"));
	assert_true(conf_valid_path("a"));
	assert_true(conf_valid_path("a-b.c_d.0"));
	assert_false(conf_valid_path(""));
	assert_false(conf_valid_path("a..b"));
	assert_false(conf_valid_path(".a"));
	assert_false(conf_valid_path("a."));
	assert_false(conf_valid_path("a b"));
	assert_false(conf_valid_path("a/b"));
}

/* ---- key files and conf_find_self ----------------------------------- */

struct keydir {
	char dir[64];
	char key[128];
	unsigned char pk[CONF_PUBKEY_LEN], sk[CONF_SECKEY_LEN];
	char b64[64];
};

static int
keydir_setup(void **state)
{
	struct keydir *k = calloc(1, sizeof(*k));

	if (k == NULL || sodium_init() == -1)
		return -1;
	snprintf(k->dir, sizeof(k->dir), "/tmp/test_conf.XXXXXX");
	if (mkdtemp(k->dir) == NULL)
		return -1;
	snprintf(k->key, sizeof(k->key), "%s/key", k->dir);
	crypto_sign_keypair(k->pk, k->sk);
	conf_pubkey_b64(k->pk, k->b64, sizeof(k->b64));
	*state = k;
	return 0;
}

static int
keydir_teardown(void **state)
{
	struct keydir *k = *state;
	char path[192];

	unlink(k->key);
	snprintf(path, sizeof(path), "%s/other", k->dir);
	unlink(path);
	rmdir(k->dir);
	free(k);
	return 0;
}

static void
test_key_roundtrip(void **state)
{
	struct keydir *k = *state;
	unsigned char sk[CONF_SECKEY_LEN];
	char err[512];
	struct stat st;

	assert_int_equal(conf_write_seckey(k->key, k->sk, err, sizeof(err)), 0);
	assert_int_equal(stat(k->key, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	assert_int_equal(st.st_size, 89); /* 88 base64 + newline */
	assert_int_equal(conf_read_seckey(k->key, sk, err, sizeof(err)), 0);
	assert_memory_equal(sk, k->sk, sizeof(sk));
	/* never over an existing key */
	assert_int_equal(
	    conf_write_seckey(k->key, k->sk, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ": exists, refusing to overwrite"));
	assert_memory_equal(err, k->key, strlen(k->key));
}

static void
test_key_bad_file(void **state)
{
	struct keydir *k = *state;
	unsigned char sk[CONF_SECKEY_LEN];
	char err[512];
	FILE *fp;

	assert_int_equal(conf_read_seckey(k->key, sk, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "No such file"));
	fp = fopen(k->key, "w");
	assert_non_null(fp);
	fputs("bm90IGEga2V5\n", fp);
	fclose(fp);
	chmod(k->key, 0600);
	assert_int_equal(conf_read_seckey(k->key, sk, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a peerwatch secret key"));
}

/* a conf whose peer "b" has the test key, and whose [mesh] key is it */
static struct conf *
keydir_conf(const struct keydir *k, const char *bkey)
{
	char text[2048];

	snprintf(text, sizeof(text),
	    "[mesh]\nkey = %s\n" PEER_A
	    "[peer b]\naddress = 10.0.0.2\npubkey = %s\n%s\n",
	    k->key, bkey, "state_dir = /tmp/b");
	return load_ok(text);
}

static void
test_find_self(void **state)
{
	struct keydir *k = *state;
	unsigned char sk[CONF_SECKEY_LEN];
	struct conf *c = keydir_conf(k, k->b64);
	char err[512];

	assert_int_equal(conf_write_seckey(k->key, k->sk, err, sizeof(err)), 0);
	memset(sk, 0, sizeof(sk));
	assert_int_equal(conf_find_self(c, "b", sk, err, sizeof(err)), 1);
	assert_memory_equal(sk, k->sk, sizeof(sk));
	assert_int_equal(conf_find_self(c, NULL, NULL, err, sizeof(err)), 1);
	assert_int_equal(conf_find_self(c, "zz", NULL, err, sizeof(err)), -1);
	assert_string_equal(err, "no [peer zz] in t.conf");
	assert_int_equal(conf_find_self(c, "a", NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "does not match the pubkey of [peer a]"));
	conf_free(c);

	/* nobody has this key */
	c = keydir_conf(k, PK2);
	assert_int_equal(conf_find_self(c, NULL, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no [peer] in t.conf has this host's "
	                            "public key "));
	assert_non_null(strstr(err, k->b64));
	conf_free(c);
}

static void
test_find_self_override(void **state)
{
	struct keydir *k = *state;
	char text[2048], other[192], err[512];
	struct conf *c;

	/* [peer b] key= overrides [mesh] key when found by name */
	snprintf(other, sizeof(other), "%s/other", k->dir);
	assert_int_equal(conf_write_seckey(other, k->sk, err, sizeof(err)), 0);
	snprintf(text, sizeof(text),
	    "[mesh]\nkey = %s/nokey\n" PEER_A
	    "[peer b]\naddress = 10.0.0.2\npubkey = %s\nkey = %s\n",
	    k->dir, k->b64, other);
	c = load_ok(text);
	assert_string_equal(conf_key_path(c, 1), other);
	assert_int_equal(conf_find_self(c, "b", NULL, err, sizeof(err)), 1);
	assert_int_equal(conf_find_self(c, NULL, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "/nokey: No such file"));
	conf_free(c);
}

static void
test_find_self_mode(void **state)
{
	struct keydir *k = *state;
	struct conf *c = keydir_conf(k, k->b64);
	char err[512], want[512];

	assert_int_equal(conf_write_seckey(k->key, k->sk, err, sizeof(err)), 0);
	assert_int_equal(chmod(k->key, 0644), 0);
	assert_int_equal(conf_find_self(c, "b", NULL, err, sizeof(err)), -1);
	snprintf(want, sizeof(want),
	    "%s: key file is readable by group or "
	    "others (mode 0644); chmod 600 %s",
	    k->key, k->key);
	assert_string_equal(err, want);
	assert_int_equal(chmod(k->key, 0620), 0);
	assert_int_equal(conf_find_self(c, NULL, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "(mode 0620)"));
	conf_free(c);
}

static void
test_pubkey_b64(void **state)
{
	unsigned char pk[CONF_PUBKEY_LEN];
	char out[64];

	(void)state;
	memset(pk, 0, sizeof(pk));
	conf_pubkey_b64(pk, out, sizeof(out));
	assert_string_equal(
	    out, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=");
	conf_pubkey_b64(pk, out, 44); /* too small: empty, no overflow */
	assert_string_equal(out, "");
}

/* ---- tests/fixtures: each "# expect: LINE: text" is one error ------- */

/* ---- local watch: [service] timing, guard links, resources ---------- */

#define PEER_B "[peer b]\naddress = 10.0.0.2\npubkey = " PK2 "\n"

static void
test_service_defaults(void **state)
{
	struct conf *c;
	const struct conf_service *sv;

	(void)state;
	c = load_ok(PEER_A "[service s@a]\nprobe = http://127.0.0.1:8/h\n"
	                   "[service t@a]\nprobe = tcp://127.0.0.1:22\n"
	                   "interval = 2s\n");
	sv = &c->services[0];
	assert_int_equal(sv->probe_kind, CONF_PROBE_HTTP);
	assert_int_equal(sv->beat_ms, 0);
	assert_null(sv->beat_file);
	assert_int_equal(sv->interval_ms, 10000);
	assert_int_equal(sv->timeout_ms, 5000);
	assert_int_equal(sv->failures_before_restart, 2);
	assert_int_equal(sv->successes_before_up, 2);
	assert_int_equal(sv->start_grace_ms, 30000);
	assert_null(sv->restart);
	assert_int_equal(sv->restart_timeout_ms, 60000);
	assert_int_equal(sv->restart_backoff, 2);
	assert_int_equal(sv->restart_backoff_max_ms, 300000);
	assert_int_equal(sv->breaker_failures, 3);
	assert_int_equal(sv->breaker_window_ms, 600000);
	assert_int_equal(sv->breaker_cooldown_ms, 600000);
	/* tcp:// is dropped; a timeout follows a shorter interval */
	sv = &c->services[1];
	assert_int_equal(sv->probe_kind, CONF_PROBE_TCP);
	assert_string_equal(sv->probe, "127.0.0.1:22");
	assert_int_equal(sv->interval_ms, 2000);
	assert_int_equal(sv->timeout_ms, 2000);
	conf_free(c);
}

static void
test_service_values(void **state)
{
	struct conf *c;
	const struct conf_service *sv;

	(void)state;
	c = load_ok(PEER_A "[service s@a]\n"
	                   "probe = exec:/bin/check --deep\n"
	                   "interval = 30s\n"
	                   "timeout = 30s\n"
	                   "failures_before_restart = 100\n"
	                   "successes_before_up = 1\n"
	                   "start_grace = 2m\n"
	                   "restart = sh -c 'pm2 restart api || exit 1'\n"
	                   "restart_timeout = 90s\n"
	                   "restart_backoff = x3\n"
	                   "restart_backoff_max = 1h\n"
	                   "breaker_failures = 5\n"
	                   "breaker_window = 30m\n"
	                   "breaker_cooldown = 720h\n"
	                   "[service t@a]\nprobe = 127.0.0.1:80\n"
	                   "restart_backoff = 1\n");
	sv = &c->services[0];
	assert_int_equal(sv->probe_kind, CONF_PROBE_EXEC);
	assert_string_equal(sv->probe, "/bin/check --deep");
	assert_int_equal(sv->interval_ms, 30000);
	assert_int_equal(sv->timeout_ms, 30000);
	assert_int_equal(sv->failures_before_restart, 100);
	assert_int_equal(sv->successes_before_up, 1);
	assert_int_equal(sv->start_grace_ms, 120000);
	assert_string_equal(sv->restart, "sh -c 'pm2 restart api || exit 1'");
	assert_int_equal(sv->restart_timeout_ms, 90000);
	assert_int_equal(sv->restart_backoff, 3);
	assert_int_equal(sv->restart_backoff_max_ms, 3600000);
	assert_int_equal(sv->breaker_failures, 5);
	assert_int_equal(sv->breaker_window_ms, 1800000);
	assert_int_equal(sv->breaker_cooldown_ms, 720ULL * 3600000);
	assert_int_equal(c->services[1].restart_backoff, 1);
	conf_free(c);
}

static void
test_service_beat(void **state)
{
	struct conf *c;
	const struct conf_service *sv;

	(void)state;
	c = load_ok(PEER_A "[service w@a]\nprobe = beat:90s\n"
	                   "beat_file = /var/run/w.beat\n"
	                   "[service x@a]\nprobe = beat: 1s\n"
	                   "[service y@a]\nprobe = beat:100ms\n"
	                   "[service z@a]\nprobe = beat:24h\ninterval = 1m\n"
	                   "restart = launchctl kickstart -k gui/501/z\n");
	sv = &c->services[0];
	assert_int_equal(sv->probe_kind, CONF_PROBE_BEAT);
	assert_null(sv->probe);
	assert_int_equal(sv->beat_ms, 90000);
	assert_string_equal(sv->beat_file, "/var/run/w.beat");
	assert_int_equal(sv->interval_ms, 10000); /* a third, at most 10s */
	assert_int_equal(sv->timeout_ms, 5000);
	assert_int_equal(sv->failures_before_restart, 2);
	sv = &c->services[1];
	assert_int_equal(sv->beat_ms, 1000);
	assert_null(sv->beat_file);
	assert_int_equal(sv->interval_ms, 333);
	assert_int_equal(sv->timeout_ms, 333);
	sv = &c->services[2];
	assert_int_equal(sv->beat_ms, 100);
	assert_int_equal(sv->interval_ms, 100); /* at least 100ms */
	sv = &c->services[3];
	assert_int_equal(sv->beat_ms, 24 * 3600000);
	assert_int_equal(sv->interval_ms, 60000);
	conf_free(c);
	expect_errors(PEER_A "[service w@a]\nprobe = beat:90\n"
	                     "[service x@a]\nprobe = beat:50ms\n"
	                     "[service y@a]\nprobe = beat:721h\n"
	                     "[service z@a]\nprobe = beat:\n"
	                     "[service u@a]\nprobe = beat:10s\n"
	                     "timeout = 1s\ninterval = 11s\n"
	                     "beat_file = var/w.beat\n"
	                     "[service v@a]\nprobe = http://x/\n"
	                     "beat_file = /var/v.beat\n",
	    (struct want[]){{5, "probe: bad beat \"90\": missing unit"},
	        {7, "probe: a beat is 100ms to 720h, not 50ms"},
	        {9, "probe: a beat is 100ms to 720h, not 721h"},
	        {11, "probe: beat: needs a duration"},
	        {14, "timeout: a beat:10000ms probe has none"},
	        {15, "interval (11000ms) must be at most the beat (10000ms, "
	             "line 13)"},
	        {16, "beat_file: \"var/w.beat\" is not an absolute path"},
	        {19, "beat_file: only with probe = beat:DURATION (line 18)"},
	        {0, NULL}});
}

static void
test_service_bad_values(void **state)
{
	(void)state;
	expect_errors(PEER_A "[service s@a]\n" /* 4 */
	                     "probe = tcp://nowhere\n"
	                     "interval = 10\n"
	                     "timeout = 0s\n"
	                     "failures_before_restart = 0\n"
	                     "successes_before_up = 101\n" /* 9 */
	                     "start_grace = -1s\n"
	                     "restart = \n"
	                     "restart_timeout = 1 m\n"
	                     "restart_backoff = 11\n"
	                     "restart_backoff_max = 721h\n" /* 14 */
	                     "breaker_failures = many\n"
	                     "breaker_window = 99999999999999999999h\n"
	                     "breaker_cooldown = 1d\n"
	                     "[service t@a]\n"
	                     "probe = 127.0.0.1:80\n" /* 19 */
	                     "interval = 50ms\n"
	                     "restart_backoff = x0\n"
	                     "failures_before_restart = 2x\n",
	    (struct want[]){
	        {5, "probe: \"tcp://nowhere\" is not tcp://host:port"},
	        {6, "interval: bad duration \"10\": missing unit"},
	        {7, "timeout: must be more than 0"},
	        {8, "failures_before_restart: bad number \"0\" (expected "
	            "1-100)"},
	        {9, "successes_before_up: bad number \"101\" (expected 1-100)"},
	        {10, "start_grace: bad duration \"-1s\""},
	        {11, "restart: empty value"},
	        {12, "restart_timeout: bad duration \"1 m\""},
	        {13, "restart_backoff: bad factor \"11\" (expected 1-10, as 2 "
	             "or x2)"},
	        {14, "restart_backoff_max: at most 720h"},
	        {15, "breaker_failures: bad number \"many\""},
	        {16, "breaker_window: bad duration"},
	        {17, "breaker_cooldown: bad duration \"1d\""},
	        {20, "interval: at least 100ms"},
	        {21, "restart_backoff: bad factor \"x0\""},
	        {22, "failures_before_restart: bad number \"2x\""}, {0, NULL}});
	/* a written timeout must fit the interval, written or not */
	expect_errors(PEER_A "[service s@a]\nprobe = http://x/\n"
	                     "interval = 2s\ntimeout = 3s\n"
	                     "[service t@a]\nprobe = http://x/\n"
	                     "timeout = 11s\n",
	    (struct want[]){{7, "timeout (3000ms) must be at most interval "
	                        "(2000ms, line 6)"},
	        {10, "timeout (11000ms) must be at most interval (10000ms, "
	             "the default)"},
	        {0, NULL}});
	/* service keys belong in [service] */
	expect_errors("[mesh]\ntimeout = 1s\n" PEER_A
	              "[guard g@a]\nfile = /f\nrestart_backoff = 2\n",
	    (struct want[]){{2, "unknown key \"timeout\" in [mesh] (it belongs "
	                        "in [service])"},
	        {8, "unknown key \"restart_backoff\" in [guard g@a] (it "
	            "belongs in [service])"},
	        {0, NULL}});
}

static void
test_guard_service_link(void **state)
{
	struct conf *c;

	(void)state;
	c = load_ok(PEER_A PEER_B "[service api@b]\nprobe = http://x/\n"
	                          "[service app@a]\nprobe = http://x/\n"
	                          "[guard g@a]\nfile = /f\nservice = app@a\n"
	                          "[guard h@a]\nfile = /h\n");
	assert_int_equal(c->guards[0].service_idx, 1);
	assert_int_equal(c->guards[1].service_idx, -1);
	conf_free(c);
	/* the [service] may come after the guard */
	c = load_ok(PEER_A "[guard g@a]\nfile = /f\nservice = app@a\n"
	                   "[service other@a]\nprobe = http://x/\n"
	                   "[service app@a]\nprobe = http://x/\n");
	assert_int_equal(c->guards[0].service_idx, 1);
	conf_free(c);
	expect_errors(PEER_A PEER_B "[service app@b]\nprobe = http://x/\n"
	                            "[guard g@a]\nfile = /f\n" /* 9 */
	                            "service = app@b\n"
	                            "[guard h@a]\nfile = /h\n"
	                            "service = gone@b\n" /* 14 */
	                            "[guard i@a]\nfile = /i\n"
	                            "service = gone@a\n"
	                            "[guard j@a]\nfile = /j\n"
	                            "service = app\n" /* 20 */
	                            "[guard k@a]\nfile = /k\n"
	                            "service = a@b@c\n",
	    (struct want[]){{11, "service: [service app@b] (line 7) runs on b, "
	                         "not on a like [guard g@a] (line 9)"},
	        {14, "service: gone@b is not on a like [guard h@a] (line 12): "
	             "name a [service NAME@a]"},
	        {17, "service: no [service gone@a] in this file"},
	        {20, "service: \"app\" is not NAME@PEER"},
	        {23, "service: \"a@b@c\" is not NAME@PEER"}, {0, NULL}});
}

static void
test_resources(void **state)
{
	struct conf *c;
	const struct conf_resources *r;

	(void)state;
	c = load_ok(PEER_A);
	r = &c->mesh.res;
	assert_int_equal(r->ndisk, 0);
	assert_null(r->disk);
	assert_int_equal(r->disk_warn, 85);
	assert_int_equal(r->disk_critical, 95);
	assert_null(r->disk_cleanup);
	assert_int_equal(r->swap_warn, 0);
	assert_int_equal(r->swap_critical, 0);
	assert_int_equal(r->swap_warn_pct, 0);
	assert_int_equal(r->swap_critical_pct, 0);
	assert_int_equal(r->interval_ms, 30000);
	conf_free(c);
	c = load_ok("[mesh]\ndisk = / /data\n    /Volumes/Backup\n"
	            "disk_warn = 70%\ndisk_critical = 100\n"
	            "disk_cleanup = sh -c 'docker system prune -f'\n"
	            "swap_warn = 512M\nswap_critical = 4G\n"
	            "resource_interval = 1m\n" PEER_A);
	r = &c->mesh.res;
	assert_int_equal(r->ndisk, 3);
	assert_string_equal(r->disk[0], "/");
	assert_string_equal(r->disk[1], "/data");
	assert_string_equal(r->disk[2], "/Volumes/Backup");
	assert_int_equal(r->disk_warn, 70);
	assert_int_equal(r->disk_critical, 100);
	assert_string_equal(r->disk_cleanup, "sh -c 'docker system prune -f'");
	assert_int_equal(r->swap_warn, 512ULL * 1024 * 1024);
	assert_int_equal(r->swap_critical, 4ULL * 1024 * 1024 * 1024);
	assert_int_equal(r->swap_warn_pct, 0);
	assert_int_equal(r->swap_critical_pct, 0);
	assert_int_equal(r->interval_ms, 60000);
	conf_free(c);
	/* a percentage and a size do not compare */
	c = load_ok("[mesh]\nswap_warn = 50%\nswap_critical = 1024K\n" PEER_A);
	r = &c->mesh.res;
	assert_int_equal(r->swap_warn, 50);
	assert_int_equal(r->swap_warn_pct, 1);
	assert_int_equal(r->swap_critical, 1024 * 1024);
	assert_int_equal(r->swap_critical_pct, 0);
	conf_free(c);
	c = load_ok("[mesh]\nswap_critical = 90%\n" PEER_A);
	assert_int_equal(c->mesh.res.swap_warn, 0);
	assert_int_equal(c->mesh.res.swap_critical, 90);
	assert_int_equal(c->mesh.res.swap_critical_pct, 1);
	conf_free(c);
}

static void
test_resources_bad(void **state)
{
	(void)state;
	expect_errors("[mesh]\n"
	              "disk = / data\n"
	              "disk_warn = 0\n"
	              "disk_critical = 101%\n"
	              "swap_warn = 512\n" /* 5 */
	              "swap_critical = 0G\n"
	              "resource_interval = 30\n"
	              "disk_cleanup = \n" PEER_A,
	    (struct want[]){{2, "disk: \"data\" is not an absolute path"},
	        {3, "disk_warn: bad percentage \"0\" (expected 1-100"},
	        {4, "disk_critical: bad percentage \"101%\""},
	        {5, "swap_warn: bad size \"512\" (expected a number and K, M, "
	            "G or T"},
	        {6, "swap_critical: must be more than 0"},
	        {7, "resource_interval: bad duration \"30\""},
	        {8, "disk_cleanup: empty value"}, {0, NULL}});
	expect_errors("[mesh]\nswap_warn = 5X\nswap_critical = 101%\n"
	              "disk_warn = 85%%\n" PEER_A,
	    (struct want[]){{2, "swap_warn: bad size \"5X\""},
	        {3, "swap_critical: bad percentage \"101%\""},
	        {4, "disk_warn: bad percentage \"85%%\""}, {0, NULL}});
	/* warn below critical, blaming the written one */
	expect_errors("[mesh]\ndisk_warn = 96%\n" PEER_A,
	    (struct want[]){{2, "disk_warn (96%) must be less than "
	                        "disk_critical (95%, the default)"},
	        {0, NULL}});
	expect_errors("[mesh]\ndisk_warn = 90\ndisk_critical = 90%\n" PEER_A,
	    (struct want[]){{3, "disk_critical (90%) must be more than "
	                        "disk_warn (90%, line 2)"},
	        {0, NULL}});
	expect_errors("[mesh]\ndisk_critical = 80\n" PEER_A,
	    (struct want[]){{2, "disk_critical (80%) must be more than "
	                        "disk_warn (85%, the default)"},
	        {0, NULL}});
	expect_errors("[mesh]\nswap_warn = 4G\nswap_critical = 4096M\n" PEER_A,
	    (struct want[]){{3, "swap_critical (4294967296 bytes) must be more "
	                        "than swap_warn (4294967296 bytes, line 2)"},
	        {0, NULL}});
	expect_errors("[mesh]\nswap_warn = 60%\nswap_critical = 50%\n" PEER_A,
	    (struct want[]){{3, "swap_critical (50%) must be more than "
	                        "swap_warn (60%, line 2)"},
	        {0, NULL}});
	expect_errors("[mesh]\ndisk_cleanup = /bin/clean\n" PEER_A,
	    (struct want[]){
	        {2, "disk_cleanup: set, but there is no disk"}, {0, NULL}});
	/* [mesh] only */
	expect_errors(PEER_A "disk = /\n",
	    (struct want[]){{4, "unknown key \"disk\" in [peer a] (it belongs "
	                        "in [mesh])"},
	        {0, NULL}});
}

/* the RECIPES of peers.conf(5), joined under three peers, must load */
static void
test_man_recipes(void **state)
{
	const char *src = getenv("PW_SOURCE_DIR");
	char path[4096], line[1024];
	char *text = NULL;
	size_t len = 0;
	int in_recipes = 0, in_block = 0, nblocks = 0;
	FILE *fp, *out;
	struct conf *c;

	(void)state;
	if (src == NULL)
		skip();
	snprintf(path, sizeof(path), "%s/man/peers.conf.5", src);
	assert_non_null(fp = fopen(path, "r"));
	assert_non_null(out = open_memstream(&text, &len));
	fputs("[peer macbook]\naddress = 10.0.0.1\npubkey = " PK1 "\n"
	      "[peer mini]\naddress = 10.0.0.2\npubkey = " PK2 "\n"
	      "[peer vps]\naddress = 10.0.0.3\npubkey = " PK3 "\n",
	    out);
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (strncmp(line, ".Sh ", 4) == 0)
			in_recipes = strcmp(line, ".Sh RECIPES\n") == 0;
		else if (in_recipes && strncmp(line, ".Bd -literal", 12) == 0) {
			in_block = 1;
			nblocks++;
		} else if (strcmp(line, ".Ed\n") == 0)
			in_block = 0;
		else if (in_block) {
			assert_null(strchr(line, '\\')); /* no roff escapes */
			fputs(line, out);
		}
	}
	fclose(fp);
	fclose(out);
	assert_true(nblocks >= 7);
	c = load_ok(text);
	assert_true(c->nservices >= 7);
	assert_true(c->mesh.res.ndisk >= 1);
	assert_int_equal(c->guards[0].service_idx, (long)(c->nservices - 1));
	conf_free(c);
	free(text);
}

static void
check_fixture(const char *path, int bad)
{
	struct conf_errors e = {NULL, 0};
	struct conf *c;
	char line[512], prefix[4200], *text, *nl;
	size_t n = 0;
	int lno;
	FILE *fp;

	c = conf_load_file(path, &e);
	if ((fp = fopen(path, "r")) == NULL)
		fail_msg("%s: cannot open", path);
	while (fgets(line, sizeof(line), fp) != NULL) {
		if (sscanf(line, "# expect: %d:", &lno) != 1)
			continue;
		text = strchr(strchr(line, ':') + 1, ':') + 1;
		text += strspn(text, " ");
		if ((nl = strchr(text, '\n')) != NULL)
			*nl = '\0';
		snprintf(prefix, sizeof(prefix), "%s:%d: ", path, lno);
		if (n >= e.n ||
		    strncmp(e.msgs[n], prefix, strlen(prefix)) != 0 ||
		    strstr(e.msgs[n], text) == NULL) {
			dump(&e);
			fail_msg("%s: expected error %zu \"%d: %s\"", path, n,
			    lno, text);
		}
		n++;
	}
	fclose(fp);
	if (n != e.n || (bad && (n == 0 || c != NULL)) || (!bad && !c)) {
		dump(&e);
		fail_msg("%s: %zu errors, %zu expected", path, e.n, n);
	}
	conf_free(c);
	conf_errors_clear(&e);
}

static void
test_fixtures(void **state)
{
	const char *src = getenv("PW_SOURCE_DIR");
	char dir[4096], path[4400];
	struct dirent *de;
	DIR *d;
	int nbad = 0;

	(void)state;
	if (src == NULL)
		skip();
	snprintf(dir, sizeof(dir), "%s/tests/fixtures", src);
	if ((d = opendir(dir)) == NULL)
		fail_msg("%s: cannot open", dir);
	while ((de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (len < 5 || strcmp(de->d_name + len - 5, ".conf") != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		if (strncmp(de->d_name, "bad-", 4) == 0) {
			check_fixture(path, 1);
			nbad++;
		} else if (strncmp(de->d_name, "good-", 5) == 0)
			check_fixture(path, 0);
	}
	closedir(d);
	assert_true(nbad >= 6);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_defaults),
	    cmocka_unit_test(test_values),
	    cmocka_unit_test(test_ollama_keys),
	    cmocka_unit_test(test_example),
	    cmocka_unit_test(test_free_null),
	    cmocka_unit_test(test_unknown_key),
	    cmocka_unit_test(test_unknown_section),
	    cmocka_unit_test(test_duplicate_section),
	    cmocka_unit_test(test_duplicate_key),
	    cmocka_unit_test(test_bad_duration),
	    cmocka_unit_test(test_bad_port),
	    cmocka_unit_test(test_bad_address),
	    cmocka_unit_test(test_duplicate_address),
	    cmocka_unit_test(test_bad_pubkey),
	    cmocka_unit_test(test_missing_peer_keys),
	    cmocka_unit_test(test_unknown_peer_ref),
	    cmocka_unit_test(test_guard_service_required),
	    cmocka_unit_test(test_guard_size_top_level),
	    cmocka_unit_test(test_service_defaults),
	    cmocka_unit_test(test_service_values),
	    cmocka_unit_test(test_service_beat),
	    cmocka_unit_test(test_service_bad_values),
	    cmocka_unit_test(test_guard_service_link),
	    cmocka_unit_test(test_resources),
	    cmocka_unit_test(test_resources_bad),
	    cmocka_unit_test(test_man_recipes),
	    cmocka_unit_test(test_bad_require),
	    cmocka_unit_test(test_bad_ssh),
	    cmocka_unit_test(test_bad_hostkey),
	    cmocka_unit_test(test_bad_quorum),
	    cmocka_unit_test(test_timing_order),
	    cmocka_unit_test(test_timing_derived),
	    cmocka_unit_test(test_bad_names),
	    cmocka_unit_test(test_no_peer),
	    cmocka_unit_test(test_syntax),
	    cmocka_unit_test(test_long_line),
	    cmocka_unit_test(test_telegram_pair),
	    cmocka_unit_test(test_alert_keys),
	    cmocka_unit_test(test_many_errors),
	    cmocka_unit_test(test_parse_duration),
	    cmocka_unit_test(test_parse_hostport),
	    cmocka_unit_test(test_parse_ssh),
	    cmocka_unit_test(test_valid_path),
	    cmocka_unit_test(test_pubkey_b64),
	    cmocka_unit_test_setup_teardown(
	        test_key_roundtrip, keydir_setup, keydir_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_key_bad_file, keydir_setup, keydir_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_find_self, keydir_setup, keydir_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_find_self_override, keydir_setup, keydir_teardown),
	    cmocka_unit_test_setup_teardown(
	        test_find_self_mode, keydir_setup, keydir_teardown),
	    cmocka_unit_test(test_fixtures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
