/*
 * log: formats one line per call and writes it with a single write(2) so
 * that lines from the master and its workers never interleave on a
 * shared stderr. Safe to call after fork; never called from a signal
 * handler.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

static enum log_target log_target = LOG_TO_STDERR;
static enum log_level log_threshold = LOG_LVL_INFO;
static char log_role[32] = "event-relayd";

static const char *const level_names[] = {
	[LOG_LVL_ERROR] = "error",
	[LOG_LVL_WARN] = "warn",
	[LOG_LVL_INFO] = "info",
	[LOG_LVL_DEBUG] = "debug",
};

static const int level_syslog[] = {
	[LOG_LVL_ERROR] = LOG_ERR,
	[LOG_LVL_WARN] = LOG_WARNING,
	[LOG_LVL_INFO] = LOG_INFO,
	[LOG_LVL_DEBUG] = LOG_DEBUG,
};

void
log_open(enum log_target target, enum log_level level)
{
	log_target = target;
	log_threshold = level;
	if (target == LOG_TO_SYSLOG)
		openlog("event-relayd", LOG_PID | LOG_NDELAY, LOG_DAEMON);
}

void
log_set_level(enum log_level level)
{
	log_threshold = level;
}

void
log_set_role(const char *role)
{
	snprintf(log_role, sizeof(log_role), "%s", role);
}

int
log_enabled(enum log_level level)
{
	return level <= log_threshold;
}

int
log_level_parse(const char *s, enum log_level *out)
{
	if (s == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
		if (strcasecmp(s, level_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	if (strcasecmp(s, "warning") == 0) {
		*out = LOG_LVL_WARN;
		return 0;
	}
	return -1;
}

const char *
log_level_name(enum log_level level)
{
	return level_names[level];
}

void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char line[2048];
	size_t n = 0;
	int saved = errno;

	if (!log_enabled(level))
		return;
	if (log_target == LOG_TO_STDERR) {
		struct timespec ts;
		struct tm tm;

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		n = strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%S", &tm);
		n += (size_t)snprintf(line + n, sizeof(line) - n, ".%03ldZ %s[%ld] %s: ",
		    ts.tv_nsec / 1000000, log_role, (long)getpid(), level_names[level]);
	} else {
		n = (size_t)snprintf(line, sizeof(line), "%s: %s: ", log_role, level_names[level]);
	}
	if (n < sizeof(line)) {
		int m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
		if (m > 0)
			n += (size_t)m;
	}
	if (n >= sizeof(line) - 1)
		n = sizeof(line) - 2;
	if (log_target == LOG_TO_SYSLOG) {
		line[n] = '\0';
		syslog(level_syslog[level], "%s", line);
	} else {
		line[n++] = '\n';
		ssize_t w = write(STDERR_FILENO, line, n);
		(void)w;
	}
	errno = saved;
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_vmsg(level, fmt, ap);
	va_end(ap);
}

void
log_repeat(struct log_repeat *r, uint64_t now_ms, const char *fmt, ...)
{
	char text[1024];
	uint32_t h = 2166136261u;	/* FNV-1a */
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	for (const char *p = text; *p != '\0'; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	h |= 1;	/* 0 means "nothing logged yet" */
	if (h != r->hash || now_ms - r->last_ms >= LOG_REPEAT_MS) {
		if (h == r->hash && r->repeats > 0)
			log_warn("%s (%lu more time%s since the last report)", text, r->repeats,
			    r->repeats == 1 ? "" : "s");
		else
			log_warn("%s", text);
		r->hash = h;
		r->last_ms = now_ms;
		r->repeats = 0;
		return;
	}
	r->repeats++;
	log_debug("%s", text);
}

void
log_repeat_reset(struct log_repeat *r)
{
	r->hash = 0;
	r->repeats = 0;
}
