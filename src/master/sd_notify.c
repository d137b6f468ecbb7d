/*
 * sd_notify: READY, STATUS, STOPPING, RELOADING and WATCHDOG for systemd,
 * written to $NOTIFY_SOCKET as the documented datagram protocol (a few
 * lines here rather than libsystemd in the master).
 *
 * Owns the notification socket (close-on-exec, not connected: each
 * datagram is addressed, so a restarted manager still gets the next one)
 * and the little state of what was sent: whether READY=1 went out, the
 * last STATUS= text and when, the next watchdog ping.
 *
 * The one thing to know: only the master sends. The state lives in the
 * master's memory and is inherited by every forked worker, so notify()
 * checks the pid recorded by sd_notify_open(); a worker never sends
 * even if it calls in here.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/clock.h"
#include "common/log.h"
#include "common/route.h"
#include "common/stats.h"
#include "master/sd_notify.h"

#define STATUS_MIN_GAP_MS 1000	/* at most one STATUS= change a second */
#define STATUS_MAX 256

static struct {
	int fd;			/* -1: notifications off */
	pid_t pid;		/* the master's; nobody else sends */
	struct sockaddr_un addr;
	socklen_t addrlen;
	char name[sizeof(((struct sockaddr_un *)0)->sun_path) + 1];	/* for the log */
	int warned;		/* a failed send was logged at warn */
	uint64_t wd_interval_ms;	/* 0: no watchdog */
	uint64_t wd_next_ms;
	int ready_sent, reloading, stopping;
	int status_held;	/* a changed text waits for the once-a-second limit */
	uint64_t status_ms;	/* when the last STATUS= went out */
	char status[STATUS_MAX];	/* its text */
} sd = { .fd = -1 };

int
sd_notify_addr(const char *value, struct sockaddr_un *sa, socklen_t *len)
{
	size_t n = strlen(value);

	memset(sa, 0, sizeof(*sa));
	sa->sun_family = AF_UNIX;
	if (value[0] == '@') {
		/* Abstract: the name is every byte after the NUL, no terminator. */
		if (n < 2 || n > sizeof(sa->sun_path))
			return -1;
		memcpy(sa->sun_path, value, n);
		sa->sun_path[0] = '\0';
		*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
		return 0;
	}
	if (value[0] != '/' || n >= sizeof(sa->sun_path))
		return -1;
	memcpy(sa->sun_path, value, n + 1);
	*len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
	return 0;
}

/* Sends one datagram (its lines separated by '\n'); logged at debug. */
static void
notify(const char *msg)
{
	char shown[STATUS_MAX + 64];
	int saved;

	if (sd.fd < 0 || getpid() != sd.pid)
		return;
	if (log_enabled(LOG_LVL_DEBUG)) {
		snprintf(shown, sizeof(shown), "%s", msg);
		for (char *p = shown; (p = strchr(p, '\n')) != NULL; p++)
			*p = ' ';
		log_debug("sd_notify: %s", shown);
	}
	/* Never block the master: a full queue at the manager is a failure. */
	if (sendto(sd.fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL,
	    (const struct sockaddr *)&sd.addr, sd.addrlen) >= 0)
		return;
	saved = errno;
	if (!sd.warned) {
		sd.warned = 1;
		log_warn("sd_notify: send to %s: %s (further failures are logged at debug)",
		    sd.name, strerror(saved));
	} else {
		log_debug("sd_notify: send: %s", strerror(saved));
	}
}

/* The watchdog settings of the environment: the ping interval, 0 for none. */
static uint64_t
watchdog_interval_ms(void)
{
	const char *usec = getenv("WATCHDOG_USEC"), *pid = getenv("WATCHDOG_PID");
	unsigned long long us, p;
	char *end;

	if (usec == NULL || usec[0] == '\0')
		return 0;
	errno = 0;
	us = strtoull(usec, &end, 10);
	if (errno != 0 || *end != '\0' || us == 0 || usec[0] == '-') {
		log_warn("sd_notify: WATCHDOG_USEC=%s is not a positive number: no watchdog pings",
		    usec);
		return 0;
	}
	if (pid != NULL && pid[0] != '\0') {
		errno = 0;
		p = strtoull(pid, &end, 10);
		if (errno != 0 || *end != '\0' || p != (unsigned long long)getpid()) {
			log_info("sd_notify: WATCHDOG_PID=%s is not this process (%ld): no watchdog "
			    "pings", pid, (long)getpid());
			return 0;
		}
	}
	/* Half the timeout, rounded down: early is fine, late is not. */
	return us / 2000 > 0 ? us / 2000 : 1;
}

void
sd_notify_open(void)
{
	const char *path = getenv("NOTIFY_SOCKET");

	sd_notify_close();
	if (path == NULL || path[0] == '\0')
		return;
	if (sd_notify_addr(path, &sd.addr, &sd.addrlen) < 0) {
		log_warn("sd_notify: NOTIFY_SOCKET=%s is neither an absolute path nor @name (or "
		    "too long): no notifications", path);
		return;
	}
	sd.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sd.fd < 0) {
		log_warn("sd_notify: socket: %s: no notifications", strerror(errno));
		return;
	}
	sd.pid = getpid();
	snprintf(sd.name, sizeof(sd.name), "%s", path);
	sd.wd_interval_ms = watchdog_interval_ms();
	sd.wd_next_ms = mono_ms() + sd.wd_interval_ms;
	if (sd.wd_interval_ms > 0)
		log_info("sd_notify: notifying %s, watchdog ping every %llu ms", path,
		    (unsigned long long)sd.wd_interval_ms);
	else
		log_info("sd_notify: notifying %s", path);
}

void
sd_notify_close(void)
{
	if (sd.fd >= 0)
		close(sd.fd);
	memset(&sd, 0, sizeof(sd));
	sd.fd = -1;
}

/* Appends to buf as snprintf would; once full, the text ends in "...". */
static void __attribute__((format(printf, 4, 5)))
append(char *buf, size_t size, size_t *len, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (*len + 1 >= size)
		return;
	va_start(ap, fmt);
	n = vsnprintf(buf + *len, size - *len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= size - *len) {
		*len = size - 1;
		if (size >= 4)
			memcpy(buf + size - 4, "...", 4);
		return;
	}
	*len += (size_t)n;
}

int
sd_notify_status_text(char *buf, size_t size, const struct stats_shm *shm,
    const struct route_set *routes, const char *phase)
{
	uint32_t n = shm->nworkers, ready = 0;
	size_t len = 0;

	if (size == 0)
		return 0;
	buf[0] = '\0';
	for (uint32_t i = 0; i < n; i++)
		ready += (uint32_t)stats_slot_ready(stats_active_c(shm, i), NULL);
	if (ready == n) {
		if (routes->n == 1)
			append(buf, size, &len, "relaying: %u worker%s ready, queue %s -> topic %s", n,
			    n == 1 ? "" : "s", routes->v[0].queue, routes->v[0].topic);
		else
			append(buf, size, &len, "relaying: %u worker%s ready, %zu routes", n,
			    n == 1 ? "" : "s", routes->n);
		return 1;
	}
	append(buf, size, &len, "%s: %u of %u workers ready", phase, ready, n);
	for (uint32_t i = 0; i < n; i++) {
		struct slot_readiness r;
		const char *sep;
		int down;

		if (stats_slot_ready(stats_active_c(shm, i), &r))
			continue;
		append(buf, size, &len, "; worker %u", i);
		if (r.state == WS_DOWN) {
			append(buf, size, &len, " not running");
			continue;
		}
		down = !r.amqp + !r.kafka + !r.redis;
		/* "degraded" says no more than the list of what is down. */
		if (r.state != WS_RUNNING && !(r.state == WS_DEGRADED && down > 0))
			append(buf, size, &len, " %s%s",
			    r.state < WS_STATE_COUNT ? worker_state_names[r.state] : "?",
			    down > 0 ? ":" : "");
		if (down == 0)
			continue;
		sep = " ";
		if (!r.amqp) {
			append(buf, size, &len, "%srabbitmq", sep);
			sep = ", ";
		}
		if (!r.kafka) {
			append(buf, size, &len, "%skafka", sep);
			sep = ", ";
		}
		if (!r.redis)
			append(buf, size, &len, "%sredis", sep);
		append(buf, size, &len, " down");
	}
	return 0;
}

void
sd_notify_update(const struct stats_shm *shm, const struct route_set *routes)
{
	char text[STATUS_MAX], msg[STATUS_MAX + 32];
	uint64_t now;
	int ready;

	if (sd.fd < 0)
		return;
	now = mono_ms();
	if (sd.wd_interval_ms > 0 && now >= sd.wd_next_ms) {
		notify("WATCHDOG=1");
		sd.wd_next_ms = now + sd.wd_interval_ms;
	}
	if (sd.stopping)
		return;
	ready = sd_notify_status_text(text, sizeof(text), shm, routes,
	    !sd.ready_sent ? "starting" : sd.reloading ? "reloading" : "degraded");
	if (ready && !sd.ready_sent) {
		/* Not held back by the STATUS= limit: systemd waits for this one. */
		snprintf(msg, sizeof(msg), "READY=1\nSTATUS=%s", text);
		notify(msg);
		sd.ready_sent = 1;
	} else if (strcmp(text, sd.status) == 0) {
		sd.status_held = 0;
		return;
	} else if (sd.status_ms != 0 && now < sd.status_ms + STATUS_MIN_GAP_MS) {
		sd.status_held = 1;
		return;
	} else {
		snprintf(msg, sizeof(msg), "STATUS=%s", text);
		notify(msg);
	}
	memcpy(sd.status, text, sizeof(sd.status));
	sd.status_ms = now;
	sd.status_held = 0;
}

int
sd_notify_poll_timeout(int timeout_ms)
{
	uint64_t now, due = UINT64_MAX;

	if (sd.fd < 0)
		return timeout_ms;
	now = mono_ms();
	if (sd.wd_interval_ms > 0)
		due = sd.wd_next_ms;
	if (sd.status_held && sd.status_ms + STATUS_MIN_GAP_MS < due)
		due = sd.status_ms + STATUS_MIN_GAP_MS;
	if (due == UINT64_MAX)
		return timeout_ms;
	due = due > now ? due - now : 0;
	if (timeout_ms < 0 || due < (uint64_t)timeout_ms)
		return (int)due;
	return timeout_ms;
}

void
sd_notify_stopping(void)
{
	if (sd.fd < 0 || sd.stopping)
		return;
	notify("STOPPING=1\nSTATUS=stopping");
	sd.stopping = 1;
}

void
sd_notify_reloading(void)
{
	char msg[64];

	if (sd.fd < 0 || !sd.ready_sent || sd.stopping)
		return;
	snprintf(msg, sizeof(msg), "RELOADING=1\nMONOTONIC_USEC=%llu",
	    (unsigned long long)mono_us());
	notify(msg);
	sd.reloading = 1;
}

void
sd_notify_reloaded(void)
{
	if (sd.fd < 0 || !sd.ready_sent || sd.stopping)
		return;
	/* The next sd_notify_update() says in STATUS= how the workers are. */
	notify("READY=1");
	sd.reloading = 0;
}
