/*
 * check_conf.c: unit tests for the configuration loader.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <check.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/conf.h"
#include "t/confload.h"

/* The smallest complete config, for tests that only add to it. */
#define TAIL \
	"[listener web]\n" \
	"listen = 127.0.0.1:8080\n" \
	"[upstream app]\n" \
	"server = 127.0.0.1:9000\n" \
	"[route main]\n" \
	"upstream = app\n"


/* Expect one [global] line, placed at line 2 before TAIL, to fail. */
static void
expect_global_error(const char *keyline, const char *word)
{
	char	 text[1024];

	snprintf(text, sizeof(text), "[global]\n%s\n" TAIL, keyline);
	expect_only_error(text, 2, word);
}

static void
expect_upstream_error(const char *keyline, const char *word)
{
	char	 text[1024];

	snprintf(text, sizeof(text), TAIL "[upstream other]\n"
	    "server = 10.0.0.1:80\n%s\n", keyline);
	expect_only_error(text, 9, word);
}

static void
expect_route_error(const char *keyline, const char *word)
{
	char	 text[1024];

	snprintf(text, sizeof(text), TAIL "[route other]\n"
	    "upstream = app\nlistener = web\n%s\n", keyline);
	expect_only_error(text, 10, word);
}

START_TEST(test_full)
{
	struct conf		*c;
	struct conf_listener	*l;
	struct conf_upstream	*u;
	struct conf_route	*r;
	const char		*text =
	    "; portico test config\n"
	    "[global]\n"
	    "workers = 4\n"
	    "user = portico\n"
	    "group = nogroup\n"
	    "pid_file = /tmp/p.pid\n"
	    "error_log = syslog\n"
	    "log_level = warn\n"
	    "access_log = /var/log/portico/access.log\n"
	    "worker_connections = 2048\n"
	    "shutdown_timeout = 10s\n"
	    "client_header_timeout = 1500ms\n"
	    "client_body_timeout = 2m\n"
	    "keepalive_timeout = 0\n"
	    "send_timeout = 1h\n"
	    "max_request_line = 4k\n"
	    "max_header_size = 32K\n"
	    "max_headers = 50\n"
	    "max_body_size = 10m\n"
	    "buffer_size = 64k\n"
	    "\n"
	    "[listener web]\n"
	    "listen = 0.0.0.0:8080\n"
	    "listen = [::1]:8080 ; IPv6 too\n"
	    "backlog = 1024\n"
	    "[listener admin]\n"
	    "listen = 9090\n"
	    "\n"
	    "[upstream app]\n"
	    "server = 10.0.0.11:8080\n"
	    "server = 10.0.0.12:8080 weight=2\n"
	    "server = [2001:db8::1]:80   weight=1000\n"
	    "balance = round_robin\n"
	    "keepalive = 0\n"
	    "keepalive_timeout = 0\n"
	    "connect_timeout = 3s\n"
	    "read_timeout = 30\n"
	    "send_timeout = 45s\n"
	    "[upstream static]\n"
	    "server = 10.0.0.20:80\n"
	    "\n"
	    "[route main]\n"
	    "listener = web\n"
	    "host = *\n"
	    "path = /\n"
	    "upstream = app\n"
	    "cache = off\n"
	    "[route img]\n"
	    "host = *.Example.COM\n"
	    "path = /img/\n"
	    "upstream = static\n"
	    "[route www]\n"
	    "listener = admin\n"
	    "host = WWW.example.com\n"
	    "upstream = app\n";

	c = load_ok(text);
	ck_assert_str_eq(c->path, conf_path);
	ck_assert_uint_eq(c->nfiles, 1);
	ck_assert_str_eq(c->files[0], conf_path);

	ck_assert_int_eq(c->g.workers, 4);
	ck_assert_str_eq(c->g.user, "portico");
	ck_assert_str_eq(c->g.group, "nogroup");
	ck_assert_str_eq(c->g.pid_file, "/tmp/p.pid");
	ck_assert_str_eq(c->g.error_log, "syslog");
	ck_assert_int_eq(c->g.log_level, LOG_LVL_WARN);
	ck_assert_uint_eq(c->g.alogs.n, 1);
	ck_assert_str_eq(c->g.alog_targets[0].path, "/var/log/portico/access.log");
	ck_assert_int_eq(c->g.worker_connections, 2048);
	ck_assert_int_eq(c->g.shutdown_timeout_ms, 10000);
	ck_assert_int_eq(c->g.client_header_timeout_ms, 1500);
	ck_assert_int_eq(c->g.client_body_timeout_ms, 120000);
	ck_assert_int_eq(c->g.keepalive_timeout_ms, 0);
	ck_assert_int_eq(c->g.send_timeout_ms, 3600000);
	ck_assert_uint_eq(c->g.max_request_line, 4096);
	ck_assert_uint_eq(c->g.max_header_size, 32768);
	ck_assert_int_eq(c->g.max_headers, 50);
	ck_assert_int_eq(c->g.max_body_size, 10 << 20);
	ck_assert_uint_eq(c->g.buffer_size, 65536);

	ck_assert_uint_eq(c->nlisteners, 2);
	l = &c->listeners[0];
	ck_assert_str_eq(l->name, "web");
	ck_assert_str_eq(l->file, conf_path);
	ck_assert_int_eq(l->line, 22);
	ck_assert_uint_eq(l->naddrs, 2);
	ck_assert_str_eq(l->addrs[0].text, "0.0.0.0:8080");
	ck_assert_int_eq(l->addrs[0].ss.ss_family, AF_INET);
	ck_assert_str_eq(l->addrs[1].text, "[::1]:8080");
	ck_assert_int_eq(l->addrs[1].ss.ss_family, AF_INET6);
	ck_assert_int_eq(l->addrs[1].len, sizeof(struct sockaddr_in6));
	ck_assert_int_eq(l->backlog, 1024);
	ck_assert_ptr_nonnull(l->fds);
	ck_assert_int_eq(l->fds[0], -1);
	ck_assert_int_eq(l->fds[1], -1);
	l = &c->listeners[1];
	ck_assert_str_eq(l->name, "admin");
	ck_assert_str_eq(l->addrs[0].text, "0.0.0.0:9090");
	ck_assert_int_eq(l->backlog, 511);

	ck_assert_uint_eq(c->nupstreams, 2);
	u = &c->upstreams[0];
	ck_assert_str_eq(u->name, "app");
	ck_assert_int_eq(u->line, 29);
	ck_assert_uint_eq(u->nservers, 3);
	ck_assert_str_eq(u->servers[0].addr.text, "10.0.0.11:8080");
	ck_assert_int_eq(u->servers[0].weight, 1);
	ck_assert_int_eq(u->servers[0].line, 30);
	ck_assert_str_eq(u->servers[0].file, conf_path);
	ck_assert_str_eq(u->servers[1].addr.text, "10.0.0.12:8080");
	ck_assert_int_eq(u->servers[1].weight, 2);
	ck_assert_str_eq(u->servers[2].addr.text, "[2001:db8::1]:80");
	ck_assert_int_eq(u->servers[2].weight, 1000);
	ck_assert_int_eq(u->balance, BALANCE_ROUND_ROBIN);
	ck_assert_int_eq(u->keepalive, 0);
	ck_assert_int_eq(u->keepalive_timeout_ms, 0);
	ck_assert_int_eq(u->connect_timeout_ms, 3000);
	ck_assert_int_eq(u->read_timeout_ms, 30000);
	ck_assert_int_eq(u->send_timeout_ms, 45000);

	ck_assert_uint_eq(c->nroutes, 3);
	r = &c->routes[0];
	ck_assert_str_eq(r->name, "main");
	ck_assert_int_eq(r->line, 42);
	ck_assert_str_eq(r->listener_name, "web");
	ck_assert_ptr_eq(r->listener, &c->listeners[0]);
	ck_assert_int_eq(r->host_kind, HOST_ANY);
	ck_assert_str_eq(r->path, "/");
	ck_assert_uint_eq(r->path_len, 1);
	ck_assert_ptr_eq(r->upstream, &c->upstreams[0]);
	r = &c->routes[1];
	ck_assert_ptr_null(r->listener_name);
	ck_assert_ptr_null(r->listener);
	ck_assert_int_eq(r->host_kind, HOST_WILDCARD);
	ck_assert_str_eq(r->host, ".example.com");
	ck_assert_str_eq(r->path, "/img/");
	ck_assert_uint_eq(r->path_len, 5);
	ck_assert_str_eq(r->upstream_name, "static");
	ck_assert_ptr_eq(r->upstream, &c->upstreams[1]);
	r = &c->routes[2];
	ck_assert_ptr_eq(r->listener, &c->listeners[1]);
	ck_assert_int_eq(r->host_kind, HOST_EXACT);
	ck_assert_str_eq(r->host, "www.example.com");
	ck_assert_str_eq(r->path, "/");
	conf_free(c);
}
END_TEST

START_TEST(test_defaults)
{
	struct conf	*c;
	long		 ncpu;

	c = load_ok(TAIL);
	ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	if (ncpu < 1)
		ncpu = 1;
	if (ncpu > 512)
		ncpu = 512;
	ck_assert_int_eq(c->g.workers, ncpu);
	ck_assert_ptr_null(c->g.user);
	ck_assert_ptr_null(c->g.group);
	ck_assert_str_eq(c->g.pid_file, "/run/portico.pid");
	ck_assert_str_eq(c->g.error_log, "stderr");
	ck_assert_int_eq(c->g.log_level, LOG_LVL_INFO);
	ck_assert_uint_eq(c->g.alogs.n, 0);
	ck_assert_int_eq(c->g.worker_connections, 10000);
	ck_assert_int_eq(c->g.shutdown_timeout_ms, 30000);
	ck_assert_int_eq(c->g.client_header_timeout_ms, 30000);
	ck_assert_int_eq(c->g.client_body_timeout_ms, 60000);
	ck_assert_int_eq(c->g.keepalive_timeout_ms, 75000);
	ck_assert_int_eq(c->g.send_timeout_ms, 60000);
	ck_assert_uint_eq(c->g.max_request_line, 8192);
	ck_assert_uint_eq(c->g.max_header_size, 16384);
	ck_assert_int_eq(c->g.max_headers, 100);
	ck_assert_int_eq(c->g.max_body_size, 0);
	ck_assert_uint_eq(c->g.buffer_size, 32768);

	ck_assert_int_eq(c->listeners[0].backlog, 511);
	ck_assert_int_eq(c->upstreams[0].balance, BALANCE_ROUND_ROBIN);
	ck_assert_int_eq(c->upstreams[0].keepalive, 32);
	ck_assert_int_eq(c->upstreams[0].keepalive_timeout_ms, 60000);
	ck_assert_int_eq(c->upstreams[0].connect_timeout_ms, 5000);
	ck_assert_int_eq(c->upstreams[0].read_timeout_ms, 60000);
	ck_assert_int_eq(c->upstreams[0].send_timeout_ms, 60000);
	ck_assert_int_eq(c->upstreams[0].servers[0].weight, 1);
	ck_assert_ptr_null(c->routes[0].listener);
	ck_assert_str_eq(c->routes[0].host, "*");
	ck_assert_int_eq(c->routes[0].host_kind, HOST_ANY);
	ck_assert_str_eq(c->routes[0].path, "/");
	ck_assert_uint_eq(c->routes[0].path_len, 1);
	conf_free(c);

	/* An empty [global] changes nothing; workers = auto neither. */
	c = load_ok("[global]\nworkers = auto\naccess_log = off\n" TAIL);
	ck_assert_int_eq(c->g.workers, ncpu);
	ck_assert_uint_eq(c->g.alogs.n, 0);
	conf_free(c);
}
END_TEST

START_TEST(test_duration)
{
	int64_t	 ms;

	ck_assert_int_eq(conf_parse_duration("500ms", &ms), 0);
	ck_assert_int_eq(ms, 500);
	ck_assert_int_eq(conf_parse_duration("5s", &ms), 0);
	ck_assert_int_eq(ms, 5000);
	ck_assert_int_eq(conf_parse_duration("5", &ms), 0);
	ck_assert_int_eq(ms, 5000);
	ck_assert_int_eq(conf_parse_duration("2m", &ms), 0);
	ck_assert_int_eq(ms, 120000);
	ck_assert_int_eq(conf_parse_duration("1h", &ms), 0);
	ck_assert_int_eq(ms, 3600000);
	ck_assert_int_eq(conf_parse_duration("0", &ms), 0);
	ck_assert_int_eq(ms, 0);
	ck_assert_int_eq(conf_parse_duration("0ms", &ms), 0);
	ck_assert_int_eq(ms, 0);
	ck_assert_int_eq(conf_parse_duration("596h", &ms), 0);
	ck_assert_int_eq(ms, 596LL * 3600000);

	ms = 42;
	ck_assert_int_eq(conf_parse_duration("", &ms), -1);
	ck_assert_int_eq(conf_parse_duration("s", &ms), -1);
	ck_assert_int_eq(conf_parse_duration("-1s", &ms), -1);
	ck_assert_int_eq(conf_parse_duration("+1s", &ms), -1);
	ck_assert_int_eq(conf_parse_duration(" 1s", &ms), -1);
	ck_assert_int_eq(conf_parse_duration("1 s", &ms), -1);
	ck_assert_int_eq(conf_parse_duration("1.5s", &ms), -1);
	ck_assert_int_eq(conf_parse_duration("1d", &ms), -1);
	ck_assert_int_eq(conf_parse_duration("1sec", &ms), -1);
	ck_assert_int_eq(conf_parse_duration("1S", &ms), -1);
	ck_assert_int_eq(conf_parse_duration("1hs", &ms), -1);
	ck_assert_int_eq(conf_parse_duration("100000h", &ms), -1);
	ck_assert_int_eq(conf_parse_duration("9223372036854775807", &ms), -1);
	ck_assert_int_eq(conf_parse_duration("99999999999999999999999ms",
	    &ms), -1);
	ck_assert_int_eq(ms, 42);
}
END_TEST

START_TEST(test_size)
{
	int64_t	 b;

	ck_assert_int_eq(conf_parse_size("512", &b), 0);
	ck_assert_int_eq(b, 512);
	ck_assert_int_eq(conf_parse_size("0", &b), 0);
	ck_assert_int_eq(b, 0);
	ck_assert_int_eq(conf_parse_size("16k", &b), 0);
	ck_assert_int_eq(b, 16384);
	ck_assert_int_eq(conf_parse_size("16K", &b), 0);
	ck_assert_int_eq(b, 16384);
	ck_assert_int_eq(conf_parse_size("8m", &b), 0);
	ck_assert_int_eq(b, 8 << 20);
	ck_assert_int_eq(conf_parse_size("2G", &b), 0);
	ck_assert_int_eq(b, 2LL << 30);
	ck_assert_int_eq(conf_parse_size("8589934591g", &b), 0);
	ck_assert_int_eq(b, 8589934591LL << 30);

	b = 42;
	ck_assert_int_eq(conf_parse_size("", &b), -1);
	ck_assert_int_eq(conf_parse_size("k", &b), -1);
	ck_assert_int_eq(conf_parse_size("-1", &b), -1);
	ck_assert_int_eq(conf_parse_size("1kb", &b), -1);
	ck_assert_int_eq(conf_parse_size("1t", &b), -1);
	ck_assert_int_eq(conf_parse_size("1 k", &b), -1);
	ck_assert_int_eq(conf_parse_size("1.5m", &b), -1);
	ck_assert_int_eq(conf_parse_size("8589934592g", &b), -1);
	ck_assert_int_eq(conf_parse_size("9223372036854775808", &b), -1);
	ck_assert_int_eq(b, 42);
}
END_TEST

START_TEST(test_addr)
{
	struct conf_addr	 a;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&a.ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&a.ss;

	ck_assert_int_eq(conf_parse_addr("1.2.3.4:80", 0, &a), 0);
	ck_assert_str_eq(a.text, "1.2.3.4:80");
	ck_assert_int_eq(sin->sin_family, AF_INET);
	ck_assert_int_eq(ntohs(sin->sin_port), 80);
	ck_assert_int_eq(ntohl(sin->sin_addr.s_addr), 0x01020304);
	ck_assert_int_eq(a.len, sizeof(struct sockaddr_in));

	ck_assert_int_eq(conf_parse_addr("[::1]:8080", 0, &a), 0);
	ck_assert_str_eq(a.text, "[::1]:8080");
	ck_assert_int_eq(sin6->sin6_family, AF_INET6);
	ck_assert_int_eq(ntohs(sin6->sin6_port), 8080);
	ck_assert(IN6_IS_ADDR_LOOPBACK(&sin6->sin6_addr));
	ck_assert_int_eq(a.len, sizeof(struct sockaddr_in6));

	/* Normalised text. */
	ck_assert_int_eq(conf_parse_addr("[2001:DB8:0:0::1]:443", 1, &a), 0);
	ck_assert_str_eq(a.text, "[2001:db8::1]:443");
	ck_assert_int_eq(conf_parse_addr("[::]:80", 1, &a), 0);
	ck_assert_str_eq(a.text, "[::]:80");

	/* Passive only: "*:PORT" and a bare port. */
	ck_assert_int_eq(conf_parse_addr("*:80", 1, &a), 0);
	ck_assert_str_eq(a.text, "0.0.0.0:80");
	ck_assert_int_eq(sin->sin_addr.s_addr, htonl(INADDR_ANY));
	ck_assert_int_eq(conf_parse_addr("8080", 1, &a), 0);
	ck_assert_str_eq(a.text, "0.0.0.0:8080");
	ck_assert_int_eq(ntohs(sin->sin_port), 8080);
	ck_assert_int_eq(conf_parse_addr("*:80", 0, &a), -1);
	ck_assert_int_eq(conf_parse_addr("8080", 0, &a), -1);

	/* Host names: resolved when active, refused when passive. */
	ck_assert_int_eq(conf_parse_addr("localhost:81", 0, &a), 0);
	ck_assert(strcmp(a.text, "127.0.0.1:81") == 0 ||
	    strcmp(a.text, "[::1]:81") == 0);
	ck_assert_int_eq(conf_parse_addr("localhost:81", 1, &a), -1);
	ck_assert_int_eq(conf_parse_addr("no-such-host.invalid:80", 0, &a),
	    -1);

	/* Ports. */
	ck_assert_int_eq(conf_parse_addr("1.2.3.4:65535", 0, &a), 0);
	ck_assert_int_eq(conf_parse_addr("1.2.3.4:1", 0, &a), 0);
	ck_assert_int_eq(conf_parse_addr("1.2.3.4:0", 0, &a), -1);
	ck_assert_int_eq(conf_parse_addr("1.2.3.4:0", 1, &a), -1);
	ck_assert_int_eq(conf_parse_addr("0", 1, &a), -1);
	ck_assert_int_eq(conf_parse_addr("65536", 1, &a), -1);
	ck_assert_int_eq(conf_parse_addr("1.2.3.4:65536", 0, &a), -1);
	ck_assert_int_eq(conf_parse_addr("1.2.3.4:-1", 0, &a), -1);
	ck_assert_int_eq(conf_parse_addr("1.2.3.4:+80", 0, &a), -1);
	ck_assert_int_eq(conf_parse_addr("1.2.3.4:http", 0, &a), -1);
	ck_assert_int_eq(conf_parse_addr("1.2.3.4:", 0, &a), -1);
	ck_assert_int_eq(conf_parse_addr("1.2.3.4", 0, &a), -1);
	ck_assert_int_eq(conf_parse_addr("1.2.3.4", 1, &a), -1);

	/* Malformed addresses. */
	ck_assert_int_eq(conf_parse_addr("", 1, &a), -1);
	ck_assert_int_eq(conf_parse_addr(":80", 1, &a), -1);
	ck_assert_int_eq(conf_parse_addr("1.2.3:80", 0, &a), -1);
	ck_assert_int_eq(conf_parse_addr("256.1.1.1:80", 0, &a), -1);
	ck_assert_int_eq(conf_parse_addr("::1:80", 0, &a), -1);
	ck_assert_int_eq(conf_parse_addr("[::1]80", 0, &a), -1);
	ck_assert_int_eq(conf_parse_addr("[::1:80", 0, &a), -1);
	ck_assert_int_eq(conf_parse_addr("[]:80", 0, &a), -1);
	ck_assert_int_eq(conf_parse_addr("[1.2.3.4]:80", 0, &a), -1);
	ck_assert_int_eq(conf_parse_addr("[::g]:80", 0, &a), -1);
	ck_assert_int_eq(conf_parse_addr("a b:80", 0, &a), -1);
	ck_assert_int_eq(conf_parse_addr("host_name:80", 0, &a), -1);
}
END_TEST

START_TEST(test_log_level_name)
{
	ck_assert_str_eq(conf_log_level_name(LOG_LVL_DEBUG), "debug");
	ck_assert_str_eq(conf_log_level_name(LOG_LVL_INFO), "info");
	ck_assert_str_eq(conf_log_level_name(LOG_LVL_NOTICE), "notice");
	ck_assert_str_eq(conf_log_level_name(LOG_LVL_WARN), "warn");
	ck_assert_str_eq(conf_log_level_name(LOG_LVL_ERROR), "error");
	ck_assert_str_eq(conf_log_level_name((enum log_level)99), "unknown");
}
END_TEST

START_TEST(test_missing_file)
{
	struct conf	*c;
	char		*errors = NULL;

	snprintf(conf_path, sizeof(conf_path), "/tmp/check_conf.missing");
	unlink(conf_path);
	c = conf_load(conf_path, &errors);
	ck_assert_ptr_null(c);
	ck_assert_ptr_nonnull(errors);
	ck_assert_str_eq(errors, "/tmp/check_conf.missing: cannot open: "
	    "No such file or directory\n");
	free(errors);

	/* A directory cannot be read. */
	snprintf(conf_path, sizeof(conf_path), "/tmp");
	c = conf_load(conf_path, &errors);
	ck_assert_ptr_null(c);
	ck_assert_msg(has_error(errors, 0, "read error"), "%s", errors);
	free(errors);

	/* NULL errors is allowed. */
	ck_assert_ptr_null(conf_load("/tmp/check_conf.missing", NULL));
	conf_free(NULL);
}
END_TEST

START_TEST(test_syntax)
{
	/* A line without '='. */
	expect_only_error("[global]\nworkers 4\n" TAIL, 2, "syntax error");
	/* Section headers. */
	expect_only_error("[global\n" TAIL, 1, "syntax error");
	expect_only_error("[global] x\n" TAIL, 1, "syntax error");
	/* A missing key name. */
	expect_only_error("[global]\n= 4\n" TAIL, 2, "key name");
	/* Keys before any section. */
	expect_only_error("workers = 4\n" TAIL, 1, "outside of any section");
	/* Continuation lines, including an indented key. */
	expect_only_error("[upstream x]\nserver = 10.0.0.1:80\n"
	    "  10.0.0.2:80\n" TAIL, 3, "continuation lines are not supported");
	expect_only_error("[global]\n\tworkers = 4\n" TAIL, 2,
	    "continuation");
}
END_TEST

START_TEST(test_nul)
{
	static const char	 text[] = "[global]\nuser = a\0b\n" TAIL;
	struct conf		*c;
	char			*errors = NULL;

	c = load_len(text, sizeof(text) - 1, &errors);
	ck_assert_ptr_null(c);
	ck_assert_msg(has_error(errors, 2, "NUL byte"), "%s", errors);
	ck_assert_int_eq(count_lines(errors), 1);
	free(errors);
}
END_TEST

START_TEST(test_syntax_ok)
{
	struct conf	*c;
	const char	*text;

	/* Comments, blank and indented, inline ';', BOM, CRLF, no final \n. */
	text = "\xef\xbb\xbf; comment\r\n"
	    "# another\r\n"
	    "   ; indented comment\r\n"
	    "\t\r\n"
	    "[global] ; the globals\r\n"
	    "user = www ; the user\r\n"
	    "pid_file = /tmp/a;b.pid\r\n"
	    "[listener web]\r\n"
	    "listen = 127.0.0.1:8080\r\n"
	    "[upstream app]\r\n"
	    "server = 127.0.0.1:9000\r\n"
	    "[route main]\r\n"
	    "path = /a#b\r\n"
	    "upstream = app";
	c = load_ok(text);
	ck_assert_str_eq(c->g.user, "www");
	ck_assert_str_eq(c->g.pid_file, "/tmp/a;b.pid");
	ck_assert_str_eq(c->routes[0].path, "/a#b");
	ck_assert_int_eq(c->listeners[0].line, 8);
	ck_assert_int_eq(c->upstreams[0].servers[0].line, 11);
	conf_free(c);
}
END_TEST

START_TEST(test_long_line)
{
	struct conf	*c;
	char		*text, *errors = NULL;
	size_t		 len;

	text = malloc(32768);
	ck_assert_ptr_nonnull(text);

	/* A 300 character value: too long for inih, must not be truncated. */
	len = (size_t)snprintf(text, 32768, "[global]\npid_file = /%0300d\n"
	    TAIL, 0);
	c = load_len(text, len, &errors);
	ck_assert_ptr_null(c);
	ck_assert_msg(has_error(errors, 2, "line too long"), "%s", errors);
	ck_assert_int_eq(count_lines(errors), 1);
	free(errors);

	/* Longer than the read buffer. */
	len = (size_t)snprintf(text, 32768, "[global]\npid_file = /%08000d\n"
	    "user = x\n" TAIL, 0);
	c = load_len(text, len, &errors);
	ck_assert_ptr_null(c);
	ck_assert_msg(has_error(errors, 2, "line too long"), "%s", errors);
	ck_assert_int_eq(count_lines(errors), 1);
	free(errors);

	/* A long comment is fine, whole-line or inline. */
	len = (size_t)snprintf(text, 32768, "[global]\n;%08000d\n"
	    "user = x ;%08000d\n" TAIL, 0, 0);
	c = load_len(text, len, &errors);
	ck_assert_msg(c != NULL, "%s", errors);
	ck_assert_str_eq(c->g.user, "x");
	conf_free(c);

	/* 199 characters is the limit. */
	len = (size_t)snprintf(text, 32768, "[global]\npid_file = /%0187d\n"
	    TAIL, 0);
	c = load_len(text, len, &errors);
	ck_assert_msg(c != NULL, "%s", errors);
	ck_assert_uint_eq(strlen(c->g.pid_file), 188);
	conf_free(c);
	len = (size_t)snprintf(text, 32768, "[global]\npid_file = /%0188d\n"
	    TAIL, 0);
	c = load_len(text, len, &errors);
	ck_assert_ptr_null(c);
	ck_assert_msg(has_error(errors, 2, "line too long"), "%s", errors);
	free(errors);
	free(text);
}
END_TEST

START_TEST(test_sections)
{
	expect_only_error("[frontend x]\nfoo = bar\n" TAIL, 1,
	    "unknown section [frontend x]");
	expect_only_error("[cache x]\nsize = 256m\n" TAIL, 1,
	    "[cache] takes no name");
	expect_only_error("[cache]\nsize = 2m\n[cache]\nsize = 3m\n" TAIL, 3,
	    "duplicate [cache] section");
	expect_only_error("[listener]\nlisten = 80\n" TAIL, 1, "needs a name");
	expect_only_error(TAIL "[upstream]\n", 7, "needs a name");
	expect_only_error(TAIL "[route]\n", 7, "needs a name");
	expect_only_error(TAIL "[route a b]\n", 7, "bad route name");
	expect_only_error(TAIL "[route a/b]\n", 7, "bad route name");
	expect_only_error(TAIL "[route  a]\n", 7, "bad route name");
	expect_only_error("[global x]\n" TAIL, 1, "takes no name");
	expect_only_error("[Global]\n" TAIL, 1, "unknown section");
	expect_only_error("[]\n" TAIL, 1, "unknown section");
	expect_only_error("[global]\n[global]\n" TAIL, 2,
	    "duplicate [global] section");
}
END_TEST

START_TEST(test_duplicate_names)
{
	struct conf	*c;
	char		*errors = NULL, want[128];

	c = load(TAIL "[upstream app]\nserver = 10.0.0.1:80\n", &errors);
	ck_assert_ptr_null(c);
	snprintf(want, sizeof(want), "duplicate upstream 'app' (first at "
	    "%s:3)", conf_path);
	ck_assert_msg(has_error(errors, 7, want), "%s", errors);
	ck_assert_int_eq(count_lines(errors), 1);
	free(errors);

	c = load(TAIL "[listener web]\nlisten = 127.0.0.1:8081\n", &errors);
	ck_assert_ptr_null(c);
	snprintf(want, sizeof(want), "duplicate listener 'web' (first at "
	    "%s:1)", conf_path);
	ck_assert_msg(has_error(errors, 7, want), "%s", errors);
	free(errors);

	c = load(TAIL "[route main]\nupstream = app\npath = /x\n", &errors);
	ck_assert_ptr_null(c);
	snprintf(want, sizeof(want), "duplicate route 'main' (first at "
	    "%s:5)", conf_path);
	ck_assert_msg(has_error(errors, 7, want), "%s", errors);
	free(errors);

	/* The keys of a duplicate section are still checked. */
	c = load(TAIL "[upstream app]\nserver = 10.0.0.1:0\n", &errors);
	ck_assert_ptr_null(c);
	ck_assert_msg(has_error(errors, 7, "duplicate upstream"), "%s",
	    errors);
	ck_assert_msg(has_error(errors, 8, "port"), "%s", errors);
	free(errors);

	/* The same name in different kinds is fine. */
	conf_free(load_ok("[listener app]\nlisten = 80\n"
	    "[upstream app]\nserver = 10.0.0.1:80\n"
	    "[route app]\nlistener = app\nupstream = app\n"));
}
END_TEST

START_TEST(test_keys)
{
	struct conf	*c;
	char		*errors = NULL, want[128];

	expect_only_error("[upstream x]\nserver = 10.0.0.1:80\nfoo = 1\n"
	    TAIL, 3, "unknown key 'foo' in [upstream x]");
	expect_only_error("[global]\nlisten = 80\n" TAIL, 2,
	    "unknown key 'listen' in [global]");
	expect_only_error(TAIL "workers = 2\n", 7,
	    "unknown key 'workers' in [route main]");

	c = load("[global]\nuser = a\n\nuser = b\n" TAIL, &errors);
	ck_assert_ptr_null(c);
	snprintf(want, sizeof(want), "duplicate key 'user' in [global] "
	    "(first at %s:2)", conf_path);
	ck_assert_msg(has_error(errors, 4, want), "%s", errors);
	ck_assert_int_eq(count_lines(errors), 1);
	free(errors);
	expect_only_error(TAIL "upstream = app\n", 7, "duplicate key");
	expect_only_error("[listener x]\nlisten = 81\nbacklog = 1\n"
	    "backlog = 2\n" TAIL, 4, "duplicate key 'backlog'");

	/* Empty values. */
	expect_only_error("[global]\nuser =\n" TAIL, 2, "empty value");
	expect_only_error("[global]\nuser = ; nobody\n" TAIL, 2,
	    "empty value for 'user'");
	expect_only_error(TAIL "path =\n", 7, "empty value");

	/* Repeatable keys. */
	c = load_ok("[listener x]\nlisten = 81\nlisten = 82\nlisten = 83\n"
	    TAIL);
	ck_assert_uint_eq(c->listeners[0].naddrs, 3);
	conf_free(c);
}
END_TEST

START_TEST(test_log_paths)
{
	struct conf	*c;
	char		*errors = NULL, dir[] = "/tmp/check_conf_logs.XXXXXX";
	char		 text[512], want[512];

	/* Relative paths are refused where they are read. */
	expect_only_error("[global]\naccess_log = syslog\n" TAIL, 2,
	    "access_log 'syslog' must be an absolute path, syslog:server=ADDR or off");
	expect_only_error("[global]\nerror_log = logs/error.log\n" TAIL, 2,
	    "error_log 'logs/error.log' must be an absolute path");
	expect_only_error("[global]\npid_file = portico.pid\n" TAIL, 2,
	    "pid_file 'portico.pid' must be an absolute path");
	conf_free(load_ok("[global]\nerror_log = syslog\naccess_log = off\n"
	    TAIL));

	/* What only conf_check() sees: users, groups, files. */
	ck_assert_ptr_nonnull(mkdtemp(dir));
	snprintf(text, sizeof(text), "[global]\nuser = nosuchuser\n"
	    "group = nosuchgroup\naccess_log = %s/no/access.log\n"
	    "error_log = %s\n" TAIL, dir, dir);
	c = load_ok(text);
	ck_assert_int_eq(conf_check(c, &errors), -1);
	ck_assert_msg(has_error(errors, 2, "unknown user nosuchuser"), "%s",
	    errors);
	ck_assert_msg(has_error(errors, 3, "unknown group nosuchgroup"), "%s",
	    errors);
	snprintf(want, sizeof(want), "access_log %s/no/access.log: directory",
	    dir);
	ck_assert_msg(has_error(errors, 4, want), "%s", errors);
	snprintf(want, sizeof(want), "error_log %s: cannot open: Is a "
	    "directory", dir);
	ck_assert_msg(has_error(errors, 5, want), "%s", errors);
	ck_assert_int_eq(count_lines(errors), 4);
	free(errors);
	conf_free(c);

	snprintf(text, sizeof(text), "[global]\nuser = root\n"
	    "access_log = %s/access.log\n" TAIL, dir);
	c = load_ok(text);
	ck_assert_int_eq(conf_check(c, &errors), 0);
	ck_assert_ptr_null(errors);
	ck_assert_uint_eq(c->g.uid, 0);
	conf_free(c);
	snprintf(text, sizeof(text), "%s/access.log", dir);
	unlink(text);
	rmdir(dir);
}
END_TEST

START_TEST(test_unsupported)
{
	expect_upstream_error("health_check = POST /x", "bad health_check");
	expect_upstream_error("health_check = GET healthz", "must start with /");
	expect_upstream_error("health_status = 200-100", "bad health_status");
	expect_upstream_error("health_status = 99", "bad health_status");
	expect_upstream_error("health_rise = 0", "health_rise");
	expect_upstream_error("health_interval = 10ms", "health_interval");
	expect_upstream_error("balance = fastest", "unknown balance");
	expect_route_error("cache = maybe", "on or off");
	conf_free(load_ok(TAIL "cache = off\n"));
}
END_TEST

START_TEST(test_cache_keys)
{
	struct conf	*c;

	/* cache = on without a [cache] section: the defaults. */
	c = load_ok(TAIL "cache = on\n");
	ck_assert_int_eq(c->cache_used, 1);
	ck_assert_int_eq(c->routes[0].cache, 1);
	ck_assert_uint_eq(c->cache.size, (size_t)256 << 20);
	ck_assert_int_eq(c->cache.max_object_size, 8 << 20);
	ck_assert_int_eq(c->cache.lock_timeout_ms, 5000);
	ck_assert_uint_eq(c->cache.npurge_allow, 2);	/* loopback */
	ck_assert_int_eq(c->cache.invalidate_unsafe, CACHE_UNSAFE_ON);
	conf_free(c);
	c = load_ok("[cache]\ninvalidate_unsafe = purge_allow\n" TAIL "cache = on\n");
	ck_assert_int_eq(c->cache.invalidate_unsafe, CACHE_UNSAFE_PURGE_ALLOW);
	conf_free(c);
	c = load_ok("[cache]\ninvalidate_unsafe = off\n" TAIL "cache = on\n");
	ck_assert_int_eq(c->cache.invalidate_unsafe, CACHE_UNSAFE_OFF);
	conf_free(c);
	c = load_ok("[cache]\nsize = 64m\nmax_object_size = 1m\n"
	    "lock_timeout = 500ms\nheuristic_percent = 20\n"
	    "heuristic_max = 1h\npurge_allow = 10.0.0.0/8\n" TAIL
	    "cache = on\ncache_set_cookie = on\n"
	    "cache_request_no_cache = ignore\ncache_default_ttl = 2m\n"
	    "cache_stale_if_error = 1h\n");
	ck_assert_uint_eq(c->cache.size, (size_t)64 << 20);
	ck_assert_int_eq(c->cache.max_object_size, 1 << 20);
	ck_assert_int_eq(c->cache.lock_timeout_ms, 500);
	ck_assert_int_eq(c->cache.heuristic_percent, 20);
	ck_assert_int_eq(c->cache.heuristic_max_ms, 3600 * 1000);
	ck_assert_uint_eq(c->cache.npurge_allow, 1);
	ck_assert_int_eq(c->routes[0].cache_set_cookie, 1);
	ck_assert_int_eq(c->routes[0].cache_ignore_no_cache, 1);
	ck_assert_int_eq(c->routes[0].cache_default_ttl_ms, 120 * 1000);
	ck_assert_int_eq(c->routes[0].cache_stale_if_error_ms, 3600 * 1000);
	conf_free(c);
	/* A [cache] section alone does not turn caching on. */
	c = load_ok("[cache]\nsize = 2m\n" TAIL);
	ck_assert_int_eq(c->cache_used, 0);
	conf_free(c);
	expect_only_error("[cache]\nsize = 100k\n" TAIL, 2, "bad size");
	expect_only_error("[cache]\nheuristic_percent = 101\n" TAIL, 2,
	    "heuristic_percent");
	expect_only_error("[cache]\npurge_allow = nowhere\n" TAIL, 2,
	    "bad purge_allow address");
	expect_only_error("[cache]\ncolour = blue\n" TAIL, 2, "unknown key");
	expect_only_error("[cache]\ninvalidate_unsafe = yes\n" TAIL, 2,
	    "expected on, purge_allow or off");
	expect_route_error("cache_request_no_cache = maybe", "honor or ignore");
	expect_route_error("cache_set_cookie = yes", "on or off");

	/* RFC 9213: the target list and stripping. */
	c = load_ok(TAIL "cache = on\n");
	ck_assert_uint_eq(c->routes[0].ncache_targeted, 1);
	ck_assert_str_eq(c->routes[0].cache_targeted[0], "cdn-cache-control");
	ck_assert_int_eq(c->routes[0].cache_targeted_strip, 0);
	conf_free(c);
	c = load_ok(TAIL "cache = on\ncache_targeted_fields = "
	    "Portico-Cache-Control\tCDN-Cache-Control\n"
	    "cache_targeted_strip = on\n");
	ck_assert_uint_eq(c->routes[0].ncache_targeted, 2);
	ck_assert_str_eq(c->routes[0].cache_targeted[0], "portico-cache-control");
	ck_assert_str_eq(c->routes[0].cache_targeted[1], "cdn-cache-control");
	ck_assert_int_eq(c->routes[0].cache_targeted_strip, 1);
	conf_free(c);
	c = load_ok(TAIL "cache = on\ncache_targeted_fields = none\n");
	ck_assert_uint_eq(c->routes[0].ncache_targeted, 0);
	conf_free(c);
	expect_route_error("cache_targeted_fields = Cache-Control",
	    "not a targeted field");
	expect_route_error("cache_targeted_fields = a A", "named twice");
	expect_route_error("cache_targeted_fields = a,b", "not a field name");
	expect_route_error("cache_targeted_fields = a b c d e f g h i",
	    "too many");
	expect_route_error("cache_targeted_strip = yes", "on or off");
}
END_TEST

/* Path normalization and forwarded-field keys: defaults, inheritance. */
START_TEST(test_request_keys)
{
	struct conf	*c;

	c = load_ok(TAIL);
	ck_assert_int_eq(c->g.merge_slashes, 1);
	ck_assert_int_eq(c->g.allow_encoded_slash, 0);
	ck_assert_int_eq(c->g.allow_encoded_nul, 0);
	ck_assert_int_eq(c->g.allow_backslash, 0);
	ck_assert_int_eq(c->g.allow_dotdot_above_root, 0);
	ck_assert_int_eq(c->routes[0].normalize_path, 1);
	ck_assert_int_eq(c->routes[0].pass_client_identity_headers, 0);
	conf_free(c);
	/* [global] sets the routes' default, wherever it is in the file. */
	c = load_ok(TAIL "[route other]\npath = /o/\nupstream = app\n"
	    "normalize_path = on\npass_client_identity_headers = off\n"
	    "[global]\nmerge_slashes = off\nallow_encoded_slash = on\n"
	    "allow_encoded_nul = on\nallow_backslash = on\n"
	    "allow_dotdot_above_root = on\nnormalize_path = off\n"
	    "pass_client_identity_headers = on\n");
	ck_assert_int_eq(c->g.merge_slashes, 0);
	ck_assert_int_eq(c->g.allow_encoded_slash, 1);
	ck_assert_int_eq(c->g.allow_encoded_nul, 1);
	ck_assert_int_eq(c->g.allow_backslash, 1);
	ck_assert_int_eq(c->g.allow_dotdot_above_root, 1);
	ck_assert_int_eq(c->routes[0].normalize_path, 0);
	ck_assert_int_eq(c->routes[0].pass_client_identity_headers, 1);
	ck_assert_int_eq(c->routes[1].normalize_path, 1);
	ck_assert_int_eq(c->routes[1].pass_client_identity_headers, 0);
	conf_free(c);
	expect_only_error("[global]\nmerge_slashes = yes\n" TAIL, 2,
	    "bad merge_slashes 'yes' (on or off)");
	expect_route_error("normalize_path = 1", "on or off");
	expect_route_error("pass_client_identity_headers = true", "on or off");
	expect_route_error("merge_slashes = off", "unknown key");
}
END_TEST

/* TLS keys: parsing and the checks of conf_load (files load in tls.c). */
START_TEST(test_tls_keys)
{
	struct conf	*c;

	c = load_ok("[global]\ntls_ticket_rotation = 30m\n"
	    "[listener s]\nlisten = 127.0.0.1:8443\n"
	    "tls_certificate = /a.pem\ntls_key = /a.key\n"
	    "tls_certificate = /b.pem\ntls_key = /b.key\n"
	    "tls_protocols = TLSv1.3\ntls_ciphers = ECDHE+AESGCM\n"
	    "tls_client_ca = /ca.pem\ntls_verify_client = optional\n"
	    "tls_handshake_timeout = 3s\n"
	    "[listener plain]\nlisten = 127.0.0.1:8080\nredirect = https:8443\n"
	    "[upstream app]\nserver = 127.0.0.1:9000 tls\n"
	    "server = LocalHost:443 weight=2 tls\n"
	    "tls_ca = /ca.pem\ntls_server_name = app.internal\n"
	    "[upstream all]\nserver = 127.0.0.1:9001\ntls = on\ntls_verify = off\n"
	    "[route main]\nupstream = app\nhsts = 180d includeSubDomains\n");
	ck_assert_int_eq(c->g.tls_ticket_rotation_ms, 30 * 60 * 1000);
	ck_assert_uint_eq(c->listeners[0].ntls_cert, 2);
	ck_assert_uint_eq(c->listeners[0].ntls_key, 2);
	ck_assert_str_eq(c->listeners[0].tls_cert[1].path, "/b.pem");
	ck_assert_int_eq(c->listeners[0].tls_key[1].line, 8);
	ck_assert_uint_eq(c->listeners[0].tls_protocols, CONF_TLS_V13);
	ck_assert_str_eq(c->listeners[0].tls_ciphers, "ECDHE+AESGCM");
	ck_assert_int_eq(c->listeners[0].tls_verify_client, TLS_VERIFY_OPTIONAL);
	ck_assert_int_eq(c->listeners[0].tls_handshake_timeout_ms, 3000);
	ck_assert_int_eq(c->listeners[1].redirect_https, 1);
	ck_assert_int_eq(c->listeners[1].redirect_port, 8443);
	ck_assert_int_eq(c->listeners[1].tls_protocols, CONF_TLS_V12 | CONF_TLS_V13);
	ck_assert_int_eq(c->upstreams[0].servers[0].tls, 1);
	ck_assert_ptr_null(c->upstreams[0].servers[0].host);
	ck_assert_str_eq(c->upstreams[0].servers[1].host, "localhost");
	ck_assert_int_eq(c->upstreams[0].servers[1].weight, 2);
	ck_assert_int_eq(c->upstreams[0].tls_verify, 1);
	ck_assert_str_eq(c->upstreams[0].tls_server_name, "app.internal");
	ck_assert_int_eq(c->upstreams[1].servers[0].tls, 1);
	ck_assert_int_eq(c->upstreams[1].tls_verify, 0);
	ck_assert_str_eq(c->routes[0].hsts,
	    "max-age=15552000; includeSubDomains");
	conf_free(c);

	expect_only_error("[listener x]\nlisten = 81\n"
	    "tls_certificate = /a.pem\n" TAIL, 3,
	    "1 tls_certificate but 0 tls_key");
	expect_only_error("[listener x]\nlisten = 81\n"
	    "tls_certificate = /a.pem\ntls_key = /a.key\ntls_key = /b.key\n"
	    TAIL, 5, "2 tls_key");
	expect_only_error("[listener x]\nlisten = 81\n"
	    "tls_ciphers = HIGH\n" TAIL, 3, "tls_ciphers needs tls_certificate");
	expect_only_error("[listener x]\nlisten = 81\n"
	    "tls_certificate = /a.pem\ntls_key = /a.key\n"
	    "tls_protocols = TLSv1.1 TLSv1.2\n" TAIL, 5, "insecure");
	expect_only_error("[listener x]\nlisten = 81\n"
	    "tls_certificate = /a.pem\ntls_key = /a.key\n"
	    "tls_protocols = TLSv9\n" TAIL, 5, "bad tls_protocols");
	expect_only_error("[listener x]\nlisten = 81\n"
	    "tls_certificate = /a.pem\ntls_key = /a.key\n"
	    "tls_verify_client = on\n" TAIL, 5, "needs tls_client_ca");
	expect_only_error("[listener x]\nlisten = 81\n"
	    "tls_certificate = /a.pem\ntls_key = /a.key\n"
	    "tls_verify_client = maybe\n" TAIL, 5, "bad tls_verify_client");
	expect_only_error("[listener x]\nlisten = 81\n"
	    "tls_certificate = /a.pem\ntls_key = /a.key\n"
	    "tls_client_ca = /ca.pem\n" TAIL, 5, "needs tls_verify_client");
	expect_only_error("[listener x]\nlisten = 81\n"
	    "tls_certificate = /a.pem\ntls_key = /a.key\n"
	    "redirect = https\n" TAIL, 5, "without TLS");
	expect_only_error("[listener x]\nlisten = 81\nredirect = http\n"
	    TAIL, 3, "bad redirect");
	expect_upstream_error("tls_ca = /ca.pem", "tls_ca needs tls = on");
	expect_upstream_error("tls_verify = off", "tls_verify needs tls = on");
	expect_upstream_error("tls = yes", "bad tls 'yes'");
	expect_only_error("[listener x]\nlisten = 81\n[upstream u]\n"
	    "server = 10.0.0.1:80 tls\ntls_verify = maybe\n" TAIL, 5,
	    "bad tls_verify");
	expect_only_error("[listener x]\nlisten = 81\n[upstream u]\n"
	    "server = 10.0.0.1:80 tls tls\n" TAIL, 4, "'tls' given twice");
	/* HTTP probes speak TLS (master/health_tls.c). */
	conf_free(load_ok("[listener x]\nlisten = 81\n[upstream u]\n"
	    "server = 10.0.0.1:80 tls\nhealth_check = GET /\n" TAIL));
	conf_free(load_ok("[listener x]\nlisten = 81\n[upstream u]\n"
	    "server = 10.0.0.1:80 tls\nhealth_check = tcp\n" TAIL));
	expect_route_error("hsts = 1x", "bad hsts");
	expect_route_error("hsts = 1d sometimes", "bad hsts");
	expect_route_error("hsts = 100000d", "bad hsts");
	expect_only_error("[global]\ntls_ticket_rotation = 10s\n" TAIL, 2,
	    "tls_ticket_rotation");
	conf_free(load_ok(TAIL "hsts = off\n"));
}
END_TEST

START_TEST(test_balancing_keys)
{
	struct conf	*c;

	c = load_ok("[listener x]\nlisten = 81\n[upstream app]\n"
	    "server = 10.0.0.1:80 weight=3 max_conns=7\n"
	    "server = 10.0.0.2:80 backup\n"
	    "balance = hash\nhash_key = cookie:session\nslow_start = 30s\n"
	    "[route r]\nupstream = app\n");
	ck_assert_int_eq(c->upstreams[0].balance, BALANCE_HASH);
	ck_assert_int_eq(c->upstreams[0].hash_key, HASH_KEY_COOKIE);
	ck_assert_str_eq(c->upstreams[0].hash_key_name, "session");
	ck_assert_int_eq(c->upstreams[0].slow_start_ms, 30000);
	ck_assert_int_eq(c->upstreams[0].servers[0].weight, 3);
	ck_assert_int_eq(c->upstreams[0].servers[0].max_conns, 7);
	ck_assert_int_eq(c->upstreams[0].servers[0].backup, 0);
	ck_assert_int_eq(c->upstreams[0].servers[1].backup, 1);
	ck_assert_int_eq(c->upstreams[0].servers[1].max_conns, 0);
	conf_free(c);
	c = load_ok("[listener x]\nlisten = 81\n[upstream app]\n"
	    "server = 10.0.0.1:80\nbalance = least_conn\n"
	    "[upstream b]\nserver = 10.0.0.1:80\nbalance = ip_hash\n"
	    "[upstream c]\nserver = 10.0.0.1:80\nbalance = random\n"
	    "[upstream d]\nserver = 10.0.0.1:80\nbalance = hash\n"
	    "[route r]\nupstream = app\n");
	ck_assert_int_eq(c->upstreams[0].balance, BALANCE_LEAST_CONN);
	ck_assert_int_eq(c->upstreams[1].balance, BALANCE_IP_HASH);
	ck_assert_int_eq(c->upstreams[2].balance, BALANCE_RANDOM);
	ck_assert_int_eq(c->upstreams[3].balance, BALANCE_HASH);
	ck_assert_int_eq(c->upstreams[3].hash_key, HASH_KEY_URI);
	conf_free(c);
	expect_only_error(TAIL "[upstream other]\nserver = 10.0.0.1:80\n"
	    "balance = hash\nhash_key = header:\n", 10, "bad hash_key");
	expect_only_error(TAIL "[upstream other]\nserver = 10.0.0.1:80\n"
	    "balance = hash\nhash_key = body\n", 10, "bad hash_key");
	expect_upstream_error("hash_key = uri", "needs balance = hash");
	c = load_ok("[listener x]\nlisten = 81\n[upstream app]\n"
	    "server = 10.0.0.1:80\nhealth_check = HEAD /ping\n"
	    "health_interval = 500ms\nhealth_timeout = 200ms\nhealth_rise = 3\n"
	    "health_fall = 4\nhealth_status = 204\nhealth_body = ok\n"
	    "health_host = app.internal\nmax_fails = 5\nfail_timeout = 30s\n"
	    "[upstream b]\nserver = 10.0.0.1:80\nhealth_check = tcp\n"
	    "[route r]\nupstream = app\n");
	ck_assert_int_eq(c->upstreams[0].health, HEALTH_HTTP);
	ck_assert_str_eq(c->upstreams[0].health_method, "HEAD");
	ck_assert_str_eq(c->upstreams[0].health_path, "/ping");
	ck_assert_int_eq(c->upstreams[0].health_interval_ms, 500);
	ck_assert_int_eq(c->upstreams[0].health_timeout_ms, 200);
	ck_assert_int_eq(c->upstreams[0].health_rise, 3);
	ck_assert_int_eq(c->upstreams[0].health_fall, 4);
	ck_assert_int_eq(c->upstreams[0].health_status_min, 204);
	ck_assert_int_eq(c->upstreams[0].health_status_max, 204);
	ck_assert_str_eq(c->upstreams[0].health_body, "ok");
	ck_assert_str_eq(c->upstreams[0].health_host, "app.internal");
	ck_assert_int_eq(c->upstreams[0].max_fails, 5);
	ck_assert_int_eq(c->upstreams[0].fail_timeout_ms, 30000);
	ck_assert_int_eq(c->upstreams[1].health, HEALTH_TCP);
	ck_assert_int_eq(c->upstreams[1].health_status_min, 200);
	ck_assert_int_eq(c->upstreams[1].health_status_max, 399);
	ck_assert_int_eq(c->upstreams[1].max_fails, 1);
	conf_free(c);
	c = load_ok("[listener x]\nlisten = 81\n[upstream app]\n"
	    "server = 10.0.0.1:80\nretry_on = error 502 504\nretries = 2\n"
	    "retry_timeout = 5s\n[upstream b]\nserver = 10.0.0.1:80\n"
	    "retry_on = off\n[upstream d]\nserver = 10.0.0.1:80\n"
	    "[route r]\nupstream = app\n");
	ck_assert_uint_eq(c->upstreams[0].retry_on, RETRY_ERROR | RETRY_502 | RETRY_504);
	ck_assert_int_eq(c->upstreams[0].retries, 2);
	ck_assert_int_eq(c->upstreams[0].retry_timeout_ms, 5000);
	ck_assert_uint_eq(c->upstreams[1].retry_on, 0);
	ck_assert_uint_eq(c->upstreams[2].retry_on, RETRY_ERROR | RETRY_TIMEOUT);
	ck_assert_int_eq(c->upstreams[2].retries, -1);
	conf_free(c);
	expect_upstream_error("retry_on = error 404", "bad retry_on");
	expect_upstream_error("fail_on_5xx = yes", "bad fail_on_5xx");
	c = load_ok(TAIL "[upstream z]\nserver = 10.0.0.1:80\nfail_on_5xx = on\n");
	ck_assert_int_eq(c->upstreams[0].fail_on_5xx, 0);
	ck_assert_int_eq(c->upstreams[1].fail_on_5xx, 1);
	conf_free(c);
	/* protocol = http1 | h2 (up_h2.c) */
	c = load_ok(TAIL "[upstream g]\nserver = 10.0.0.1:80\nprotocol = h2\n"
	    "[upstream h]\nserver = 10.0.0.1:80\nprotocol = http1\n");
	ck_assert_int_eq(c->upstreams[0].protocol, UP_PROTO_HTTP1);
	ck_assert_int_eq(c->upstreams[1].protocol, UP_PROTO_H2);
	ck_assert_int_eq(c->upstreams[2].protocol, UP_PROTO_HTTP1);
	conf_free(c);
	expect_upstream_error("protocol = h3", "unknown protocol");
	/* HTTP probes speak HTTP/2 (master/health_h2.c). */
	c = load_ok(TAIL "[upstream g]\nserver = 10.0.0.1:80\nprotocol = h2\n"
	    "health_check = GET /h\n");
	ck_assert_int_eq(c->upstreams[1].health, HEALTH_HTTP);
	conf_free(c);
	expect_upstream_error("protocol = h2\nserver = 10.0.0.2:80 send_proxy=v1",
	    "cannot send_proxy");
	expect_upstream_error("retries = 101", "retries");
	expect_upstream_error("queue = -1", "queue");
	expect_upstream_error("queue_timeout = 0", "queue_timeout");
	c = load_ok(TAIL "[upstream q]\nserver = 10.0.0.1:80 max_conns=3\n"
	    "queue = 10\nqueue_timeout = 2s\n");
	ck_assert_int_eq(c->upstreams[0].queue, 0);
	ck_assert_int_eq(c->upstreams[0].queue_timeout_ms, 5000);
	ck_assert_int_eq(c->upstreams[1].queue, 10);
	ck_assert_int_eq(c->upstreams[1].queue_timeout_ms, 2000);
	conf_free(c);
	expect_upstream_error("server = 10.0.0.2:80 max_conns=0", "max_conns");
	expect_upstream_error("server = 10.0.0.2:80 backup backup", "twice");
	expect_upstream_error("server = 10.0.0.2:80 slow", "unknown server option");
	expect_upstream_error("server = 10.0.0.2:80 send_proxy=v3",
	    "send_proxy must be v1 or v2");
	expect_upstream_error("server = 10.0.0.2:80 send_proxy=",
	    "send_proxy must be v1 or v2");
	expect_upstream_error("server = 10.0.0.2:80 send_proxy=v1 send_proxy=v2",
	    "'send_proxy' given twice");
	c = load_ok(TAIL "[upstream s]\nserver = 10.0.0.1:80 send_proxy=v1\n"
	    "server = 10.0.0.2:80 tls send_proxy=v2\nserver = 10.0.0.3:80\n");
	ck_assert_int_eq(c->upstreams[0].servers[0].send_proxy, 0);
	ck_assert_int_eq(c->upstreams[1].servers[0].send_proxy, 1);
	ck_assert_int_eq(c->upstreams[1].servers[1].send_proxy, 2);
	ck_assert_int_eq(c->upstreams[1].servers[1].tls, 1);
	ck_assert_int_eq(c->upstreams[1].servers[2].send_proxy, 0);
	conf_free(c);
}
END_TEST

START_TEST(test_status_route)
{
	struct conf		*c;
	struct sockaddr_in	 a4;
	struct sockaddr_in6	 a6;

	c = load_ok("[listener x]\nlisten = 81\n[upstream app]\n"
	    "server = 10.0.0.1:80\n[route r]\nupstream = app\n"
	    "[route s]\npath = /status\nhandler = status\n"
	    "[route t]\npath = /admin\nupstream = app\n"
	    "allow = 10.0.0.0/8 192.0.2.7\nallow = 2001:db8::/32\n");
	ck_assert_int_eq(c->routes[1].handler, HANDLER_STATUS);
	ck_assert_ptr_null(c->routes[1].upstream);
	/* A status route without allow is loopback only. */
	ck_assert_uint_eq(c->routes[1].nallow, 2);
	memset(&a4, 0, sizeof(a4));
	a4.sin_family = AF_INET;
	inet_pton(AF_INET, "127.0.0.1", &a4.sin_addr);
	ck_assert(conf_cidr_match(c->routes[1].allow, c->routes[1].nallow,
	    (struct sockaddr *)&a4));
	inet_pton(AF_INET, "10.1.2.3", &a4.sin_addr);
	ck_assert(!conf_cidr_match(c->routes[1].allow, c->routes[1].nallow,
	    (struct sockaddr *)&a4));
	ck_assert_uint_eq(c->routes[2].nallow, 3);
	ck_assert(conf_cidr_match(c->routes[2].allow, 3, (struct sockaddr *)&a4));
	inet_pton(AF_INET, "192.0.2.7", &a4.sin_addr);
	ck_assert(conf_cidr_match(c->routes[2].allow, 3, (struct sockaddr *)&a4));
	inet_pton(AF_INET, "192.0.2.8", &a4.sin_addr);
	ck_assert(!conf_cidr_match(c->routes[2].allow, 3, (struct sockaddr *)&a4));
	memset(&a6, 0, sizeof(a6));
	a6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8:1::5", &a6.sin6_addr);
	ck_assert(conf_cidr_match(c->routes[2].allow, 3, (struct sockaddr *)&a6));
	inet_pton(AF_INET6, "2001:db9::5", &a6.sin6_addr);
	ck_assert(!conf_cidr_match(c->routes[2].allow, 3, (struct sockaddr *)&a6));
	conf_free(c);
	expect_route_error("handler = stats", "bad handler");
	expect_route_error("allow = ,", "allow lists no address");
	expect_upstream_error("server = 10.0.0.1:80 weight=2", "already in upstream");
	expect_route_error("allow = 10.0.0.0/33", "bad allow");
	expect_route_error("allow = example.com", "bad allow");
	expect_only_error(TAIL "[route s]\npath = /s\nhandler = status\n"
	    "upstream = app\n", 10, "status route has no upstream");
}
END_TEST

/* Servers from DNS: the slots a resolve or srv line gives, and bad lines. */
START_TEST(test_dns_servers)
{
	struct conf		*c;
	struct conf_upstream	*u;
	int			 i;

	c = load_ok("[global]\nresolver = 10.0.0.2 [::1]:5353,127.0.0.1:53\n"
	    "resolver_timeout = 2s\ndns_min_ttl = 500ms\ndns_max_ttl = 1m\n"
	    TAIL "[upstream dns]\n"
	    "server = 10.0.0.1:80\n"
	    "server = Web.Example.com:8080 resolve max_addresses=3 weight=4 "
	    "max_conns=9\n"
	    "server = _http._tcp.example.com srv backup\n"
	    "server = api.example.com:80 resolve\n");
	ck_assert_str_eq(c->g.resolver, "10.0.0.2:53,[::1]:5353,127.0.0.1:53");
	ck_assert_int_eq(c->g.resolver_timeout_ms, 2000);
	ck_assert_int_eq(c->g.dns_min_ttl_ms, 500);
	ck_assert_int_eq(c->g.dns_max_ttl_ms, 60000);
	u = &c->upstreams[1];
	ck_assert_str_eq(u->name, "dns");
	/* 1 fixed, 3 resolve slots, 16 srv slots (the default), 16 more. */
	ck_assert_uint_eq(u->nservers, 1 + 3 + CONF_DNS_SLOTS + CONF_DNS_SLOTS);
	ck_assert_int_eq(u->servers[0].dns, CONF_DNS_NONE);
	for (i = 0; i < 3; i++) {
		ck_assert_int_eq(u->servers[1 + i].dns, CONF_DNS_RESOLVE);
		ck_assert_str_eq(u->servers[1 + i].dns_name, "web.example.com");
		ck_assert_int_eq(u->servers[1 + i].dns_port, 8080);
		ck_assert_int_eq(u->servers[1 + i].dns_slot, i);
		ck_assert_int_eq(u->servers[1 + i].dns_slots, 3);
		ck_assert_int_eq(u->servers[1 + i].weight, 4);
		ck_assert_int_eq(u->servers[1 + i].max_conns, 9);
		ck_assert_str_eq(u->servers[1 + i].host, "web.example.com");
		ck_assert_uint_eq(u->servers[1 + i].addr.len, 0);
	}
	ck_assert_int_eq(u->servers[4].dns, CONF_DNS_SRV);
	ck_assert_str_eq(u->servers[4].dns_name, "_http._tcp.example.com");
	ck_assert_int_eq(u->servers[4].backup, 1);
	ck_assert_ptr_null(u->servers[4].host);
	ck_assert_int_eq(u->servers[4 + CONF_DNS_SLOTS].dns_port, 80);
	conf_free(c);
	/* Defaults. */
	c = load_ok(TAIL);
	ck_assert_ptr_null(c->g.resolver);
	ck_assert_int_eq(c->g.resolver_timeout_ms, 5000);
	ck_assert_int_eq(c->g.dns_min_ttl_ms, 1000);
	ck_assert_int_eq(c->g.dns_max_ttl_ms, 300000);
	conf_free(c);

	expect_upstream_error("server = 10.0.0.9:80 resolve", "not an IP address");
	expect_upstream_error("server = web.example.com resolve", "NAME:PORT");
	expect_upstream_error("server = web.example.com:0 resolve", "NAME:PORT");
	expect_upstream_error("server = web..example.com:80 resolve", "not a host name");
	expect_upstream_error("server = web/x:80 resolve", "not a host name");
	expect_upstream_error("server = _x._tcp.example.com:80 srv", "srv needs");
	expect_upstream_error("server = example.com srv", "srv needs");
	expect_upstream_error("server = _x._tcp.example.com srv weight=2",
	    "weight' does not go with srv");
	expect_upstream_error("server = 10.0.0.9:80 max_addresses=2",
	    "'max_addresses' needs resolve or srv");
	expect_upstream_error("server = a.example:80 resolve max_addresses=0",
	    "max_addresses must be 1..256");
	expect_upstream_error("server = a.example:80 resolve max_addresses=257",
	    "max_addresses must be 1..256");
	expect_upstream_error("server = a.example:80 resolve max_addresses=2 "
	    "max_addresses=3", "given twice");
	expect_upstream_error("server = a.example:80 resolve srv", "after resolve");
	expect_upstream_error("server = a.example:80 resolve max_addresses=256",
	    "more than 256 servers");
	expect_only_error(TAIL "[upstream other]\nserver = a.example:80 resolve\n"
	    "server = A.example:80 resolve\n", 9, "already in upstream");
	expect_global_error("resolver = ns1.example.com", "bad resolver");
	expect_global_error("resolver = 10.0.0.1:99999", "bad resolver");
	expect_global_error("resolver = ,", "empty value for 'resolver'");
	expect_global_error("resolver_timeout = 10ms", "resolver_timeout");
	expect_only_error("[global]\ndns_min_ttl = 2m\ndns_max_ttl = 1m\n" TAIL,
	    2, "dns_min_ttl must not be above dns_max_ttl");
}
END_TEST

START_TEST(test_global_values)
{
	struct conf	*c;

	expect_global_error("workers = 0", "workers");
	expect_global_error("workers = 513", "workers");
	expect_global_error("workers = four", "workers");
	expect_global_error("workers = -1", "workers");
	c = load_ok("[global]\nworkers = 512\n" TAIL);
	ck_assert_int_eq(c->g.workers, 512);
	conf_free(c);
	expect_global_error("log_level = verbose", "log_level");
	expect_global_error("log_level = INFO", "log_level");
	expect_global_error("worker_connections = 0", "worker_connections");
	expect_global_error("worker_connections = 1000001", "1..1000000");
	expect_global_error("worker_connections = 10k", "worker_connections");
	expect_global_error("shutdown_timeout = 0", "more than 0");
	expect_global_error("client_header_timeout = 0s", "more than 0");
	expect_global_error("client_body_timeout = 0ms", "more than 0");
	expect_global_error("send_timeout = 0", "more than 0");
	expect_global_error("keepalive_timeout = -1", "duration");
	expect_global_error("shutdown_timeout = 5 s", "duration");
	expect_global_error("max_request_line = 255", "256..1m");
	expect_global_error("max_request_line = 2m", "256..1m");
	expect_global_error("max_header_size = 1023", "1k..1m");
	expect_global_error("max_headers = 0", "1..1000");
	expect_global_error("max_headers = 1001", "1..1000");
	expect_global_error("max_body_size = 1x", "size");
	expect_global_error("buffer_size = 17m", "4k..16m");
	expect_global_error("buffer_size = 4k",
	    "buffer_size must be at least max_header_size + 1k");
	/* The message names buffer_size, or else max_header_size. */
	expect_only_error("[global]\nmax_header_size = 1m\n" TAIL, 2,
	    "buffer_size must be at least");
	expect_only_error("[global]\nmax_header_size = 32k\n"
	    "buffer_size = 32k\n" TAIL, 3, "buffer_size must be at least");
	c = load_ok("[global]\nmax_header_size = 31k\nbuffer_size = 32k\n"
	    "max_request_line = 1m\nmax_body_size = 1g\n" TAIL);
	ck_assert_int_eq(c->g.max_body_size, 1 << 30);
	conf_free(c);
	expect_global_error("group = wheel", "group needs user");
}
END_TEST

START_TEST(test_listeners)
{
	struct conf	*c;
	char		*errors = NULL, want[128];

	expect_only_error("[listener x]\nbacklog = 5\n" TAIL, 1,
	    "listener 'x' has no listen address");
	expect_only_error("[listener x]\nlisten = 81\nbacklog = 0\n" TAIL, 3,
	    "backlog");
	expect_only_error("[listener x]\nlisten = 81\nbacklog = 65536\n" TAIL,
	    3, "1..65535");
	expect_only_error("[listener x]\nlisten = localhost:81\n" TAIL, 2,
	    "bad listen address 'localhost:81'");
	expect_only_error("[listener x]\nlisten = 1.2.3.4:0\n" TAIL, 2,
	    "1..65535");
	expect_only_error("[listener x]\nlisten = ::1:80\n" TAIL, 2,
	    "brackets");

	/* The same address twice, across listeners, names both lines. */
	c = load("[listener x]\nlisten = *:8080\n" TAIL
	    "[listener y]\nlisten = 0.0.0.0:8080\n", &errors);
	ck_assert_ptr_null(c);
	snprintf(want, sizeof(want), "duplicate listen address 0.0.0.0:8080 "
	    "(first at %s:2)", conf_path);
	ck_assert_msg(has_error(errors, 10, want), "%s", errors);
	ck_assert_int_eq(count_lines(errors), 1);
	free(errors);
	expect_only_error("[listener x]\nlisten = [::1]:81\n"
	    "listen = [0::1]:81\n" TAIL, 3, "duplicate listen address");

	/* Same port, other address or family: fine. */
	c = load_ok("[listener x]\nlisten = [::]:8080\nlisten = 8081\n" TAIL);
	ck_assert_uint_eq(c->listeners[0].naddrs, 2);
	conf_free(c);

	/* No listener at all: an error about the file. */
	expect_error("[upstream app]\nserver = 10.0.0.1:80\n"
	    "[route main]\nupstream = app\n", 0, "no [listener] section");
}
END_TEST

START_TEST(test_upstreams)
{
	struct conf	*c;

	expect_only_error(TAIL "[upstream x]\nkeepalive = 4\n", 7,
	    "upstream 'x' has no server");
	expect_upstream_error("server = 10.0.0.2:80 weight=0", "1..1000");
	expect_upstream_error("server = 10.0.0.2:80 weight=1001", "1..1000");
	expect_upstream_error("server = 10.0.0.2:80 weight=x", "weight");
	expect_upstream_error("server = 10.0.0.2:80 weight=2 weight=3",
	    "twice");
	expect_upstream_error("server = 10.0.0.2:80 down",
	    "unknown server option 'down'");
	expect_upstream_error("server = 10.0.0.2", "bad server address");
	expect_upstream_error("server = *:80", "bad server address");
	expect_upstream_error("server = no-such-host.invalid:80",
	    "cannot resolve");
	expect_upstream_error("keepalive = 10001", "0..10000");
	expect_upstream_error("connect_timeout = 0", "more than 0");
	expect_upstream_error("read_timeout = 0", "more than 0");
	expect_upstream_error("send_timeout = 0", "more than 0");
	expect_upstream_error("keepalive_timeout = x", "duration");

	c = load_ok(TAIL "[upstream x]\nserver = localhost:80\t weight=7\n");
	ck_assert_int_eq(c->upstreams[1].servers[0].weight, 7);
	ck_assert_int_eq(c->upstreams[1].servers[0].line, 8);
	conf_free(c);
}
END_TEST

START_TEST(test_routes)
{
	struct conf	*c;
	char		*errors = NULL, want[160];

	/* Dangling references, reported at the key's line. */
	expect_only_error(TAIL "[route r]\nlistener = nope\nupstream = app\n"
	    "path = /r\n", 8, "route 'r': no listener named 'nope'");
	expect_only_error(TAIL "[route r]\npath = /r\nupstream = nope\n", 9,
	    "route 'r': no upstream named 'nope'");
	/* A missing upstream is reported at the section line. */
	expect_only_error(TAIL "[route r]\npath = /r\n", 7,
	    "route 'r' has no upstream");
	/* References to later sections are fine. */
	c = load_ok("[route first]\nlistener = late\nupstream = later\n"
	    "[listener late]\nlisten = 80\n"
	    "[upstream later]\nserver = 10.0.0.1:80\n");
	ck_assert_ptr_eq(c->routes[0].listener, &c->listeners[0]);
	ck_assert_ptr_eq(c->routes[0].upstream, &c->upstreams[0]);
	conf_free(c);

	/* Hosts and paths. */
	expect_route_error("host = example.com:80", "port");
	expect_route_error("host = exa mple.com", "bad host");
	expect_route_error("host = exa_mple.com", "bad host");
	expect_route_error("host = *example.com", "bad host");
	expect_route_error("host = www.*.com", "bad host");
	expect_route_error("host = *.", "bad host");
	expect_route_error("host = a..b", "bad host");
	expect_route_error("host = .example.com", "bad host");
	expect_route_error("host = ", "empty value");
	expect_route_error("path = img", "must start with '/'");
	expect_route_error("path = /a b", "bad path");
	expect_route_error("path = /caf\xc3\xa9", "bad path");

	/* The same listener, host and path twice. */
	c = load(TAIL "[route again]\nupstream = app\n", &errors);
	ck_assert_ptr_null(c);
	snprintf(want, sizeof(want), "duplicate route: 'again' has the same "
	    "listener, host and path as 'main' (%s:5)", conf_path);
	ck_assert_msg(has_error(errors, 7, want), "%s", errors);
	ck_assert_int_eq(count_lines(errors), 1);
	free(errors);
	expect_only_error("[listener b]\nlisten = 81\n" TAIL
	    "listener = web\nhost = A.example\n"
	    "[route b]\nlistener = web\nhost = a.EXAMPLE\nupstream = app\n",
	    11, "duplicate route");
	/* Another listener, host or path makes them different. */
	conf_free(load_ok("[listener b]\nlisten = 81\n" TAIL
	    "[route b]\nlistener = b\nupstream = app\n"
	    "[route c]\nhost = *.a\nupstream = app\n"
	    "[route d]\nhost = a\nupstream = app\n"
	    "[route e]\nhost = x.a\nupstream = app\n"
	    "[route f]\npath = /f\nupstream = app\n"));

	/* No route at all. */
	expect_only_error("[listener web]\nlisten = 80\n"
	    "[upstream app]\nserver = 10.0.0.1:80\n", 0, "no [route] section");
}
END_TEST

START_TEST(test_many_errors)
{
	struct conf	*c;
	char		*errors = NULL;
	const char	*text =
	    "workers = 1\n"			/* 1: outside of any section */
	    "[global]\n"
	    "workers = many\n"			/* 3 */
	    "bogus = 1\n"			/* 4 */
	    "no equals sign\n"			/* 5 */
	    "[listener web]\n"			/* 6: no listen */
	    "tls_key = k\n"			/* 7 */
	    "[upstream app]\n"
	    "server = 10.0.0.1:80 weight=0\n"	/* 9 */
	    "balance = fastest\n"		/* 10 */
	    "[route main]\n"
	    "listener = nope\n"			/* 12 */
	    "upstream = nada\n"			/* 13 */
	    "cache = maybe\n"			/* 14 */
	    "[cache]\n"				/* 15 */
	    "size = 1k\n"			/* 16 */
	    "[route main]\n"			/* 17 */
	    "  indented = 1\n";			/* 18 */

	c = load(text, &errors);
	ck_assert_ptr_null(c);
	ck_assert_msg(has_error(errors, 1, "outside"), "%s", errors);
	ck_assert_msg(has_error(errors, 3, "workers"), "%s", errors);
	ck_assert_msg(has_error(errors, 4, "unknown key 'bogus'"), "%s",
	    errors);
	ck_assert_msg(has_error(errors, 5, "syntax error"), "%s", errors);
	ck_assert_msg(has_error(errors, 6, "no listen address"), "%s", errors);
	ck_assert_msg(has_error(errors, 7, "tls_key"), "%s", errors);
	ck_assert_msg(has_error(errors, 9, "weight"), "%s", errors);
	ck_assert_msg(has_error(errors, 10, "fastest"), "%s", errors);
	ck_assert_msg(has_error(errors, 12, "no listener named 'nope'"),
	    "%s", errors);
	ck_assert_msg(has_error(errors, 13, "no upstream named 'nada'"),
	    "%s", errors);
	ck_assert_msg(has_error(errors, 14, "on or off"), "%s", errors);
	ck_assert_msg(has_error(errors, 16, "bad size"), "%s", errors);
	ck_assert_msg(has_error(errors, 17, "duplicate route"), "%s", errors);
	ck_assert_msg(has_error(errors, 18, "continuation"), "%s", errors);
	ck_assert_int_eq(count_lines(errors), 14);
	ck_assert_int_eq(errors[strlen(errors) - 1], '\n');
	free(errors);
}
END_TEST

/* Expect text to fail with exactly "file:line: msg\n" and nothing else. */
static void
expect_exact(const char *text, int line, const char *msg)
{
	struct conf	*conf;
	char		*errors = NULL, want[1024];

	conf = load(text, &errors);
	ck_assert_msg(conf == NULL, "config was accepted:\n%s", text);
	snprintf(want, sizeof(want), "%s:%d: %s\n", conf_path, line, msg);
	ck_assert_str_eq(errors, want);
	free(errors);
}

/* One key line in [global] (line 2), [route other] (line 10), [cache] (line 2). */
static void
expect_global_exact(const char *keyline, const char *msg)
{
	char	 text[1024];

	snprintf(text, sizeof(text), "[global]\n%s\n" TAIL, keyline);
	expect_exact(text, 2, msg);
}

static void
expect_route_exact(const char *keyline, const char *msg)
{
	char	 text[1024];

	snprintf(text, sizeof(text), TAIL "[route other]\n"
	    "upstream = app\nlistener = web\n%s\n", keyline);
	expect_exact(text, 10, msg);
}

static void
expect_cache_exact(const char *keyline, const char *msg)
{
	char	 text[1024];

	snprintf(text, sizeof(text), "[cache]\n%s\n" TAIL, keyline);
	expect_exact(text, 2, msg);
}

/* A sockaddr for conf_cidr_match() from an address literal. */
static const struct sockaddr *
sa_of(const char *ip, struct sockaddr_storage *ss)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1)
		sin->sin_family = AF_INET;
	else {
		ck_assert_int_eq(inet_pton(AF_INET6, ip, &sin6->sin6_addr), 1);
		sin6->sin6_family = AF_INET6;
	}
	return (const struct sockaddr *)ss;
}

START_TEST(test_cidr)
{
	static const unsigned char v6[16] = {
		0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0
	};
	static const char *const bad[] = {
		"", "/8", "10.0.0.0/", "10.0.0.0/33", "10.0.0.0/-1",
		"10.0.0.0/+8", "10.0.0.0/8x", "10.0.0.0/8/8", "10.0.0.0/ 8",
		"10.0.0", "10.0.0.256", "1.2.3.4.5", "example.com", "[::1]",
		"::/129", "2001:db8::/200", "2001:db8::/", "2001:db8:::1/64",
		"2001:db8::/64x", "fe80::1%lo", "10.0.0.0/99999999999999999999",
		"0000000000000000000000000000000000000000000000000000000000001.2.3.4",
	};
	struct conf_cidr	 c, list[4];
	struct sockaddr_storage	 ss;
	size_t			 i;

	ck_assert_int_eq(conf_parse_cidr("10.0.0.0/8", &c), 0);
	ck_assert_int_eq(c.family, AF_INET);
	ck_assert_int_eq(c.prefix, 8);
	ck_assert_int_eq(c.addr[0], 10);
	ck_assert_int_eq(conf_parse_cidr("192.0.2.7", &c), 0);
	ck_assert_int_eq(c.family, AF_INET);
	ck_assert_int_eq(c.prefix, 32);
	ck_assert(memcmp(c.addr, "\xc0\x00\x02\x07", 4) == 0);
	ck_assert_int_eq(conf_parse_cidr("0.0.0.0/0", &c), 0);
	ck_assert_int_eq(c.prefix, 0);
	ck_assert_int_eq(conf_parse_cidr("2001:DB8::/32", &c), 0);
	ck_assert_int_eq(c.family, AF_INET6);
	ck_assert_int_eq(c.prefix, 32);
	ck_assert(memcmp(c.addr, v6, 16) == 0);
	ck_assert_int_eq(conf_parse_cidr("::1", &c), 0);
	ck_assert_int_eq(c.family, AF_INET6);
	ck_assert_int_eq(c.prefix, 128);
	ck_assert_int_eq(c.addr[15], 1);
	ck_assert_int_eq(conf_parse_cidr("::/0", &c), 0);
	ck_assert_int_eq(c.prefix, 0);
	ck_assert_int_eq(conf_parse_cidr("::ffff:10.0.0.1/104", &c), 0);
	ck_assert_int_eq(c.family, AF_INET6);
	ck_assert_int_eq(c.prefix, 104);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		ck_assert_msg(conf_parse_cidr(bad[i], &c) == -1,
		    "'%s' was accepted", bad[i]);

	/* Matching: whole bytes, bits within a byte, and family. */
	ck_assert_int_eq(conf_parse_cidr("192.0.2.4/31", &list[0]), 0);
	ck_assert_int_eq(conf_parse_cidr("2001:db8::/127", &list[1]), 0);
	ck_assert_int_eq(conf_parse_cidr("::ffff:10.0.0.0/104", &list[2]), 0);
	ck_assert(conf_cidr_match(list, 3, sa_of("192.0.2.4", &ss)));
	ck_assert(conf_cidr_match(list, 3, sa_of("192.0.2.5", &ss)));
	ck_assert(!conf_cidr_match(list, 3, sa_of("192.0.2.6", &ss)));
	ck_assert(!conf_cidr_match(list, 3, sa_of("192.0.2.3", &ss)));
	ck_assert(conf_cidr_match(list, 3, sa_of("2001:db8::1", &ss)));
	ck_assert(!conf_cidr_match(list, 3, sa_of("2001:db8::2", &ss)));
	/* An IPv4-mapped block matches mapped addresses, not plain IPv4. */
	ck_assert(conf_cidr_match(list, 3, sa_of("::ffff:10.9.9.9", &ss)));
	ck_assert(!conf_cidr_match(list, 3, sa_of("10.9.9.9", &ss)));
	ck_assert(!conf_cidr_match(list, 0, sa_of("192.0.2.4", &ss)));
	ck_assert_int_eq(conf_parse_cidr("0.0.0.0/0", &list[3]), 0);
	ck_assert(conf_cidr_match(&list[3], 1, sa_of("255.255.255.255", &ss)));
	ck_assert(!conf_cidr_match(&list[3], 1, sa_of("::", &ss)));

	/* Through the loader: the exact message, each bad block named. */
	expect_route_exact("allow = ::/129", "bad allow address '::/129' "
	    "(expected an address, address/prefix or all)");
	expect_route_exact("allow = 10.0.0.0/33", "bad allow address "
	    "'10.0.0.0/33' (expected an address, address/prefix or all)");
	expect_route_exact("allow = 2001:db8::/64x", "bad allow address "
	    "'2001:db8::/64x' (expected an address, address/prefix or all)");
	expect_route_exact("allow = , ,", "allow lists no address");
	expect_route_exact("deny = 10.0.0.0/8 bogus", "bad deny address "
	    "'bogus' (expected an address, address/prefix or all)");
	expect_cache_exact("purge_allow = fe80::/10 10.0.0.0/", "bad purge_allow "
	    "address '10.0.0.0/' (expected an address or address/prefix)");
}
END_TEST

/* Access rules: written order, first match wins, the default after. */
START_TEST(test_access_rules)
{
	struct conf		*c;
	struct conf_route	*r;
	struct conf_listener	*l;
	struct conf_cidr	 list[3];
	struct sockaddr_storage	 ss;

	/* No rules: everyone. */
	ck_assert(conf_access_check(NULL, 0, sa_of("192.0.2.1", &ss)));
	/* allow only: these and no one else (as portico always did). */
	ck_assert_int_eq(conf_parse_cidr("10.0.0.0/8", &list[0]), 0);
	ck_assert(conf_access_check(list, 1, sa_of("10.1.2.3", &ss)));
	ck_assert(!conf_access_check(list, 1, sa_of("11.1.2.3", &ss)));
	ck_assert(!conf_access_check(list, 1, sa_of("::1", &ss)));
	/* deny only: everyone else. */
	list[0].deny = 1;
	ck_assert(!conf_access_check(list, 1, sa_of("10.1.2.3", &ss)));
	ck_assert(conf_access_check(list, 1, sa_of("11.1.2.3", &ss)));
	ck_assert(conf_access_check(list, 1, sa_of("::1", &ss)));
	/* deny one address inside an allowed range: the order decides. */
	ck_assert_int_eq(conf_parse_cidr("10.0.0.5", &list[0]), 0);
	list[0].deny = 1;
	ck_assert_int_eq(conf_parse_cidr("10.0.0.0/8", &list[1]), 0);
	ck_assert(!conf_access_check(list, 2, sa_of("10.0.0.5", &ss)));
	ck_assert(conf_access_check(list, 2, sa_of("10.0.0.6", &ss)));
	ck_assert(!conf_access_check(list, 2, sa_of("192.0.2.1", &ss)));
	/* Written the other way round, the allow matches first. */
	list[2] = list[0];
	ck_assert(conf_access_check(&list[1], 2, sa_of("10.0.0.5", &ss)));

	/* Through the loader: "all", both keys in one list, in order. */
	c = load_ok(TAIL "allow = 127.0.0.1\ndeny = all\n"
	    "[listener w2]\nlisten = 127.0.0.1:8081\n"
	    "deny = ::1, 10.0.0.0/8\nallow = ALL\n");
	r = &c->routes[0];
	ck_assert_int_eq(r->nallow, 3);
	ck_assert_int_eq(r->allow[0].deny, 0);
	ck_assert_int_eq(r->allow[1].deny, 1);
	ck_assert_int_eq(r->allow[1].family, AF_INET);
	ck_assert_int_eq(r->allow[1].prefix, 0);
	ck_assert_int_eq(r->allow[2].family, AF_INET6);
	ck_assert_int_eq(r->allow[2].prefix, 0);
	ck_assert(conf_access_check(r->allow, r->nallow,
	    sa_of("127.0.0.1", &ss)));
	ck_assert(!conf_access_check(r->allow, r->nallow,
	    sa_of("127.0.0.2", &ss)));
	ck_assert(!conf_access_check(r->allow, r->nallow, sa_of("::1", &ss)));
	l = &c->listeners[1];
	ck_assert_int_eq(l->naccess, 4);
	ck_assert(!conf_access_check(l->access, l->naccess, sa_of("::1", &ss)));
	ck_assert(conf_access_check(l->access, l->naccess, sa_of("::2", &ss)));
	ck_assert(!conf_access_check(l->access, l->naccess,
	    sa_of("10.9.9.9", &ss)));
	ck_assert(conf_access_check(l->access, l->naccess,
	    sa_of("127.0.0.1", &ss)));
	conf_free(c);

	/* A status route: deny rules first, then the loopback default. */
	c = load_ok(TAIL "[route st]\nhandler = status\nlistener = web\n"
	    "path = /st\ndeny = 127.0.0.2\n");
	r = &c->routes[1];
	ck_assert(!conf_access_check(r->allow, r->nallow,
	    sa_of("127.0.0.2", &ss)));
	ck_assert(conf_access_check(r->allow, r->nallow,
	    sa_of("127.0.0.1", &ss)));
	ck_assert(!conf_access_check(r->allow, r->nallow,
	    sa_of("192.0.2.1", &ss)));
	conf_free(c);
}
END_TEST

START_TEST(test_value_errors)
{
	struct conf	*c;

	/* Booleans: on and off only, lowercase. */
	expect_route_exact("cache = yes", "bad cache 'yes' (on or off)");
	expect_route_exact("cache = ON", "bad cache 'ON' (on or off)");
	expect_route_exact("normalize_path = 1",
	    "bad normalize_path '1' (on or off)");
	expect_global_exact("request_buffering = true",
	    "bad request_buffering 'true' (on or off)");
	expect_global_exact("merge_slashes =", "empty value for 'merge_slashes'");
	c = load_ok("[global]\nmerge_slashes = off\nrequest_buffering = off\n"
	    TAIL "cache_set_cookie = on\n[cache]\n");
	ck_assert_int_eq(c->g.merge_slashes, 0);
	ck_assert_int_eq(c->g.request_buffering, 0);
	ck_assert_int_eq(c->routes[0].cache_set_cookie, 1);
	ck_assert_int_eq(c->routes[0].request_buffering, 0);
	conf_free(c);

	/* Sizes: the syntax, then the range written as sizes. */
	expect_global_exact("buffer_size = 1kb", "bad buffer_size '1kb': "
	    "expected a size such as 512, 16k, 8m or 1g");
	expect_global_exact("max_request_line = 2m",
	    "bad max_request_line '2m': must be 256..1m");
	expect_global_exact("max_header_size = 1000",
	    "bad max_header_size '1000': must be 1k..1m");
	expect_cache_exact("max_object_size = 0",
	    "bad max_object_size '0': must be 1..64g");
	c = load_ok("[global]\nmax_body_size = 3g\nbuffer_size = 16m\n" TAIL);
	ck_assert_int_eq(c->g.max_body_size, 3LL << 30);
	ck_assert_uint_eq(c->g.buffer_size, 16 << 20);
	conf_free(c);

	/* Durations: the syntax, then the minimum. */
	expect_global_exact("keepalive_timeout = 1d", "bad keepalive_timeout "
	    "'1d': expected a duration such as 500ms, 30s, 5m or 1h");
	expect_global_exact("shutdown_timeout = 0",
	    "bad shutdown_timeout '0': must be more than 0");
	expect_global_exact("tls_ticket_rotation = 59s",
	    "bad tls_ticket_rotation '59s': must be at least 60000ms");
	c = load_ok("[global]\nkeepalive_timeout = 0\n"
	    "client_header_timeout = 1500ms\n" TAIL);
	ck_assert_int_eq(c->g.keepalive_timeout_ms, 0);
	ck_assert_int_eq(c->g.client_header_timeout_ms, 1500);
	conf_free(c);

	/* Numbers. */
	expect_global_exact("max_headers = 1001",
	    "bad max_headers '1001': expected a number 1..1000");
	expect_global_exact("workers = -1",
	    "bad workers '-1': expected auto or a number 1..512");
}
END_TEST

static Suite *
conf_suite(void)
{
	Suite	*s;
	TCase	*tc;

	s = suite_create("conf");
	tc = tcase_create("conf");
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_full);
	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_duration);
	tcase_add_test(tc, test_size);
	tcase_add_test(tc, test_addr);
	tcase_add_test(tc, test_log_level_name);
	tcase_add_test(tc, test_missing_file);
	tcase_add_test(tc, test_syntax);
	tcase_add_test(tc, test_nul);
	tcase_add_test(tc, test_syntax_ok);
	tcase_add_test(tc, test_long_line);
	tcase_add_test(tc, test_sections);
	tcase_add_test(tc, test_duplicate_names);
	tcase_add_test(tc, test_keys);
	tcase_add_test(tc, test_unsupported);
	tcase_add_test(tc, test_cache_keys);
	tcase_add_test(tc, test_request_keys);
	tcase_add_test(tc, test_tls_keys);
	tcase_add_test(tc, test_balancing_keys);
	tcase_add_test(tc, test_status_route);
	tcase_add_test(tc, test_global_values);
	tcase_add_test(tc, test_listeners);
	tcase_add_test(tc, test_upstreams);
	tcase_add_test(tc, test_dns_servers);
	tcase_add_test(tc, test_routes);
	tcase_add_test(tc, test_many_errors);
	tcase_add_test(tc, test_log_paths);
	tcase_add_test(tc, test_cidr);
	tcase_add_test(tc, test_access_rules);
	tcase_add_test(tc, test_value_errors);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	SRunner	*sr;
	int	 failed;

	sr = srunner_create(conf_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
