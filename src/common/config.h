/*
 * config: the daemon-wide settings (settings.def) loaded from
 * event-relay.conf and overridden by the environment.
 * Every error reads "file:line: setting: message" (or
 * "environment: VAR: message"); all errors are collected and written
 * together before the load fails.
 */
#ifndef ER_CONFIG_H
#define ER_CONFIG_H

#include <stdio.h>

#include "common/log.h"

struct er_strlist {
	char **v;
	size_t n;
};

/* The content of a file that holds a secret, read by config_load(). */
struct er_secret {
	char *path;
	char *value;		/* NUL-terminated; len bytes */
	size_t len;
};

struct er_config {
#define SETTING_FIELD_INT(f)   long f;
#define SETTING_FIELD_BOOL(f)  int f;
#define SETTING_FIELD_STR(f)   char *f;
#define SETTING_FIELD_ADDR(f)  char *f;
#define SETTING_FIELD_ADDRS(f) char *f;
#define SETTING_FIELD_URL(f)   char *f;
#define SETTING_FIELD_LEVEL(f) enum log_level f;
#define SETTING_FIELD_LIST(f)  struct er_strlist f;
#define SETTING_FIELD_CHOICE(f) char *f;
#define SETTING_FIELD_LOGTARGET(f) char *f;
#define SETTING(path, field, type, def, min, max, env, help) SETTING_FIELD_##type(field)
#include "common/settings.def"
#undef SETTING
	char *config_file;	/* as given with -c */
	/*
	 * Every secret file but redis.password_file (whose first line becomes
	 * redis.password): the private keys of rabbitmq.tls_key_file and of
	 * the URLs' keyfile, and the kafka.properties NAME_file files. The
	 * master reads them while it may still be root; the processes it
	 * forks look them up with config_secret() and never open them.
	 */
	struct er_secret *secrets;
	size_t nsecrets;
	/* Span export as resolved from tracing.* and OTEL_* (trace_config.c). */
	char *trace_url;	/* OTLP/HTTP traces URL; NULL: no export */
	char *trace_note;	/* said once at start (JAEGER_URL stood in), or NULL */
	double trace_ratio;	/* tracing.sample_ratio, checked */
	char *trace_resource;	/* OTEL_RESOURCE_ATTRIBUTES, checked, or NULL */
};

#ifndef SYSCONFDIR
#define SYSCONFDIR "/etc"
#endif
#define CONFIG_DEFAULT_PATH SYSCONFDIR "/event-relay/event-relay.conf"

/*
 * The file to read: `given` (-c), else the default file; NULL when no
 * file was given and the default does not exist (the replaced service
 * ran on its environment alone: then the defaults and the environment
 * are the configuration).
 */
const char *config_path(const char *given);

/* Environment lookup, getenv(3) by default; tests pass their own. */
typedef const char *(*config_getenv_fn)(const char *name);

/*
 * Loads defaults, then `path` (NULL: no file), then the environment.
 * Writes every error to `errs` and returns the number of errors (0 on
 * success). On failure the config is still safe to free.
 */
int config_load(struct er_config *cfg, const char *path, config_getenv_fn env, FILE *errs);
/*
 * config_load() for a reload by a master that may have given up root: a
 * secret file it may not read any more (EACCES, EPERM) keeps the content
 * `prev` read from the same path, and the log says so once.
 */
int config_reload(struct er_config *cfg, const char *path, config_getenv_fn env, FILE *errs,
    const struct er_config *prev);
void config_free(struct er_config *cfg);

/* The content of the secret file `path` as read at load, or NULL; *len its size. */
const char *config_secret(const struct er_config *cfg, const char *path, size_t *len);

/*
 * Logs a warning for each insecure choice: TLS verification turned off
 * (rabbitmq.tls_verify_*, librdkafka's enable.ssl.certificate.verification
 * and ssl.endpoint.identification.algorithm), a secret file that every
 * user may read. At start and after a reload.
 */
void config_warn_insecure(const struct er_config *cfg);

/*
 * Splits a key=value,... list (tracing.headers, OTEL_RESOURCE_ATTRIBUTES;
 * the W3C Baggage form without properties: keys are tokens, values are
 * percent-decoded, spaces around either trimmed). Calls `fn` for each
 * pair (keys and values NUL-terminated, valid only during the call).
 * 0, or -1 with the reason in `why`, which never quotes a value.
 */
int config_kv_split(const char *s, void (*fn)(void *arg, const char *key, const char *value),
    void *arg, char *why, size_t whysz);

/* Splits "host:port" ("[v6]:port" too); 0 or -1. `host` gets a copy. */
int config_split_addr(const char *addr, char *host, size_t hostsz, int *port);

/* Prints the effective settings, one "path = value;" line each. */
void config_dump(const struct er_config *cfg, FILE *out);

/* Iterates the settings table, for generated documentation. */
struct setting_doc {
	const char *path, *type, *def, *env, *help;
	long min, max;
};
size_t config_settings(const struct setting_doc **docs);

#endif
