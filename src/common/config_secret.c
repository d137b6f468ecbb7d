/*
 * config_secret: secret files and TLS settings, once every source of the
 * configuration is in (see config_secret.h).
 *
 * Secret files are read here, in the master, as it loads the
 * configuration: at start while it may still be root, so a file may be
 * readable by root alone. Three kinds: redis.password_file (its first
 * line), the AMQP client keys (rabbitmq.tls_key_file and each URL's
 * keyfile: the whole PEM file) and kafka.properties NAME_file=PATH (one
 * line, or a whole PEM file for a NAME ending in ".pem"). Workers and the
 * module check find the content with config_secret() and never open the
 * files again.
 *
 * The one thing to know: no message here may quote a file's content;
 * they name the setting and the path.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/amqp_url.h"
#include "common/config.h"
#include "common/config_secret.h"
#include "common/log.h"

#define SECRET_MAX 65536	/* bytes of a secret file: a PEM key and its chain fit */
#define PASSWORD_MAX 4096	/* bytes of redis.password_file's first line */

struct reader {
	struct er_config *cfg;
	const struct er_config *prev;
	config_err_fn err;
	void *arg;
};

/*
 * Reads all of the regular file `path` (at most SECRET_MAX bytes) into a
 * NUL-terminated buffer the caller owns. NULL with errno set (EFBIG: too
 * large, EINVAL: not a regular file).
 */
static char *
slurp(const char *path, size_t *lenp)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	struct stat st;
	char *buf;
	size_t len = 0;
	int saved;

	if (fd < 0)
		return NULL;
	if (fstat(fd, &st) < 0)
		goto fail;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		goto fail;
	}
	if (st.st_size > SECRET_MAX) {
		errno = EFBIG;
		goto fail;
	}
	buf = malloc(SECRET_MAX + 1);
	if (buf == NULL)
		goto fail;
	for (;;) {
		ssize_t n = read(fd, buf + len, SECRET_MAX + 1 - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			saved = errno;
			explicit_bzero(buf, len);
			free(buf);
			errno = saved;
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > SECRET_MAX) {	/* it grew since fstat */
			explicit_bzero(buf, len);
			free(buf);
			errno = EFBIG;
			goto fail;
		}
	}
	close(fd);
	buf[len] = '\0';
	*lenp = len;
	return buf;
fail:
	saved = errno;
	close(fd);
	errno = saved;
	return NULL;
}

static const char *
slurp_error(int e)
{
	if (e == EFBIG)
		return "larger than 64 KiB";
	if (e == EINVAL)
		return "not a regular file";
	return strerror(e);
}

const char *
config_secret(const struct er_config *cfg, const char *path, size_t *len)
{
	for (size_t i = 0; cfg != NULL && i < cfg->nsecrets; i++) {
		if (strcmp(cfg->secrets[i].path, path) == 0) {
			if (len != NULL)
				*len = cfg->secrets[i].len;
			return cfg->secrets[i].value;
		}
	}
	return NULL;
}

void
config_free_secrets(struct er_config *cfg)
{
	for (size_t i = 0; i < cfg->nsecrets; i++) {
		explicit_bzero(cfg->secrets[i].value, cfg->secrets[i].len);
		free(cfg->secrets[i].value);
		free(cfg->secrets[i].path);
	}
	free(cfg->secrets);
	cfg->secrets = NULL;
	cfg->nsecrets = 0;
}

/* Keeps value[0..len) (taken over) as the content of `path`. 0 or -1. */
static int
keep(struct er_config *cfg, const char *path, char *value, size_t len)
{
	struct er_secret *v = realloc(cfg->secrets, (cfg->nsecrets + 1) * sizeof(*v));
	char *p = strdup(path);

	if (v != NULL)
		cfg->secrets = v;
	if (v == NULL || p == NULL) {
		free(p);
		return -1;
	}
	v[cfg->nsecrets].path = p;
	v[cfg->nsecrets].value = value;
	v[cfg->nsecrets].len = len;
	cfg->nsecrets++;
	return 0;
}

/*
 * The master gave up root after it read `path` at start: what it read
 * then stands in (a copy, or NULL if there is none to take).
 */
static char *
from_before(const struct reader *r, const char *setting, const char *path, int e, size_t *len)
{
	const char *old;
	char *copy;

	if ((e != EACCES && e != EPERM) || (old = config_secret(r->prev, path, len)) == NULL)
		return NULL;
	copy = malloc(*len + 1);
	if (copy == NULL)
		return NULL;
	memcpy(copy, old, *len + 1);
	log_warn("%s: cannot read %s any more (%s): keeping its content read before; restart "
	    "event-relayd to read it again", setting, path, strerror(e));
	return copy;
}

enum shape {
	WHOLE,		/* a PEM file, as it is */
	ONE_LINE,	/* one line; a final line break is not part of it */
};

/*
 * Reads the secret file `path` named by `setting` into cfg->secrets
 * (once per path). 0 or -1 after reporting.
 */
static int
read_secret(struct reader *r, const char *setting, const char *path, enum shape shape)
{
	char *buf;
	size_t len;

	if (config_secret(r->cfg, path, NULL) != NULL)
		return 0;
	if (*path != '/') {
		r->err(r->arg, setting, "%s: must be an absolute path", path);
		return -1;
	}
	buf = slurp(path, &len);
	if (buf == NULL) {
		int e = errno;

		buf = from_before(r, setting, path, e, &len);
		if (buf == NULL) {
			r->err(r->arg, setting, "cannot read %s: %s", path, slurp_error(e));
			return -1;
		}
	}
	if (shape == ONE_LINE) {
		while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r'))
			buf[--len] = '\0';
		if (len == 0 || memchr(buf, '\n', len) != NULL || strlen(buf) != len) {
			r->err(r->arg, setting, "%s must hold one line%s", path,
			    len == 0 ? ", not nothing" : " of text");
			explicit_bzero(buf, len);
			free(buf);
			return -1;
		}
	} else if (len == 0) {
		r->err(r->arg, setting, "%s is empty", path);
		free(buf);
		return -1;
	}
	if (keep(r->cfg, path, buf, len) < 0) {
		explicit_bzero(buf, len);
		free(buf);
		r->err(r->arg, setting, "out of memory");
		return -1;
	}
	return 0;
}

/* redis.password_file: its first line becomes redis.password. */
static void
read_redis_password(struct reader *r)
{
	struct er_config *cfg = r->cfg;
	const char *path = cfg->redis_password_file, *setting = "redis.password_file";
	char *buf, *nl;
	size_t len, size;

	if (path == NULL || *path == '\0')
		return;
	if (cfg->redis_password != NULL && *cfg->redis_password != '\0') {
		r->err(r->arg, setting, "cannot be combined with redis.password");
		return;
	}
	buf = slurp(path, &len);
	if (buf == NULL) {
		int e = errno;

		/* At a reload, the password read before from the same file. */
		if ((e == EACCES || e == EPERM) && r->prev != NULL &&
		    r->prev->redis_password_file != NULL &&
		    strcmp(r->prev->redis_password_file, path) == 0 &&
		    r->prev->redis_password != NULL && *r->prev->redis_password != '\0') {
			log_warn("%s: cannot read %s any more (%s): keeping the password read "
			    "before; restart event-relayd to read it again", setting, path,
			    strerror(e));
			free(cfg->redis_password);
			cfg->redis_password = strdup(r->prev->redis_password);
			if (cfg->redis_password == NULL)
				r->err(r->arg, setting, "out of memory");
			return;
		}
		r->err(r->arg, setting, "cannot read %s: %s", path, slurp_error(e));
		return;
	}
	size = len;
	if (len == 0) {
		r->err(r->arg, setting, "%s is empty", path);
		free(buf);
		return;
	}
	nl = memchr(buf, '\n', len);
	if ((nl != NULL ? (size_t)(nl - buf) : len) >= PASSWORD_MAX) {
		r->err(r->arg, setting, "first line of %s is longer than %d bytes", path,
		    PASSWORD_MAX - 1);
		goto out;
	}
	if (nl != NULL)
		*nl = '\0';
	len = strlen(buf);
	while (len > 0 && buf[len - 1] == '\r')
		buf[--len] = '\0';
	if (len == 0) {
		r->err(r->arg, setting, "first line of %s is empty", path);
		goto out;
	}
	free(cfg->redis_password);
	cfg->redis_password = strdup(buf);
	if (cfg->redis_password == NULL)
		r->err(r->arg, setting, "out of memory");
out:
	explicit_bzero(buf, size);
	free(buf);
}

/*
 * kafka.properties: each NAME_file=PATH is read; NAME and NAME_file both
 * given is an error (which one would win?).
 */
static void
read_kafka_files(struct reader *r)
{
	const struct er_strlist *l = &r->cfg->kafka_properties;
	const char *setting = "kafka.properties";

	for (size_t i = 0; i < l->n; i++) {
		const char *p = l->v[i], *eq = strchr(p, '=');
		size_t n = eq != NULL ? (size_t)(eq - p) : 0;
		size_t base = n - strlen("_file");

		if (eq == NULL || n <= strlen("_file") || strncmp(eq - 5, "_file", 5) != 0)
			continue;
		for (size_t k = 0; k < l->n; k++) {
			if (strncmp(l->v[k], p, base) == 0 && l->v[k][base] == '=') {
				r->err(r->arg, setting, "%.*s and %.*s: give one of them", (int)base, p,
				    (int)n, p);
				break;
			}
		}
		read_secret(r, setting, eq + 1,
		    base > 4 && strncmp(p + base - 4, ".pem", 4) == 0 ? WHOLE : ONE_LINE);
	}
}

/*
 * The TLS material of each URL: a client key goes with a certificate,
 * EXTERNAL needs both and amqps://, every file named is an absolute path.
 */
static void
check_urls(struct reader *r)
{
	struct er_config *cfg = r->cfg;
	struct amqp_url *v = calloc(AMQP_URL_MAX, sizeof(*v));
	int external = strcmp(cfg->amqp_auth_mechanism, "external") == 0, n;
	char msg[256];
	static const char *const paths[] = {
		"rabbitmq.tls_ca_file", "rabbitmq.tls_cert_file", "rabbitmq.tls_key_file",
	};
	const char *const values[] = {
		cfg->amqp_tls_ca_file, cfg->amqp_tls_cert_file, cfg->amqp_tls_key_file,
	};

	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
		if (values[i] != NULL && *values[i] != '\0' && *values[i] != '/')
			r->err(r->arg, paths[i], "must be an absolute path");
	if (v == NULL) {
		r->err(r->arg, "rabbitmq.url", "out of memory");
		return;
	}
	n = amqp_url_parse_list(cfg->amqp_url, v, AMQP_URL_MAX, msg, sizeof(msg));
	for (int i = 0; i < n; i++) {
		const struct amqp_url *u = &v[i];
		const char *cert = *u->certfile != '\0' ? u->certfile : cfg->amqp_tls_cert_file;
		const char *key = *u->keyfile != '\0' ? u->keyfile : cfg->amqp_tls_key_file;
		int ext = u->auth != AMQP_AUTH_UNSET ? u->auth == AMQP_AUTH_EXTERNAL : external;
		char which[32] = "";

		if (n > 1)
			snprintf(which, sizeof(which), "URL %d of %d: ", i + 1, n);
		if (!u->tls) {
			if (ext)
				r->err(r->arg, u->auth != AMQP_AUTH_UNSET ? "rabbitmq.url" :
				    "rabbitmq.auth_mechanism", "%sexternal logs in with a TLS client "
				    "certificate: it needs an amqps:// URL", which);
			continue;
		}
		if ((*cert != '\0') != (*key != '\0'))
			r->err(r->arg, *u->certfile != '\0' || *u->keyfile != '\0' ? "rabbitmq.url" :
			    *cert != '\0' ? "rabbitmq.tls_cert_file" : "rabbitmq.tls_key_file",
			    "%sa client certificate needs its key and a "
			    "key its certificate (rabbitmq.tls_cert_file and rabbitmq.tls_key_file, "
			    "or the URL's certfile and keyfile)", which);
		else if (ext && *cert == '\0')
			r->err(r->arg, u->auth != AMQP_AUTH_UNSET ? "rabbitmq.url" :
			    "rabbitmq.auth_mechanism", "%sexternal logs in with a TLS client "
			    "certificate: set rabbitmq.tls_cert_file and rabbitmq.tls_key_file (or "
			    "the URL's certfile and keyfile)", which);
		if (*key != '\0')
			read_secret(r, *u->keyfile != '\0' ? "rabbitmq.url" : "rabbitmq.tls_key_file",
			    key, WHOLE);
	}
	explicit_bzero(v, AMQP_URL_MAX * sizeof(*v));
	free(v);
}

void
config_read_secrets(struct er_config *cfg, const struct er_config *prev, config_err_fn err,
    void *arg)
{
	struct reader r = { cfg, prev, err, arg };

	read_redis_password(&r);
	read_kafka_files(&r);
	if (cfg->amqp_url != NULL && cfg->amqp_auth_mechanism != NULL)
		check_urls(&r);
}

/* A secret file that every user may read. */
static void
warn_mode(const char *setting, const char *path)
{
	struct stat st;

	if (path != NULL && *path != '\0' && stat(path, &st) == 0 && (st.st_mode & S_IROTH))
		log_warn("%s: %s is readable by every user (mode %04o): make it 0600 or 0640",
		    setting, path, (unsigned)(st.st_mode & 07777));
}

void
config_warn_insecure(const struct er_config *cfg)
{
	const struct er_strlist *l = &cfg->kafka_properties;

	if (!cfg->amqp_tls_verify_peer)
		log_warn("rabbitmq.tls_verify_peer is false: the certificate of an amqps:// broker "
		    "is not verified, and whoever is on the path can pose as the broker");
	if (!cfg->amqp_tls_verify_hostname)
		log_warn("rabbitmq.tls_verify_hostname is false: the name in an amqps:// broker's "
		    "certificate is not checked, and any host with a trusted certificate can pose "
		    "as the broker");
	for (size_t i = 0; i < l->n; i++) {
		const char *p = l->v[i];

		if (strcasecmp(p, "enable.ssl.certificate.verification=false") == 0)
			log_warn("kafka.properties: enable.ssl.certificate.verification=false: the "
			    "brokers' certificates are not verified, and whoever is on the path can "
			    "pose as a broker");
		else if (strcasecmp(p, "ssl.endpoint.identification.algorithm=none") == 0)
			log_warn("kafka.properties: ssl.endpoint.identification.algorithm=none: the "
			    "name in a broker's certificate is not checked");
	}
	warn_mode("redis.password_file", cfg->redis_password_file);
	for (size_t i = 0; i < cfg->nsecrets; i++)
		warn_mode("a secret file", cfg->secrets[i].path);
}
