/*
 * config_secret: the settings that name secret files and TLS material,
 * read and cross-checked once the values of every source are in. Private
 * to config.c and config_secret.c; config_secret() and
 * config_warn_insecure() are public, in config.h.
 */
#ifndef ER_CONFIG_SECRET_H
#define ER_CONFIG_SECRET_H

struct er_config;

/* Reports an error about `setting` (its origin is the loader's business). */
typedef void (*config_err_fn)(void *arg, const char *setting, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Reads redis.password_file into redis.password and every other secret
 * file into cfg->secrets; checks the TLS settings and URL parameters
 * that go together (a client key with its certificate, EXTERNAL login
 * with both and amqps://). `prev` (may be NULL): the configuration
 * before a reload, whose content stands in for a file that may not be
 * read any more. Errors go to `err`.
 */
void config_read_secrets(struct er_config *cfg, const struct er_config *prev, config_err_fn err,
    void *arg);

/* Zeroes and frees cfg->secrets (config_free). */
void config_free_secrets(struct er_config *cfg);

#endif
