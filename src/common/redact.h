/*
 * redact: the one rule for showing a value that may hold a secret, used
 * by `event-relayd -t`, the log, error messages, /status and
 * event-relayctl. A secret is shown as REDACTED whatever its length;
 * what names it (the setting, the property, the user of a URL) stays.
 *
 * Secrets: the password of a URL (amqp://user:PASSWORD@host), a setting
 * whose last part is "password" (redis.password), tracing.headers (a
 * collector's token), and a librdkafka
 * property that holds one (redact_property). A setting or property
 * ending in "_file" names a file that holds a secret: its path is shown,
 * never the file's content.
 */
#ifndef ER_REDACT_H
#define ER_REDACT_H

#include <stddef.h>

#define REDACTED "********"

/* Whether the setting `path` ("redis.password") holds a secret. */
int redact_setting(const char *path);

/*
 * Whether the librdkafka property name[0..len) holds a secret: any name
 * containing "password" or "secret" (sasl.password, ssl.key.password,
 * ssl.keystore.password, sasl.oauthbearer.client.secret, ...), a PEM
 * given inline (ssl.key.pem and the like), sasl.oauthbearer.config.
 * Not a name ending in "_file": that is a path (see kafka.properties in
 * event-relay.conf(5)).
 */
int redact_property(const char *name, size_t len);

/*
 * Writes s[0..len) to `out` with the password of the URL replaced by
 * REDACTED (also for text that is not a valid URL). Always
 * NUL-terminates; truncates to outsz.
 */
void redact_url(const char *s, size_t len, char *out, size_t outsz);

/*
 * Writes the "name=value" property `pair` to `out`, its value replaced
 * by REDACTED when the name holds a secret. Always NUL-terminates.
 */
void redact_pair(const char *pair, char *out, size_t outsz);

#endif
