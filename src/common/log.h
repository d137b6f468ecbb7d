/*
 * log: the one logging API of both processes.
 * Lines go to stderr, syslog or a file (log.target), as text or as one
 * JSON object each (log.format). Every line carries the process role set
 * by log_set_role() ("master", "worker 3").
 */
#ifndef ER_LOG_H
#define ER_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

enum log_target {
	LOG_TO_STDERR = 0,
	LOG_TO_SYSLOG,
	LOG_TO_FILE,
};

enum log_format {
	LOG_FMT_TEXT = 0,
	LOG_FMT_JSON,
};

/* Sends lines to stderr or syslog (not LOG_TO_FILE: see log_start()). */
void log_open(enum log_target target, enum log_level level);
void log_set_level(enum log_level level);
void log_set_format(enum log_format format);
void log_set_role(const char *role);
int log_enabled(enum log_level level);
/* Parses "error", "warn"/"warning", "info", "debug" (any case); -1 if unknown. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);

/*
 * log.target: "stderr", "syslog" or an absolute path (LOG_TO_FILE); ""
 * is `dflt`. 0, or -1 if `s` is none of these.
 */
int log_target_parse(const char *s, enum log_target dflt, enum log_target *out);

/*
 * Directs the log as log.target says: "" is stderr in the foreground
 * and syslog as a daemon. A file is opened here (O_APPEND, mode 0640),
 * so call it before forking: every process then writes its own lines to
 * the same open file, each with one write(2). 0, or -1 after saying on
 * stderr why the file cannot be opened.
 */
int log_start(const char *target, int foreground);
/* Whether lines go to stderr (which a daemon then keeps open). */
int log_to_stderr(void);

/*
 * Opens the log file again by its path (after logrotate renamed it) and
 * puts the new file in place of the old one under the same descriptor,
 * so a line being written meanwhile by another thread goes to one or the
 * other. Nothing to do without a file. On failure the old file is kept,
 * and the failure is logged there and to stderr (foreground) or syslog
 * (daemon); returns -1.
 */
int log_reopen(void);

/*
 * In a new worker process, before it closes the master's descriptors:
 * drops the master's syslog connection (the worker makes its own on
 * first use) and moves the log file, if there is one, to descriptor
 * `fd`, replacing whatever is there. Returns how many descriptors from
 * `fd` on the log keeps (0 or 1), or -1.
 */
int log_after_fork(int fd);

/* One line as it is formatted, for log_format_line(). */
struct log_line {
	struct timespec time;	/* CLOCK_REALTIME */
	enum log_level level;
	const char *process;	/* the role: "master", "worker 1" */
	long pid;
	const char *msg;
};

/*
 * Formats `l` into buf as one line ending in '\n', NUL-terminated;
 * returns its length (< bufsz; bufsz must be at least 128). text:
 * "2026-12-02T03:59:41.006Z worker 1[8439] info: msg"; json:
 * {"time":"...","level":"info","process":"worker 1","pid":8439,"msg":"..."}
 * with '"', '\\' and control characters escaped (\u00XX) and bytes from
 * 0x80 copied. A message too long for buf is cut, in JSON at a character
 * boundary so that the line stays valid.
 */
size_t log_format_line(char *buf, size_t bufsz, enum log_format format, const struct log_line *l);

/*
 * Writes s with every control character as \xNN, the rule of text log
 * lines: for error lines that quote their input (configuration and
 * route files), so that one error stays one line.
 */
void log_fputs_text(FILE *out, const char *s);

void log_msg(enum log_level level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
	__attribute__((format(printf, 2, 0)));

/*
 * A failure that repeats (a reconnect that keeps failing the same way):
 * each distinct message is logged at warn once, then at most every
 * LOG_REPEAT_MS with the number of repeats in between; the repeats
 * themselves go to debug. Zero-initialise; log_repeat_reset() after a
 * success, so that the next failure is logged at once.
 */
#define LOG_REPEAT_MS 60000
struct log_repeat {
	uint32_t hash;
	uint64_t last_ms;
	unsigned long repeats;
};
void log_repeat(struct log_repeat *r, uint64_t now_ms, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void log_repeat_reset(struct log_repeat *r);

#define log_error(...) log_msg(LOG_LVL_ERROR, __VA_ARGS__)
#define log_warn(...)  log_msg(LOG_LVL_WARN, __VA_ARGS__)
#define log_info(...)  log_msg(LOG_LVL_INFO, __VA_ARGS__)
#define log_debug(...) \
	do { if (log_enabled(LOG_LVL_DEBUG)) log_msg(LOG_LVL_DEBUG, __VA_ARGS__); } while (0)

#endif
