/*
 * Unit tests of sd_notify: the NOTIFY_SOCKET address (path and abstract
 * forms, limits), the STATUS= text, and what is sent when, read back
 * from a datagram socket bound by the test (READY=1 once, the STATUS=
 * limit, RELOADING=1, STOPPING=1, nothing from a forked child).
 */
#include "autoconf.h"
#include <criterion/criterion.h>
#include <errno.h>
#include <stddef.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "common/log.h"
#include "common/route.h"
#include "common/stats.h"
#include "master/sd_notify.h"

#define PATH_OFF offsetof(struct sockaddr_un, sun_path)

struct addr_case {
	const char *value;
	int want_rc;
	size_t want_len;	/* the sockaddr's length */
};

/* Names at the limits: sun_path holds 108 bytes. */
static char path107[108], path108[109], abstract108[109], abstract109[110];

static void
fill(char *buf, size_t len, char first)
{
	memset(buf, 'x', len);
	buf[0] = first;
	buf[len] = '\0';
}

Test(sd_notify, addr)
{
	const struct addr_case cases[] = {
		{ "/run/systemd/notify", 0, PATH_OFF + 20 },	/* with its NUL */
		{ "@sd-notify", 0, PATH_OFF + 10 },		/* no NUL at the end */
		{ "@x", 0, PATH_OFF + 2 },
		{ "/", 0, PATH_OFF + 2 },
		{ "", -1, 0 },
		{ "@", -1, 0 },				/* no name */
		{ "run/notify", -1, 0 },		/* relative */
		{ "vsock:2:1234", -1, 0 },		/* systemd 254's, not 252's */
		{ path107, 0, PATH_OFF + 108 },
		{ path108, -1, 0 },			/* no room for the NUL */
		{ abstract108, 0, PATH_OFF + 108 },
		{ abstract109, -1, 0 },
	};

	fill(path107, 107, '/');
	fill(path108, 108, '/');
	fill(abstract108, 108, '@');
	fill(abstract109, 109, '@');
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct addr_case *c = &cases[i];
		struct sockaddr_un sa;
		socklen_t len = 0;
		int rc = sd_notify_addr(c->value, &sa, &len);

		cr_expect(rc == c->want_rc, "addr(\"%.20s\" (%zu bytes)): got %d, want %d", c->value,
		    strlen(c->value), rc, c->want_rc);
		if (rc != 0 || c->want_rc != 0)
			continue;
		cr_expect(sa.sun_family == AF_UNIX, "addr(\"%.20s\"): family %d", c->value,
		    sa.sun_family);
		cr_expect(len == c->want_len, "addr(\"%.20s\"): length got %u, want %zu", c->value,
		    (unsigned)len, c->want_len);
		if (c->value[0] == '@')
			cr_expect(sa.sun_path[0] == '\0' &&
			    memcmp(sa.sun_path + 1, c->value + 1, strlen(c->value) - 1) == 0,
			    "addr(\"%.20s\"): want a NUL, then the name", c->value);
		else
			cr_expect(strcmp(sa.sun_path, c->value) == 0, "addr(\"%.20s\"): got \"%.20s\"",
			    c->value, sa.sun_path);
	}
}

/* ---- the STATUS= text ---- */

static struct route route_default = { .name = "default", .queue = "events", .topic = "processed_events" };
static struct route_set route = { .v = &route_default, .n = 1, .implicit = 1 };

static void
set_slot(struct stats_shm *shm, int i, uint32_t state, int amqp, int kafka, int redis)
{
	stats_active(shm, i)->state = state;
	stats_active(shm, i)->gauges.amqp_up = amqp;
	stats_active(shm, i)->gauges.kafka_up = kafka;
	stats_active(shm, i)->gauges.redis_up = redis;
}

struct status_case {
	uint32_t state[2];
	int up[2][3];		/* amqp, kafka, redis */
	int want_ready;
	const char *want;
};

static const struct status_case status_cases[] = {
	{ { WS_RUNNING, WS_RUNNING }, { { 1, 1, 1 }, { 1, 1, 1 } }, 1,
	  "relaying: 2 workers ready, queue events -> topic processed_events" },
	{ { WS_RUNNING, WS_DEGRADED }, { { 1, 1, 1 }, { 1, 1, 0 } }, 0,
	  "degraded: 1 of 2 workers ready; worker 1 redis down" },
	{ { WS_DEGRADED, WS_DEGRADED }, { { 0, 1, 0 }, { 1, 0, 1 } }, 0,
	  "degraded: 0 of 2 workers ready; worker 0 rabbitmq, redis down; worker 1 kafka down" },
	{ { WS_STARTING, WS_DOWN }, { { 0, 0, 0 }, { 0, 0, 0 } }, 0,
	  "degraded: 0 of 2 workers ready; worker 0 starting: rabbitmq, kafka, redis down; "
	  "worker 1 not running" },
	{ { WS_STARTING, WS_RUNNING }, { { 1, 1, 1 }, { 1, 1, 1 } }, 0,
	  "degraded: 1 of 2 workers ready; worker 0 starting" },
	{ { WS_STOPPING, WS_DEGRADED }, { { 1, 1, 1 }, { 1, 1, 1 } }, 0,
	  "degraded: 0 of 2 workers ready; worker 0 stopping; worker 1 degraded" },
	/* Running, but a gauge says down (the two are written apart). */
	{ { WS_RUNNING, WS_RUNNING }, { { 1, 0, 1 }, { 1, 1, 1 } }, 0,
	  "degraded: 1 of 2 workers ready; worker 0 kafka down" },
};

Test(sd_notify, status_text)
{
	struct stats_shm *shm = stats_create(2);

	cr_assert_not_null(shm);
	for (size_t i = 0; i < sizeof(status_cases) / sizeof(status_cases[0]); i++) {
		const struct status_case *c = &status_cases[i];
		char buf[256];
		int ready;

		for (int w = 0; w < 2; w++)
			set_slot(shm, w, c->state[w], c->up[w][0], c->up[w][1], c->up[w][2]);
		ready = sd_notify_status_text(buf, sizeof(buf), shm, &route, "degraded");
		cr_expect(ready == c->want_ready, "case %zu: ready got %d, want %d", i, ready,
		    c->want_ready);
		cr_expect(strcmp(buf, c->want) == 0, "case %zu:\n got \"%s\"\nwant \"%s\"", i, buf,
		    c->want);
	}
	stats_destroy(shm);
}

Test(sd_notify, status_text_is_cut)
{
	struct stats_shm *shm = stats_create(64);
	char buf[100];

	cr_assert_not_null(shm);
	sd_notify_status_text(buf, sizeof(buf), shm, &route, "starting");
	cr_expect(strlen(buf) == sizeof(buf) - 1, "length %zu, want %zu", strlen(buf),
	    sizeof(buf) - 1);
	cr_expect(strcmp(buf + strlen(buf) - 3, "...") == 0, "no \"...\" at the end: \"%s\"", buf);
	cr_expect(strncmp(buf, "starting: 0 of 64 workers ready; worker 0 not running;", 54) == 0,
	    "got \"%s\"", buf);
	stats_destroy(shm);
}

/* ---- what is sent when ---- */

static char sock_path[64];

static int
listen_dgram(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	cr_assert(fd >= 0);
	snprintf(sock_path, sizeof(sock_path), "/tmp/er-sd-notify-test.%ld", (long)getpid());
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sock_path);
	unlink(sock_path);
	cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "bind: %s", strerror(errno));
	return fd;
}

/* The next datagram, or "" when none is waiting. */
static const char *
next_msg(int fd)
{
	static char buf[512];
	ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);

	buf[n > 0 ? n : 0] = '\0';
	return buf;
}

Test(sd_notify, sends)
{
	struct stats_shm *shm = stats_create(2);
	int fd = listen_dgram();
	const char *m;
	pid_t child;
	int status;

	cr_assert_not_null(shm);
	setenv("NOTIFY_SOCKET", sock_path, 1);
	unsetenv("WATCHDOG_USEC");
	log_open(LOG_TO_STDERR, LOG_LVL_ERROR);
	sd_notify_open();

	/* Not ready: no READY=1, one STATUS= saying why. */
	set_slot(shm, 0, WS_RUNNING, 1, 1, 1);
	set_slot(shm, 1, WS_STARTING, 0, 1, 1);
	sd_notify_reloading();	/* before the first READY=1: nothing */
	sd_notify_update(shm, &route);
	m = next_msg(fd);
	cr_expect(strcmp(m, "STATUS=starting: 1 of 2 workers ready; worker 1 starting: "
	    "rabbitmq down") == 0, "got \"%s\"", m);
	sd_notify_update(shm, &route);
	cr_expect(strcmp(next_msg(fd), "") == 0, "the same STATUS= sent twice");

	/* Every worker ready: READY=1 at once, whatever the STATUS= limit. */
	set_slot(shm, 1, WS_RUNNING, 1, 1, 1);
	sd_notify_update(shm, &route);
	m = next_msg(fd);
	cr_expect(strcmp(m, "READY=1\nSTATUS=relaying: 2 workers ready, queue events -> topic "
	    "processed_events") == 0, "got \"%s\"", m);

	/* A change within the second is held back, and the poll wakes for it. */
	set_slot(shm, 1, WS_DEGRADED, 1, 1, 0);
	sd_notify_update(shm, &route);
	cr_expect(strcmp(next_msg(fd), "") == 0, "STATUS= sent twice within a second");
	cr_expect(sd_notify_poll_timeout(5000) <= 1000, "poll timeout %d, want <= 1000",
	    sd_notify_poll_timeout(5000));
	cr_expect(sd_notify_poll_timeout(-1) >= 0, "infinite timeout not lowered");
	/* Back as it was: nothing to send. */
	set_slot(shm, 1, WS_RUNNING, 1, 1, 1);
	sd_notify_update(shm, &route);
	cr_expect(sd_notify_poll_timeout(5000) == 5000, "poll timeout lowered for nothing");

	/* A forked child (a worker) never sends. */
	child = fork();
	cr_assert(child >= 0);
	if (child == 0) {
		sd_notify_stopping();
		sd_notify_reloading();
		_exit(0);
	}
	waitpid(child, &status, 0);
	cr_expect(strcmp(next_msg(fd), "") == 0, "a forked child sent");

	sd_notify_reloading();
	m = next_msg(fd);
	cr_expect(strncmp(m, "RELOADING=1\nMONOTONIC_USEC=", 27) == 0 &&
	    strtoull(m + 27, NULL, 10) > 0, "got \"%s\"", m);
	sd_notify_reloaded();
	m = next_msg(fd);
	cr_expect(strcmp(m, "READY=1") == 0, "got \"%s\"", m);

	sd_notify_stopping();
	m = next_msg(fd);
	cr_expect(strcmp(m, "STOPPING=1\nSTATUS=stopping") == 0, "got \"%s\"", m);
	sd_notify_stopping();
	sd_notify_reloading();
	set_slot(shm, 1, WS_DOWN, 0, 0, 0);
	sd_notify_update(shm, &route);
	cr_expect(strcmp(next_msg(fd), "") == 0, "sent after STOPPING=1");

	sd_notify_close();
	close(fd);
	unlink(sock_path);
	stats_destroy(shm);
}

Test(sd_notify, watchdog)
{
	struct stats_shm *shm = stats_create(1);
	int fd = listen_dgram();
	const char *m;
	char pid[32];
	int t;

	cr_assert_not_null(shm);
	log_open(LOG_TO_STDERR, LOG_LVL_ERROR);
	setenv("NOTIFY_SOCKET", sock_path, 1);
	setenv("WATCHDOG_USEC", "40000", 1);	/* a ping every 20 ms */
	snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1);
	setenv("WATCHDOG_PID", pid, 1);		/* someone else's: no pings */
	sd_notify_open();
	cr_expect(sd_notify_poll_timeout(1000) == 1000, "a watchdog for another pid");

	snprintf(pid, sizeof(pid), "%ld", (long)getpid());
	setenv("WATCHDOG_PID", pid, 1);
	sd_notify_open();
	t = sd_notify_poll_timeout(1000);
	cr_expect(t >= 0 && t <= 20, "poll timeout %d, want <= 20", t);
	poll(NULL, 0, t + 1);	/* the master's poll, with the timeout it was given */
	sd_notify_update(shm, &route);
	cr_expect(strcmp(next_msg(fd), "WATCHDOG=1") == 0, "no WATCHDOG=1 when due");
	m = next_msg(fd);
	cr_expect(strncmp(m, "STATUS=starting: 0 of 1 workers ready;", 38) == 0, "got \"%s\"", m);
	t = sd_notify_poll_timeout(1000);
	cr_expect(t > 0 && t <= 20, "poll timeout %d after a ping, want about 20", t);
	sd_notify_close();

	/* Unset: silent, the poll timeout untouched. */
	unsetenv("NOTIFY_SOCKET");
	sd_notify_open();
	sd_notify_update(shm, &route);
	sd_notify_stopping();
	cr_expect(sd_notify_poll_timeout(1000) == 1000);
	cr_expect(strcmp(next_msg(fd), "") == 0, "sent with NOTIFY_SOCKET unset");
	close(fd);
	unlink(sock_path);
	stats_destroy(shm);
}
