/*
 * log: the one logging API of both processes.
 * Lines go to stderr (foreground, tests) or syslog (daemon). Every line
 * carries the process role set by log_set_role() ("master", "worker 3").
 */
#ifndef ER_LOG_H
#define ER_LOG_H

#include <stdarg.h>
#include <stdint.h>

enum log_level {
	LOG_LVL_ERROR = 0,
	LOG_LVL_WARN,
	LOG_LVL_INFO,
	LOG_LVL_DEBUG,
};

enum log_target {
	LOG_TO_STDERR = 0,
	LOG_TO_SYSLOG,
};

void log_open(enum log_target target, enum log_level level);
void log_set_level(enum log_level level);
void log_set_role(const char *role);
int log_enabled(enum log_level level);
/* Parses "error", "warn"/"warning", "info", "debug" (any case); -1 if unknown. */
int log_level_parse(const char *s, enum log_level *out);
const char *log_level_name(enum log_level level);

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
