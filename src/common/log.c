/*
 * log: formats one line per call and writes it with a single write(2),
 * to stderr or to the log file opened with O_APPEND, so that lines from
 * the master and its workers never interleave; or hands it to syslog.
 * Owns the log file's descriptor: the master opens it before forking,
 * each worker inherits it, and every process reopens it on its own
 * SIGUSR1 (log_reopen).
 *
 * Safe to call after fork and from librdkafka's threads (a reopen swaps
 * the file under the same descriptor with dup3); never called from a
 * signal handler.
 */
#include "autoconf.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "common/json.h"
#include "common/log.h"

#define MSG_BYTES 2048	/* bytes of a message, after printf formatting */
#define LINE_BYTES 4096	/* bytes of a formatted line: room for a message and escapes */

static enum log_target log_target = LOG_TO_STDERR;
static enum log_target log_fallback = LOG_TO_STDERR;	/* tells of a failed reopen */
static enum log_format log_format = LOG_FMT_TEXT;
static enum log_level log_threshold = LOG_LVL_INFO;
static char log_role[32] = "event-relayd";
static int log_fd = -1;			/* the file of LOG_TO_FILE */
static char log_path[PATH_MAX];

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
	assert(target != LOG_TO_FILE);
	log_target = target;
	log_fallback = target;
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
log_set_format(enum log_format format)
{
	log_format = format;
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

int
log_target_parse(const char *s, enum log_target dflt, enum log_target *out)
{
	if (s == NULL)
		return -1;
	if (*s == '\0')
		*out = dflt;
	else if (strcmp(s, "stderr") == 0)
		*out = LOG_TO_STDERR;
	else if (strcmp(s, "syslog") == 0)
		*out = LOG_TO_SYSLOG;
	else if (*s == '/' && strlen(s) < sizeof(log_path))
		*out = LOG_TO_FILE;
	else
		return -1;
	return 0;
}

/* Opens the log file for appending; a descriptor above stdio, or -1. */
static int
open_file(const char *path)
{
	int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0640);

	/* Started with stdio closed: a daemon points 0-2 at /dev/null. */
	if (fd >= 0 && fd <= STDERR_FILENO) {
		int high = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1), saved = errno;

		close(fd);
		errno = saved;
		fd = high;
	}
	return fd;
}

int
log_start(const char *target, int foreground)
{
	enum log_target t;

	log_fallback = foreground ? LOG_TO_STDERR : LOG_TO_SYSLOG;
	if (log_target_parse(target, log_fallback, &t) != 0) {
		log_error("log.target: \"%s\": must be stderr, syslog or an absolute path", target);
		return -1;
	}
	if (t == LOG_TO_FILE) {
		int fd = open_file(target);

		if (fd < 0) {
			log_error("log.target: cannot open %s: %s", target, strerror(errno));
			return -1;
		}
		snprintf(log_path, sizeof(log_path), "%s", target);
		log_fd = fd;
	}
	/* A daemon's syslog is also where a failed reopen is told. */
	if (t == LOG_TO_SYSLOG || log_fallback == LOG_TO_SYSLOG)
		openlog("event-relayd", LOG_PID | (t == LOG_TO_SYSLOG ? LOG_NDELAY : 0), LOG_DAEMON);
	log_target = t;
	return 0;
}

int
log_to_stderr(void)
{
	return log_target == LOG_TO_STDERR;
}

int
log_after_fork(int fd)
{
	if (log_target == LOG_TO_SYSLOG || log_fallback == LOG_TO_SYSLOG) {
		/* The master's socket is about to be closed or reused. */
		closelog();
		openlog("event-relayd", LOG_PID, LOG_DAEMON);
	}
	if (log_target != LOG_TO_FILE)
		return 0;
	if (log_fd != fd) {
		if (dup3(log_fd, fd, O_CLOEXEC) < 0)
			return -1;
		log_fd = fd;	/* the old one goes with the master's other descriptors */
	}
	return 1;
}

/* Appends s, cut to what fits below cap; returns the new length. */
static size_t
put(char *buf, size_t n, size_t cap, const char *s)
{
	size_t len = strlen(s);

	if (n >= cap)
		return n;
	if (len > cap - n)
		len = cap - n;
	memcpy(buf + n, s, len);
	return n + len;
}

/*
 * buf[start..n) was cut after a byte of s: drops a UTF-8 sequence left
 * incomplete at its end. Escapes are ASCII, so only copied bytes count.
 */
static size_t
utf8_trim(const char *buf, size_t start, size_t n)
{
	size_t i = n;

	while (i > start && n - i < 3 && ((unsigned char)buf[i - 1] & 0xC0) == 0x80)
		i--;
	if (i > start && ((unsigned char)buf[i - 1] & 0xC0) == 0xC0) {
		unsigned char lead = (unsigned char)buf[i - 1];
		size_t want = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;

		if (n - (i - 1) < want)
			return i - 1;
	}
	return n;
}

/* Appends s as the inside of a JSON string, whole characters below cap. */
static size_t
put_json(char *buf, size_t n, size_t cap, const char *s)
{
	size_t start = n;

	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		char esc[8];
		size_t len = json_escape(*p, esc);

		if (n + len > cap)
			return utf8_trim(buf, start, n);
		memcpy(buf + n, esc, len);
		n += len;
	}
	return n;
}

/*
 * A text line's message: a control character (a newline in an event id
 * read from a message, say) is written \xNN, so that one call is one
 * line and no message can forge another.
 */
static size_t
put_text(char *buf, size_t n, size_t cap, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p >= 0x20 && *p != 0x7f) {
			if (n + 1 > cap)
				break;
			buf[n++] = (char)*p;
		} else {
			if (n + 4 > cap)
				break;
			snprintf(buf + n, 5, "\\x%02x", *p);
			n += 4;
		}
	}
	return n;
}

void
log_fputs_text(FILE *out, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p >= 0x20 && *p != 0x7f)
			fputc(*p, out);
		else
			fprintf(out, "\\x%02x", *p);
	}
}

size_t
log_format_line(char *buf, size_t bufsz, enum log_format format, const struct log_line *l)
{
	char head[96];
	struct tm tm;
	size_t n;

	assert(bufsz >= 128);
	gmtime_r(&l->time.tv_sec, &tm);
	n = strftime(head, sizeof(head), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(head + n, sizeof(head) - n, ".%03ldZ", l->time.tv_nsec / 1000000);
	if (format == LOG_FMT_TEXT) {
		n = put(buf, 0, bufsz - 2, head);
		snprintf(head, sizeof(head), " %s[%ld] %s: ", l->process, l->pid,
		    level_names[l->level]);
		n = put(buf, n, bufsz - 2, head);
		n = put_text(buf, n, bufsz - 2, l->msg);
	} else {
		/* Room is kept for what follows each field, so every line closes. */
		n = put(buf, 0, bufsz, "{\"time\":\"");
		n = put(buf, n, bufsz, head);
		n = put(buf, n, bufsz, "\",\"level\":\"");
		n = put(buf, n, bufsz, level_names[l->level]);
		n = put(buf, n, bufsz, "\",\"process\":\"");
		n = put_json(buf, n, bufsz - 48, l->process);
		snprintf(head, sizeof(head), "\",\"pid\":%ld,\"msg\":\"", l->pid);
		n = put(buf, n, bufsz - 4, head);
		n = put_json(buf, n, bufsz - 4, l->msg);
		n = put(buf, n, bufsz - 2, "\"}");
	}
	buf[n++] = '\n';
	buf[n] = '\0';
	return n;
}

/* Writes one formatted message to `target`. */
static void
emit(enum log_target target, enum log_level level, const char *msg)
{
	struct log_line l = { .level = level, .process = log_role, .pid = (long)getpid(),
	    .msg = msg };
	char line[LINE_BYTES];
	size_t n;
	ssize_t w;

	if (target == LOG_TO_SYSLOG && log_format == LOG_FMT_TEXT) {
		syslog(level_syslog[level], "%s: %s: %s", log_role, level_names[level], msg);
		return;
	}
	clock_gettime(CLOCK_REALTIME, &l.time);
	n = log_format_line(line, sizeof(line), log_format, &l);
	if (target == LOG_TO_SYSLOG) {
		line[n - 1] = '\0';
		syslog(level_syslog[level], "%s", line);
		return;
	}
	w = write(target == LOG_TO_FILE ? log_fd : STDERR_FILENO, line, n);
	(void)w;
}

/* emit() of a printf-formatted message. */
static void emitf(enum log_target target, enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void
emitf(enum log_target target, enum log_level level, const char *fmt, ...)
{
	char msg[MSG_BYTES];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	emit(target, level, msg);
}

int
log_reopen(void)
{
	int fd, saved;

	if (log_target != LOG_TO_FILE) {
		log_debug("no log file to reopen");
		return 0;
	}
	fd = open_file(log_path);
	if (fd >= 0 && dup3(fd, log_fd, O_CLOEXEC) >= 0) {
		close(fd);
		log_info("log file %s reopened", log_path);
		return 0;
	}
	saved = errno;
	if (fd >= 0)
		close(fd);
	/* In the old file, and where someone may see it when that is gone. */
	for (int k = 0; k < 2; k++)
		emitf(k == 0 ? LOG_TO_FILE : log_fallback, LOG_LVL_ERROR,
		    "log file %s: cannot reopen: %s; still writing to the old file", log_path,
		    strerror(saved));
	errno = saved;
	return -1;
}

void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
	char msg[MSG_BYTES];
	int saved = errno;

	if (!log_enabled(level))
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	emit(log_target, level, msg);
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
