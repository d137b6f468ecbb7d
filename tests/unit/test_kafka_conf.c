/*
 * kafka_sink's properties: secrets from kafka.properties NAME_file reach
 * librdkafka as the master read them, and the check (event-relayd -t)
 * finds bad TLS and SASL settings without quoting a secret. No broker is
 * needed: the check's producer has none.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <librdkafka/rdkafka.h>

#include "common/config.h"
#include "worker/kafka_sink.h"

static char tmpdir[64];

static void
make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_kafka_conf.XXXXXX");
	cr_assert(mkdtemp(tmpdir) != NULL, "mkdtemp: %s", strerror(errno));
}

static void
remove_tmpdir(void)
{
	char *cmd;

	cr_assert(asprintf(&cmd, "rm -rf '%s'", tmpdir) > 0);
	cr_expect(system(cmd) == 0);
	free(cmd);
}

TestSuite(kafka_conf, .init = make_tmpdir, .fini = remove_tmpdir);

/* Writes TMP/name; returns its path (caller frees). */
static char *
write_file(const char *name, const char *text)
{
	char *path;
	FILE *f;

	cr_assert(asprintf(&path, "%s/%s", tmpdir, name) > 0);
	f = fopen(path, "w");
	cr_assert(f != NULL, "fopen %s: %s", path, strerror(errno));
	cr_assert(fputs(text, f) >= 0 && fclose(f) == 0);
	return path;
}

static const char *
no_env(const char *name)
{
	(void)name;
	return NULL;
}

/* Loads "kafka.properties = [ <props> ];"; the load must succeed. */
static void
load(struct er_config *cfg, const char *props)
{
	char *text, *path;
	int n;

	cr_assert(asprintf(&text, "kafka.properties = [ %s ];\n", props) > 0);
	path = write_file("test.conf", text);
	n = config_load(cfg, path, no_env, stderr);
	cr_assert(n == 0, "config_load: %d errors", n);
	free(text);
	free(path);
}

static char *
get(rd_kafka_conf_t *conf, const char *name)
{
	static char buf[256];
	size_t n = sizeof(buf);

	if (rd_kafka_conf_get(conf, name, buf, &n) != RD_KAFKA_CONF_OK)
		return NULL;
	return buf;
}

Test(kafka_conf, file_secrets_reach_librdkafka)
{
	char *pw = write_file("kpw", "k-S3cret\n");
	char *kp = write_file("kkp", "kp-S3cret\r\n");
	struct er_config cfg;
	rd_kafka_conf_t *conf;
	char *props, err[512] = "", *v;

	cr_assert(asprintf(&props, "\"security.protocol=sasl_ssl\", \"sasl.mechanism=SCRAM-SHA-512\", "
	    "\"sasl.username=relay\", \"sasl.password_file=%s\", \"ssl.key.password_file=%s\"",
	    pw, kp) > 0);
	load(&cfg, props);
	conf = kafka_sink_conf(&cfg, err, sizeof(err));
	cr_assert(conf != NULL, "kafka_sink_conf: %s", err);
	v = get(conf, "sasl.password");
	cr_expect(v != NULL && strcmp(v, "k-S3cret") == 0, "sasl.password: got %s, want k-S3cret",
	    v != NULL ? v : "(unset)");
	v = get(conf, "ssl.key.password");
	cr_expect(v != NULL && strcmp(v, "kp-S3cret") == 0, "ssl.key.password: got %s, want "
	    "kp-S3cret", v != NULL ? v : "(unset)");
	v = get(conf, "sasl.mechanisms");
	cr_expect(v != NULL && strcmp(v, "SCRAM-SHA-512") == 0, "sasl.mechanism: got %s",
	    v != NULL ? v : "(unset)");
	v = get(conf, "enable.idempotence");
	cr_expect(v != NULL && strcmp(v, "true") == 0, "the relay's defaults are kept: "
	    "enable.idempotence %s", v != NULL ? v : "(unset)");
	/* The file is not read again: its content is the master's copy. */
	cr_assert(unlink(pw) == 0);
	rd_kafka_conf_destroy(conf);
	conf = kafka_sink_conf(&cfg, err, sizeof(err));
	cr_expect(conf != NULL && strcmp(get(conf, "sasl.password"), "k-S3cret") == 0,
	    "after the file was removed: %s", err);
	if (conf != NULL)
		rd_kafka_conf_destroy(conf);
	config_free(&cfg);
	free(props);
	free(pw);
	free(kp);
}

/* The check creates a producer: TLS and SASL mistakes are found, secrets never quoted. */
static const struct {
	const char *name, *props, *want;
} check_cases[] = {
	{ "SASL PLAIN without a user", "\"security.protocol=sasl_plaintext\", "
	  "\"sasl.mechanism=PLAIN\", \"sasl.password_file=PW\"",
	  "kafka.properties: sasl.username and sasl.password must be set" },
	{ "a key that is no PEM", "\"security.protocol=ssl\", \"ssl.key.pem_file=KEY\", "
	  "\"ssl.key.password_file=PW\"", "kafka.properties: ssl.key.pem failed" },
	{ "a CA file that is not there", "\"security.protocol=ssl\", "
	  "\"ssl.ca.location=/nonexistent/ca.pem\"", "kafka.properties: ssl.ca.location failed" },
	{ "an unknown mechanism", "\"security.protocol=sasl_ssl\", \"sasl.mechanism=MAGIC\", "
	  "\"sasl.username=u\", \"sasl.password_file=PW\"",
	  "kafka.properties: Unsupported SASL mechanism: MAGIC" },
	{ "SCRAM with a user and a password", "\"security.protocol=sasl_plaintext\", "
	  "\"sasl.mechanism=SCRAM-SHA-256\", \"sasl.username=u\", \"sasl.password_file=PW\"", NULL },
};

/* Replaces PW and KEY in `props` with the paths. */
static char *
with_paths(const char *props, const char *pw, const char *key)
{
	char *out = strdup(props), *at;

	cr_assert(out != NULL);
	while ((at = strstr(out, "PW")) != NULL || (at = strstr(out, "KEY")) != NULL) {
		int is_pw = strncmp(at, "PW", 2) == 0;
		char *next;

		*at = '\0';
		cr_assert(asprintf(&next, "%s%s%s", out, is_pw ? pw : key, at + (is_pw ? 2 : 3)) > 0);
		free(out);
		out = next;
	}
	return out;
}

Test(kafka_conf, check_finds_tls_and_sasl_mistakes_without_quoting_secrets)
{
	char *pw = write_file("kpw", "k-S3cret\n");
	char *key = write_file("key.pem", "-----BEGIN ENCRYPTED PRIVATE KEY-----\nS3cretKeyBytes\n"
	    "-----END ENCRYPTED PRIVATE KEY-----\n");

	for (size_t i = 0; i < sizeof(check_cases) / sizeof(check_cases[0]); i++) {
		char *props = with_paths(check_cases[i].props, pw, key);
		struct er_config cfg;
		char err[512] = "";
		int rc;

		load(&cfg, props);
		rc = kafka_sink_check_properties(&cfg, err, sizeof(err));
		if (check_cases[i].want == NULL) {
			cr_expect(rc == 0, "%s: got \"%s\", want success", check_cases[i].name, err);
		} else {
			cr_expect(rc == -1, "%s: got success, want \"%s\"", check_cases[i].name,
			    check_cases[i].want);
			cr_expect(strncmp(err, check_cases[i].want, strlen(check_cases[i].want)) == 0,
			    "%s: got \"%s\", want \"%s...\"", check_cases[i].name, err,
			    check_cases[i].want);
		}
		cr_expect(strstr(err, "S3cret") == NULL, "%s: the message shows a secret: %s",
		    check_cases[i].name, err);
		config_free(&cfg);
		free(props);
	}
	free(pw);
	free(key);
}
