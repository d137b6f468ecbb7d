/*
 * Unit tests of config: defaults, the libconfig file (nested and dotted
 * forms), environment overrides, redis.password_file and the other
 * secret files (and a reload that may not read them any more), every error
 * message, and the exact error output of one multi-error file
 * (golden/config_errors.txt).
 *
 * Each test runs in its own process (Criterion) with a fresh temporary
 * directory; error output is compared with the file's path replaced by
 * "FILE" and the directory by "TMP". The environment is always a table
 * of ours, never the process environment.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/config.h"

static char tmpdir[64];
static char *created[16];
static size_t ncreated;

static void
make_tmpdir(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_config.XXXXXX");
	cr_assert(mkdtemp(tmpdir) != NULL, "mkdtemp: %s", strerror(errno));
}

static void
remove_tmpdir(void)
{
	for (size_t i = 0; i < ncreated; i++) {
		unlink(created[i]);
		free(created[i]);
	}
	ncreated = 0;
	rmdir(tmpdir);
}

TestSuite(config, .init = make_tmpdir, .fini = remove_tmpdir);

/* (Re)writes `len` bytes to TMP/name; returns its path, removed at teardown. */
static const char *
write_file_len(const char *name, const char *text, size_t len)
{
	char *path;
	FILE *f;

	cr_assert(asprintf(&path, "%s/%s", tmpdir, name) > 0);
	f = fopen(path, "w");
	cr_assert(f != NULL, "fopen %s: %s", path, strerror(errno));
	cr_assert(fwrite(text, 1, len, f) == len);
	cr_assert(fclose(f) == 0);
	for (size_t i = 0; i < ncreated; i++) {
		if (strcmp(created[i], path) == 0) {
			free(path);
			return created[i];
		}
	}
	cr_assert(ncreated < sizeof(created) / sizeof(created[0]), "too many files");
	created[ncreated++] = path;
	return path;
}

static const char *
write_file(const char *name, const char *text)
{
	return write_file_len(name, text, strlen(text));
}

/* The environment of a test: NULL-terminated name, value pairs. */
static const char *const *test_env;

static const char *
table_getenv(const char *name)
{
	for (const char *const *e = test_env; e != NULL && e[0] != NULL; e += 2)
		if (strcmp(e[0], name) == 0)
			return e[1];
	return NULL;
}

/* Replaces every `from` in `s` (malloc'd, freed) with `to`. */
static char *
replace_all(char *s, const char *from, const char *to)
{
	size_t fl = strlen(from), tl = strlen(to), n = 0;
	char *out, *o;

	if (fl == 0)
		return s;
	for (const char *p = strstr(s, from); p != NULL; p = strstr(p + fl, from))
		n++;
	out = malloc(strlen(s) + n * tl + 1);
	cr_assert(out != NULL);
	o = out;
	for (const char *p = s;;) {
		const char *hit = strstr(p, from);

		if (hit == NULL) {
			strcpy(o, p);
			break;
		}
		memcpy(o, p, (size_t)(hit - p));
		o += hit - p;
		memcpy(o, to, tl);
		o += tl;
		p = hit + fl;
	}
	free(s);
	return out;
}

struct result {
	int n;		/* config_load's return */
	char *errs;	/* its error output, paths replaced */
	char *dump;	/* config_dump of the result */
};

static void
result_free(struct result *r)
{
	free(r->errs);
	free(r->dump);
}

/* Loads `path` with environment `env` into `cfg`; caller frees both. */
static struct result
load_path(struct er_config *cfg, const char *path, const char *const *env)
{
	struct result r = { 0, NULL, NULL };
	size_t len;
	FILE *f = open_memstream(&r.errs, &len);

	cr_assert(f != NULL);
	test_env = env;
	r.n = config_load(cfg, path, table_getenv, f);
	cr_assert(fclose(f) == 0);
	f = open_memstream(&r.dump, &len);
	cr_assert(f != NULL);
	config_dump(cfg, f);
	cr_assert(fclose(f) == 0);
	if (path != NULL)
		r.errs = replace_all(r.errs, path, "FILE");
	r.errs = replace_all(r.errs, tmpdir, "TMP");
	return r;
}

/* Writes `text` to TMP/test.conf and loads it. */
static struct result
load_text(struct er_config *cfg, const char *text, const char *const *env)
{
	return load_path(cfg, write_file("test.conf", text), env);
}

static char *
read_golden(const char *name)
{
	char *path, *buf;
	size_t len;
	FILE *f;

	cr_assert(asprintf(&path, "%s/golden/%s", TEST_SRCDIR, name) > 0);
	f = fopen(path, "r");
	cr_assert(f != NULL, "fopen %s: %s", path, strerror(errno));
	cr_assert(fseek(f, 0, SEEK_END) == 0);
	len = (size_t)ftell(f);
	rewind(f);
	buf = malloc(len + 1);
	cr_assert(buf != NULL);
	cr_assert(fread(buf, 1, len, f) == len);
	buf[len] = '\0';
	fclose(f);
	free(path);
	/* Defaults under the build's sysconfdir are written @SYSCONFDIR@ there. */
	for (char *at; (at = strstr(buf, "@SYSCONFDIR@")) != NULL;) {
		char *out;

		*at = '\0';
		cr_assert(asprintf(&out, "%s%s%s", buf, SYSCONFDIR, at + 12) > 0);
		free(buf);
		buf = out;
	}
	return buf;
}

/* Whether `text` has the whole line `line` (without its newline). */
static int
has_line(const char *text, const char *line)
{
	size_t n = strlen(line);

	for (const char *p = text; *p != '\0'; p++) {
		if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return 1;
		p = strchr(p, '\n');
		if (p == NULL)
			return 0;
	}
	return 0;
}

Test(config, defaults_match_golden_dump)
{
	struct er_config cfg;
	struct result r = load_path(&cfg, NULL, NULL);
	char *want = read_golden("config_defaults.txt");

	cr_expect(r.n == 0, "errors: got %d (%s), want 0", r.n, r.errs);
	cr_expect_str_eq(r.errs, "", "error output: got \"%s\", want \"\"", r.errs);
	cr_expect_str_eq(r.dump, want, "dump: got\n%s\nwant\n%s", r.dump, want);
	cr_expect(cfg.workers == 2, "workers: got %ld, want 2", cfg.workers);
	cr_expect(cfg.amqp_declare == 1, "rabbitmq.declare: got %d, want 1", cfg.amqp_declare);
	cr_expect(cfg.log_level == LOG_LVL_INFO, "log.level: got %d, want %d", (int)cfg.log_level,
	    (int)LOG_LVL_INFO);
	cr_expect(cfg.kafka_properties.n == 0, "kafka.properties: got %zu elements, want 0",
	    cfg.kafka_properties.n);
	cr_expect(cfg.config_file == NULL, "config_file: got %s, want NULL", cfg.config_file);
	cr_expect(cfg.user != NULL && *cfg.user == '\0', "user: got %s, want \"\"", cfg.user);
	free(want);
	result_free(&r);
	config_free(&cfg);
}

Test(config, empty_file_is_defaults)
{
	struct er_config cfg;
	struct result r = load_text(&cfg, "", NULL);
	char *want = read_golden("config_defaults.txt");

	cr_expect(r.n == 0, "errors: got %d (%s), want 0", r.n, r.errs);
	cr_expect_str_eq(r.dump, want, "dump: got\n%s\nwant\n%s", r.dump, want);
	cr_expect(cfg.config_file != NULL && strstr(cfg.config_file, "/test.conf") != NULL,
	    "config_file: got %s, want the path", cfg.config_file);
	free(want);
	result_free(&r);
	config_free(&cfg);
}

Test(config, comments_only_file_is_valid)
{
	struct er_config cfg;
	struct result r = load_text(&cfg, "# nothing\n// here\n/* at\n all */\n", NULL);

	cr_expect(r.n == 0, "errors: got %d (%s), want 0", r.n, r.errs);
	result_free(&r);
	config_free(&cfg);
}

/* Valid files: each must load without error and dump `want` as one line. */
static const struct {
	const char *name, *text, *want;
} valid_cases[] = {
	{ "nested int", "rabbitmq = { prefetch = 500; };", "rabbitmq.prefetch = 500;" },
	{ "dotted int", "rabbitmq.prefetch = 500;", "rabbitmq.prefetch = 500;" },
	{ "top-level int", "workers = 64;", "workers = 64;" },
	{ "int at min", "redis.db = 0;", "redis.db = 0;" },
	{ "64-bit literal", "redis.ttl = 100L;", "redis.ttl = 100;" },
	{ "hex literal", "redis.db = 0x10;", "redis.db = 16;" },
	{ "largest int", "event.max_message_bytes = 104857600;",
	  "event.max_message_bytes = 104857600;" },
	{ "colon assignment", "workers : 3;", "workers = 3;" },
	{ "bool false", "rabbitmq = { declare = false; };", "rabbitmq.declare = false;" },
	{ "bool upper case", "rabbitmq.declare = FALSE;", "rabbitmq.declare = false;" },
	{ "string", "kafka.topic = \"orders\";", "kafka.topic = \"orders\";" },
	{ "string escapes", "rabbitmq.queue = \"a\\\"b\\\\c\";", "rabbitmq.queue = \"a\\\"b\\\\c\";" },
	{ "string with dots and numbers", "kafka.topic = \"a.b 10000000000 #x\";",
	  "kafka.topic = \"a.b 10000000000 #x\";" },
	{ "empty string allowed", "user = \"\";", "user = \"\";" },
	{ "addr v4", "redis.address = \"10.0.0.1:6380\";", "redis.address = \"10.0.0.1:6380\";" },
	{ "addr name", "redis = { address = \"redis:1\"; };", "redis.address = \"redis:1\";" },
	{ "addr v6", "metrics.listen = \"[::1]:9100\";", "metrics.listen = \"[::1]:9100\";" },
	{ "addr max port", "metrics.listen = \"h:65535\";", "metrics.listen = \"h:65535\";" },
	{ "url amqps", "rabbitmq.url = \"amqps://h/v\";", "rabbitmq.url = \"amqps://h/v\";" },
	{ "url list", "rabbitmq.url = \"amqp://a,amqps://b\";",
	  "rabbitmq.url = \"amqp://a,amqps://b\";" },
	{ "url password masked", "rabbitmq.url = \"amqp://u:pw@h/,amqp://v:x@h2\";",
	  "rabbitmq.url = \"amqp://u:********@h/,amqp://v:********@h2\";" },
	{ "url upper-case scheme, blanks around commas", "rabbitmq.url = \"AMQP://h, amqp://i\";",
	  "rabbitmq.url = \"AMQP://h, amqp://i\";" },
	{ "level warning", "log = { level = \"warning\"; };", "log.level = \"warn\";" },
	{ "level debug", "log.level = \"DEBUG\";", "log.level = \"debug\";" },
	{ "level error", "log.level = \"error\";", "log.level = \"error\";" },
	{ "target stderr", "log.target = \"stderr\";", "log.target = \"stderr\";" },
	{ "target syslog", "log = { target = \"syslog\"; };", "log.target = \"syslog\";" },
	{ "target file", "log.target = \"/var/log/event-relay/relay.log\";",
	  "log.target = \"/var/log/event-relay/relay.log\";" },
	{ "target empty", "log.target = \"\";", "log.target = \"\";" },
	{ "format json", "log = { format = \"json\"; target = \"/l\"; };", "log.format = \"json\";" },
	{ "list array", "kafka.properties = [ \"linger.ms=5\", \"acks=all\" ];",
	  "kafka.properties = [ \"linger.ms=5\", \"acks=all\" ];" },
	{ "list list", "kafka = { properties = ( \"a=b\" ); };", "kafka.properties = [ \"a=b\" ];" },
	{ "list empty", "kafka.properties = [];", "kafka.properties = [];" },
	{ "list empty value", "kafka.properties = [ \"a=\" ];", "kafka.properties = [ \"a=\" ];" },
	{ "list secret masked", "kafka.properties = [ \"sasl.password=pw\", \"x.client.secret=s\" ];",
	  "kafka.properties = [ \"sasl.password=********\", \"x.client.secret=********\" ];" },
	{ "password masked", "redis.password = \"hunter2\";", "redis.password = \"********\";" },
	{ "list secrets of every kind masked",
	  "kafka.properties = [ \"ssl.keystore.password=a\", \"ssl.key.pem=b\", "
	  "\"sasl.oauthbearer.config=c\", \"sasl.oauthbearer.client.secret=d\", \"sasl.username=u\" ];",
	  "kafka.properties = [ \"ssl.keystore.password=********\", \"ssl.key.pem=********\", "
	  "\"sasl.oauthbearer.config=********\", \"sasl.oauthbearer.client.secret=********\", "
	  "\"sasl.username=u\" ];" },
	{ "url TLS parameters", "rabbitmq.url = \"amqps://u:pw@mq/v?cacertfile=/etc/ca.pem&"
	  "server_name_indication=mq.example.com\";",
	  "rabbitmq.url = \"amqps://u:********@mq/v?cacertfile=/etc/ca.pem&"
	  "server_name_indication=mq.example.com\";" },
	{ "TLS settings", "rabbitmq = { tls_ca_file = \"/etc/ca.pem\"; tls_verify_peer = false; };",
	  "rabbitmq.tls_ca_file = \"/etc/ca.pem\";" },
	{ "redis user", "redis = { username = \"relay\"; password = \"pw\"; };",
	  "redis.username = \"relay\";" },
	{ "mixed forms", "rabbitmq = { queue = \"q\"; };\nrabbitmq.prefetch = 7;\n",
	  "rabbitmq.prefetch = 7;" },
	{ "nested resilience", "resilience = { max_retries = 3; breaker_threshold = 9; };",
	  "resilience.max_retries = 3;" },
	{ "float in comment", "workers = 4; # 1.5 and 10000000000\n", "workers = 4;" },
	{ "sentinels as a list", "redis = { sentinels = [ \"s1:26379\", \"s2:26379\" ]; "
	  "master_name = \"main\"; sentinel_password = \"pw\"; };",
	  "redis.sentinels = \"s1:26379,s2:26379\";" },
	{ "sentinels as a string", "redis.sentinels = \"s1:26379,s2:26379\";\n"
	  "redis.master_name = \"main\";\nredis.sentinel_password = \"pw\";\n",
	  "redis.sentinel_password = \"********\";" },
};

Test(config, valid_files)
{
	for (size_t i = 0; i < sizeof(valid_cases) / sizeof(valid_cases[0]); i++) {
		struct er_config cfg;
		struct result r = load_text(&cfg, valid_cases[i].text, NULL);

		cr_expect(r.n == 0, "%s: errors: got %d (%s), want 0", valid_cases[i].name, r.n, r.errs);
		cr_expect(has_line(r.dump, valid_cases[i].want), "%s: dump: got\n%s\nwant a line %s",
		    valid_cases[i].name, r.dump, valid_cases[i].want);
		result_free(&r);
		config_free(&cfg);
	}
}

Test(config, nested_and_dotted_set_the_same_fields)
{
	struct er_config a, b;
	struct result ra = load_text(&a,
	    "rabbitmq = { prefetch = 5; queue = \"q\"; };\n"
	    "kafka = { properties = [ \"a=b\" ]; };\n"
	    "log = { level = \"debug\"; };\n", NULL);
	struct result rb = load_text(&b,
	    "rabbitmq.prefetch = 5;\nrabbitmq.queue = \"q\";\n"
	    "kafka.properties = [ \"a=b\" ];\nlog.level = \"debug\";\n", NULL);

	cr_expect(ra.n == 0 && rb.n == 0, "errors: got %d and %d, want 0", ra.n, rb.n);
	cr_expect(a.amqp_prefetch == 5, "rabbitmq.prefetch: got %ld, want 5", a.amqp_prefetch);
	cr_expect_str_eq(a.amqp_queue, "q", "rabbitmq.queue: got %s, want q", a.amqp_queue);
	cr_expect(a.kafka_properties.n == 1 && strcmp(a.kafka_properties.v[0], "a=b") == 0,
	    "kafka.properties: got %zu elements, want [a=b]", a.kafka_properties.n);
	cr_expect(a.log_level == LOG_LVL_DEBUG, "log.level: got %d, want debug", (int)a.log_level);
	cr_expect_str_eq(ra.dump, rb.dump, "dumps differ: nested\n%s\ndotted\n%s", ra.dump, rb.dump);
	result_free(&ra);
	result_free(&rb);
	config_free(&a);
	config_free(&b);
}

Test(config, dump_reloads_to_the_same_settings)
{
	struct er_config a, b;
	struct result ra = load_text(&a,
	    "workers = 7;\nrabbitmq.url = \"amqp://h1,amqp://h2\";\nrabbitmq.declare = false;\n"
	    "kafka.properties = [ \"a=b\", \"c=d\" ];\nuser = \"q\\\"x\";\nlog.level = \"error\";\n",
	    NULL);
	const char *dumped = write_file("dumped.conf", ra.dump);
	struct result rb = load_path(&b, dumped, NULL);

	cr_expect(ra.n == 0 && rb.n == 0, "errors: got %d (%s) and %d (%s), want 0", ra.n, ra.errs,
	    rb.n, rb.errs);
	cr_expect_str_eq(rb.dump, ra.dump, "reloaded dump: got\n%s\nwant\n%s", rb.dump, ra.dump);
	result_free(&ra);
	result_free(&rb);
	config_free(&a);
	config_free(&b);
}

/* Files with errors: the whole error output, file path as FILE. */
static const struct {
	const char *name, *text, *want;
	int n;
} error_cases[] = {
	{ "unknown nested", "rabbitmq = {\n  prefetch = 5;\n  prefech = 5;\n};\n",
	  "FILE:3: rabbitmq.prefech: unknown setting\n", 1 },
	{ "unknown dotted", "\n\nrabbitmq.prefech = 5;\n",
	  "FILE:3: rabbitmq.prefech: unknown setting\n", 1 },
	{ "unknown top level", "worker = 2;\n", "FILE:1: worker: unknown setting\n", 1 },
	{ "instance with a colon", "instance = \"a:b\";\n",
	  "FILE:1: instance: must be at most 63 letters, digits, '.', '_' or '-'\n", 1 },
	{ "sentinels without a master name", "\nredis.sentinels = [ \"s1:26379\" ];\n",
	  "FILE:2: redis.sentinels: needs redis.master_name (the name the sentinels monitor the "
	  "master under)\n", 1 },
	{ "sentinel not host:port", "redis.sentinels = [ \"s1:26379\", \"s2\" ];\n"
	  "redis.master_name = \"m\";\n",
	  "FILE:1: redis.sentinels: element 2 (\"s2\") must be host:port with a port between 1 and "
	  "65535\nFILE:2: redis.master_name: needs redis.sentinels (the sentinels to ask for the "
	  "master)\n", 2 },
	{ "sentinel with a comma", "redis.sentinels = [ \"s1:1,s2:2\" ];\nredis.master_name = \"m\";\n",
	  "FILE:1: redis.sentinels: element 1 must be one host:port\nFILE:2: redis.master_name: needs "
	  "redis.sentinels (the sentinels to ask for the master)\n", 2 },
	{ "unknown group", "rabbit = { url = \"amqp://x\"; };\n",
	  "FILE:1: rabbit: unknown setting\n", 1 },
	{ "group below a setting", "workers = { n = 1; };\n",
	  "FILE:1: workers: expected an integer\n", 1 },
	{ "group where a leaf is", "rabbitmq = { queue = { name = \"x\"; }; };\n",
	  "FILE:1: rabbitmq.queue: expected a string\n", 1 },
	{ "int as string", "workers = \"2\";\n", "FILE:1: workers: expected an integer\n", 1 },
	{ "int as float", "workers = 2.0;\n", "FILE:1: workers: expected an integer\n", 1 },
	{ "int as bool", "workers = true;\n", "FILE:1: workers: expected an integer\n", 1 },
	{ "int below min", "workers = 0;\n", "FILE:1: workers: must be between 1 and 64\n", 1 },
	{ "int above max", "workers = 65;\n", "FILE:1: workers: must be between 1 and 64\n", 1 },
	{ "int negative", "redis.db = -1;\n", "FILE:1: redis.db: must be between 0 and 1024\n", 1 },
	{ "int wider than 32 bits", "workers = 4294967298;\n",
	  "FILE:1: workers: must be between 1 and 64\n", 1 },
	{ "int wider than 64 bits", "workers = 99999999999999999999;\n",
	  "FILE:1: workers: must be between 1 and 64\n", 1 },
	{ "hex wider than 31 bits", "workers = 0xFFFFFFFF;\n",
	  "FILE:1: workers: must be between 1 and 64\n", 1 },
	{ "bool as string", "rabbitmq.declare = \"true\";\n",
	  "FILE:1: rabbitmq.declare: expected true or false\n", 1 },
	{ "bool as int", "rabbitmq.declare = 1;\n",
	  "FILE:1: rabbitmq.declare: expected true or false\n", 1 },
	{ "string as int", "kafka.topic = 5;\n", "FILE:1: kafka.topic: expected a string\n", 1 },
	{ "string as list", "kafka.topic = [ \"a\" ];\n",
	  "FILE:1: kafka.topic: expected a string\n", 1 },
	{ "empty string", "rabbitmq.queue = \"\";\n",
	  "FILE:1: rabbitmq.queue: must not be empty\n", 1 },
	{ "addr without port", "redis.address = \"localhost\";\n",
	  "FILE:1: redis.address: must be host:port with a port between 1 and 65535\n", 1 },
	{ "addr port 0", "redis.address = \"h:0\";\n",
	  "FILE:1: redis.address: must be host:port with a port between 1 and 65535\n", 1 },
	{ "addr port 65536", "metrics.listen = \"h:65536\";\n",
	  "FILE:1: metrics.listen: must be host:port with a port between 1 and 65535\n", 1 },
	{ "addr port not a number", "metrics.listen = \"h:http\";\n",
	  "FILE:1: metrics.listen: must be host:port with a port between 1 and 65535\n", 1 },
	{ "addr empty host", "metrics.listen = \":8080\";\n",
	  "FILE:1: metrics.listen: must be host:port with a port between 1 and 65535\n", 1 },
	{ "addr bare v6", "metrics.listen = \"::1:8080\";\n",
	  "FILE:1: metrics.listen: must be host:port with a port between 1 and 65535\n", 1 },
	{ "addr as int", "metrics.listen = 8080;\n",
	  "FILE:1: metrics.listen: expected a string\n", 1 },
	{ "url scheme", "rabbitmq.url = \"http://h\";\n",
	  "FILE:1: rabbitmq.url: must start with amqp:// or amqps://\n", 1 },
	{ "url empty", "rabbitmq.url = \"\";\n",
	  "FILE:1: rabbitmq.url: must not be empty\n", 1 },
	{ "url second of list", "rabbitmq.url = \"amqp://a,http://b\";\n",
	  "FILE:1: rabbitmq.url: URL 2 of 2: must start with amqp:// or amqps://\n", 1 },
	{ "url empty element", "rabbitmq.url = \"amqp://a,,amqp://b\";\n",
	  "FILE:1: rabbitmq.url: URL 2 of 3 is empty\n", 1 },
	{ "url bad port, password not shown", "rabbitmq.url = \"amqp://u:s3cret@h:0/\";\n",
	  "FILE:1: rabbitmq.url: port must be a number between 1 and 65535\n", 1 },
	{ "url unknown query parameter", "rabbitmq.url = \"amqp://h/?heartbeat=5&frob=1\";\n",
	  "FILE:1: rabbitmq.url: unknown query parameter \"frob\" (known: heartbeat, "
	  "connection_timeout, channel_max, frame_max, auth_mechanism, cacertfile, certfile, "
	  "keyfile, server_name_indication)\n", 1 },
	{ "url TLS parameter on amqp://", "rabbitmq.url = \"amqp://h/?cacertfile=/ca.pem\";\n",
	  "FILE:1: rabbitmq.url: query parameter \"cacertfile\": only for amqps:// URLs\n", 1 },
	{ "url relative certfile", "rabbitmq.url = \"amqps://h/?certfile=c.pem\";\n",
	  "FILE:1: rabbitmq.url: query parameter \"certfile\" must be an absolute path\n", 1 },
	{ "url external without a certificate", "\nrabbitmq.url = \"amqps://h/?auth_mechanism=external\";\n",
	  "FILE:2: rabbitmq.url: external logs in with a TLS client certificate: set "
	  "rabbitmq.tls_cert_file and rabbitmq.tls_key_file (or the URL's certfile and keyfile)\n", 1 },
	{ "setting external on amqp://", "rabbitmq.auth_mechanism = \"external\";\n",
	  "FILE:1: rabbitmq.auth_mechanism: external logs in with a TLS client certificate: it "
	  "needs an amqps:// URL\n", 1 },
	{ "auth mechanism unknown", "rabbitmq.auth_mechanism = \"amqplain\";\n",
	  "FILE:1: rabbitmq.auth_mechanism: must be plain or external\n", 1 },
	{ "certificate without key", "rabbitmq.url = \"amqp://a,amqps://b\";\n"
	  "rabbitmq.tls_cert_file = \"/c.pem\";\n",
	  "FILE:2: rabbitmq.tls_cert_file: URL 2 of 2: a client certificate needs its key and a "
	  "key its certificate (rabbitmq.tls_cert_file and rabbitmq.tls_key_file, or the URL's "
	  "certfile and keyfile)\n", 1 },
	{ "TLS file relative", "rabbitmq.tls_ca_file = \"ca.pem\";\n",
	  "FILE:1: rabbitmq.tls_ca_file: must be an absolute path\n", 1 },
	{ "key file unreadable", "rabbitmq.url = \"amqps://h\";\nrabbitmq.tls_cert_file = \"/c\";\n"
	  "rabbitmq.tls_key_file = \"/nonexistent/key.pem\";\n",
	  "FILE:3: rabbitmq.tls_key_file: cannot read /nonexistent/key.pem: No such file or "
	  "directory\n", 1 },
	{ "rediss address", "redis.address = \"rediss://:pw@redis.example.com:6380\";\n",
	  "FILE:1: redis.address: rediss:// (Redis over TLS) is not supported: hiredis 0.14 has "
	  "no TLS; run a local TLS tunnel (such as stunnel) to the server and give the tunnel's "
	  "host:port here (see TLS in event-relay.conf(5))\n", 1 },
	{ "redis address with a scheme", "redis.address = \"redis://h:6379\";\n",
	  "FILE:1: redis.address: must be host:port, without a scheme (\"redis://\")\n", 1 },
	{ "kafka file relative", "kafka.properties = [ \"sasl.password_file=pw\" ];\n",
	  "FILE:1: kafka.properties: pw: must be an absolute path\n", 1 },
	{ "kafka file unreadable", "kafka.properties = [ \"sasl.password_file=/nonexistent/pw\" ];\n",
	  "FILE:1: kafka.properties: cannot read /nonexistent/pw: No such file or directory\n", 1 },
	{ "kafka file is a directory", "kafka.properties = [ \"ssl.key.password_file=/\" ];\n",
	  "FILE:1: kafka.properties: cannot read /: not a regular file\n", 1 },
	{ "level unknown", "log.level = \"loud\";\n",
	  "FILE:1: log.level: must be error, warn, info or debug\n", 1 },
	{ "level as int", "log.level = 3;\n", "FILE:1: log.level: expected a string\n", 1 },
	{ "target relative", "log.target = \"relay.log\";\n",
	  "FILE:1: log.target: must be stderr, syslog or an absolute path\n", 1 },
	{ "target dot-relative", "log = {\n  target = \"./var/relay.log\";\n};\n",
	  "FILE:2: log.target: must be stderr, syslog or an absolute path\n", 1 },
	{ "target upper case", "log.target = \"SYSLOG\";\n",
	  "FILE:1: log.target: must be stderr, syslog or an absolute path\n", 1 },
	{ "target as bool", "log.target = true;\n", "FILE:1: log.target: expected a string\n", 1 },
	{ "format unknown", "log.format = \"logfmt\";\n",
	  "FILE:1: log.format: must be text or json\n", 1 },
	{ "list element", "kafka.properties = [\n  \"a=b\",\n  \"oops\"\n];\n",
	  "FILE:1: kafka.properties: element 2 is not name=value\n", 1 },
	{ "list element without name", "kafka.properties = [ \"=x\" ];\n",
	  "FILE:1: kafka.properties: element 1 is not name=value\n", 1 },
	{ "list of ints", "kafka.properties = [ 1, 2 ];\n",
	  "FILE:1: kafka.properties: expected a list of strings\n", 1 },
	{ "list mixed", "kafka.properties = ( \"a=b\", 2 );\n",
	  "FILE:1: kafka.properties: expected a list of strings\n", 1 },
	{ "list as string", "kafka.properties = \"a=b\";\n",
	  "FILE:1: kafka.properties: expected a list of strings\n", 1 },
	{ "set twice in two forms", "rabbitmq = { prefetch = 5; };\nrabbitmq.prefetch = 6;\n",
	  "FILE:2: rabbitmq.prefetch: already set at FILE:1\n", 1 },
	{ "set twice after a bad value", "workers = 0;\nworkers.x = 1;\nlog = { level = 1; };\n"
	  "log.level = \"info\";\n",
	  "FILE:1: workers: must be between 1 and 64\nFILE:2: workers.x: unknown setting\n"
	  "FILE:3: log.level: expected a string\nFILE:4: log.level: already set at FILE:3\n", 4 },
	{ "syntax error", "workers = 2;\n\nrabbitmq = { prefetch = = 5; };\n",
	  "FILE:3: syntax error\n", 1 },
	{ "syntax error bad integer", "workers = 12abc;\n", "FILE:1: syntax error\n", 1 },
	{ "syntax error duplicate", "workers = 2;\nworkers = 3;\n",
	  "FILE:2: syntax error: duplicate setting name\n", 1 },
	/* libconfig notices the open string at the end of the file. */
	{ "syntax error unterminated", "kafka.topic = \"abc;\n", "FILE:2: syntax error\n", 1 },
	{ "syntax error unclosed group", "rabbitmq = {\n  prefetch = 5;\n", "FILE:3: syntax error\n",
	  1 },
	{ "syntax error star", "workers = 2;\nrabbitmq*prefetch = 2;\n",
	  "FILE:2: syntax error: unexpected '*'\n", 1 },
	{ "multiple errors collected",
	  "workers = 0;\nrabbitmq = {\n  prefech = 1;\n  url = \"http://x\";\n};\n"
	  "log.level = \"loud\";\n",
	  "FILE:1: workers: must be between 1 and 64\n"
	  "FILE:3: rabbitmq.prefech: unknown setting\n"
	  "FILE:4: rabbitmq.url: must start with amqp:// or amqps://\n"
	  "FILE:6: log.level: must be error, warn, info or debug\n", 4 },
};

Test(config, error_messages)
{
	for (size_t i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		struct er_config cfg;
		struct result r = load_text(&cfg, error_cases[i].text, NULL);

		cr_expect_str_eq(r.errs, error_cases[i].want, "%s: errors: got\n%s\nwant\n%s",
		    error_cases[i].name, r.errs, error_cases[i].want);
		cr_expect(r.n == error_cases[i].n, "%s: count: got %d, want %d", error_cases[i].name,
		    r.n, error_cases[i].n);
		result_free(&r);
		config_free(&cfg);
	}
}

Test(config, bad_value_keeps_default)
{
	struct er_config cfg;
	struct result r = load_text(&cfg, "workers = 99;\nkafka.topic = 1;\n", NULL);

	cr_expect(r.n == 2, "count: got %d, want 2", r.n);
	cr_expect(cfg.workers == 2, "workers: got %ld, want the default 2", cfg.workers);
	cr_expect_str_eq(cfg.kafka_topic, "processed_events",
	    "kafka.topic: got %s, want processed_events", cfg.kafka_topic);
	result_free(&r);
	config_free(&cfg);
}

Test(config, nul_byte_is_a_syntax_error)
{
	struct er_config cfg;
	const char *path = write_file_len("nul.conf", "workers = 2;\nuser = \"a\0b\";\n", 27);
	struct result r = load_path(&cfg, path, NULL);

	cr_expect_str_eq(r.errs, "FILE:2: syntax error: NUL byte in file\n",
	    "got %s, want the NUL byte error", r.errs);
	cr_expect(r.n == 1, "count: got %d, want 1", r.n);
	result_free(&r);
	config_free(&cfg);
}

Test(config, missing_file)
{
	struct er_config cfg;
	char *path;
	struct result r;

	cr_assert(asprintf(&path, "%s/absent.conf", tmpdir) > 0);
	r = load_path(&cfg, path, NULL);
	cr_expect_str_eq(r.errs, "FILE: cannot read: No such file or directory\n",
	    "got %s, want cannot read", r.errs);
	cr_expect(r.n == 1, "count: got %d, want 1", r.n);
	cr_expect(cfg.workers == 2, "workers: got %ld, want the default 2", cfg.workers);
	result_free(&r);
	config_free(&cfg);
	free(path);
}

Test(config, directory_is_unreadable)
{
	struct er_config cfg;
	struct result r = load_path(&cfg, tmpdir, NULL);

	cr_expect_str_eq(r.errs, "FILE: cannot read: Is a directory\n",
	    "got %s, want cannot read: Is a directory", r.errs);
	cr_expect(r.n == 1, "count: got %d, want 1", r.n);
	result_free(&r);
	config_free(&cfg);
}

/* Every environment variable of settings.def, a good value and its effect. */
static const struct {
	const char *var, *value, *want;
} env_cases[] = {
	{ "WORKER_COUNT", "8", "workers = 8;" },
	{ "EVENT_RELAY_INSTANCE", "relay-b.eu_1", "instance = \"relay-b.eu_1\";" },
	{ "RABBITMQ_URL", "amqps://u:p@mq:5671/v,amqp://mq2", "rabbitmq.url = \"amqps://u:********@mq:5671/v,amqp://mq2\";" },
	{ "RABBITMQ_QUEUE", "orders", "rabbitmq.queue = \"orders\";" },
	{ "RABBITMQ_QUEUE_TYPE", "quorum", "rabbitmq.queue_type = \"quorum\";" },
	{ "KAFKA_BROKERS", "k1:9092,k2:9092", "kafka.brokers = \"k1:9092,k2:9092\";" },
	{ "KAFKA_TOPIC", "orders-out", "kafka.topic = \"orders-out\";" },
	{ "REDIS_ADDR", "redis:6380", "redis.address = \"redis:6380\";" },
	{ "REDIS_PASSWORD", "hunter2", "redis.password = \"********\";" },
	{ "REDIS_USERNAME", "relay", "redis.username = \"relay\";" },
	{ "REDIS_SENTINELS", "s1:26379,[::1]:26380", "redis.sentinels = \"s1:26379,[::1]:26380\";" },
	{ "REDIS_MASTER_NAME", "main", "redis.master_name = \"main\";" },
	{ "REDIS_SENTINEL_PASSWORD", "hunter3", "redis.sentinel_password = \"********\";" },
	{ "REDIS_ON_FAILURE", "bypass", "redis.on_failure = \"bypass\";" },
	{ "CONTROL_SOCKET", "/run/relay2/ctl", "control.socket = \"/run/relay2/ctl\";" },
	{ "ROUTES_DIR", "/srv/routes", "routes_dir = \"/srv/routes\";" },
	{ "MAX_RETRIES", "10", "resilience.max_retries = 10;" },
	{ "RETRY_INITIAL_DELAY_MS", "250", "resilience.retry_initial_delay_ms = 250;" },
	{ "RETRY_MAX_DELAY_MS", "60000", "resilience.retry_max_delay_ms = 60000;" },
	{ "CIRCUIT_BREAKER_THRESHOLD", "3", "resilience.breaker_threshold = 3;" },
	{ "METRICS_LISTEN", "0.0.0.0:9100", "metrics.listen = \"0.0.0.0:9100\";" },
	{ "LOG_LEVEL", "warning", "log.level = \"warn\";" },
	{ "LOG_FORMAT", "json", "log.format = \"json\";" },
	{ "EVENT_RELAY_ALLOW_ROOT", "true", "allow_root = true;" },
	{ "EVENT_RELAY_SECCOMP", "false", "seccomp = false;" },
	{ "OTEL_SERVICE_NAME", "relay-eu", "tracing.service_name = \"relay-eu\";" },
	{ "OTEL_TRACES_SAMPLER", "always_on", "tracing.sampler = \"always_on\";" },
	{ "OTEL_TRACES_SAMPLER_ARG", "0.25", "tracing.sample_ratio = \"0.25\";" },
	{ "OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20t0k3n", "tracing.headers = \"********\";" },
	{ "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "128", "tracing.batch_size = 128;" },
	{ "OTEL_BSP_SCHEDULE_DELAY", "5000", "tracing.batch_delay_ms = 5000;" },
	{ "OTEL_BSP_MAX_QUEUE_SIZE", "2048", "tracing.queue_size = 2048;" },
	{ "OTEL_EXPORTER_OTLP_TIMEOUT", "3000", "tracing.timeout_ms = 3000;" },
};

Test(config, env_overrides)
{
	for (size_t i = 0; i < sizeof(env_cases) / sizeof(env_cases[0]); i++) {
		/* The two sentinel settings only go together. */
		const char *also = strcmp(env_cases[i].var, "REDIS_SENTINELS") == 0 ?
		    "REDIS_MASTER_NAME" : strcmp(env_cases[i].var, "REDIS_MASTER_NAME") == 0 ?
		    "REDIS_SENTINELS" : NULL;
		const char *env[] = { env_cases[i].var, env_cases[i].value, also,
		    also != NULL && also[6] == 'M' ? "main" : "s1:26379", NULL };
		struct er_config cfg;
		struct result r = load_path(&cfg, NULL, env);

		cr_expect(r.n == 0, "%s=%s: errors: got %d (%s), want 0", env_cases[i].var,
		    env_cases[i].value, r.n, r.errs);
		cr_expect(has_line(r.dump, env_cases[i].want), "%s=%s: dump: got\n%s\nwant a line %s",
		    env_cases[i].var, env_cases[i].value, r.dump, env_cases[i].want);
		result_free(&r);
		config_free(&cfg);
	}
}

Test(config, env_cases_cover_every_variable)
{
	const struct setting_doc *docs;
	size_t n = config_settings(&docs);

	for (size_t i = 0; i < n; i++) {
		int found = 0;

		if (docs[i].env == NULL)
			continue;
		for (size_t k = 0; k < sizeof(env_cases) / sizeof(env_cases[0]); k++)
			found |= strcmp(env_cases[k].var, docs[i].env) == 0;
		cr_expect(found, "%s (%s): got no case in env_cases, want one", docs[i].env,
		    docs[i].path);
	}
}

Test(config, env_overrides_the_file)
{
	const char *env[] = { "WORKER_COUNT", "5", "LOG_LEVEL", "debug", NULL };
	struct er_config cfg;
	struct result r = load_text(&cfg, "workers = 3;\nlog.level = \"error\";\n", env);

	cr_expect(r.n == 0, "errors: got %d (%s), want 0", r.n, r.errs);
	cr_expect(cfg.workers == 5, "workers: got %ld, want 5", cfg.workers);
	cr_expect(cfg.log_level == LOG_LVL_DEBUG, "log.level: got %d, want debug",
	    (int)cfg.log_level);
	result_free(&r);
	config_free(&cfg);
}

Test(config, empty_env_is_unset)
{
	const char *env[] = { "WORKER_COUNT", "", "RABBITMQ_QUEUE", "", NULL };
	struct er_config cfg;
	struct result r = load_text(&cfg, "workers = 3;\n", env);

	cr_expect(r.n == 0, "errors: got %d (%s), want 0", r.n, r.errs);
	cr_expect(cfg.workers == 3, "workers: got %ld, want 3 from the file", cfg.workers);
	cr_expect_str_eq(cfg.amqp_queue, "events", "rabbitmq.queue: got %s, want events",
	    cfg.amqp_queue);
	result_free(&r);
	config_free(&cfg);
}

static const struct {
	const char *var, *value, *want;
} bad_env_cases[] = {
	{ "WORKER_COUNT", "0", "environment: WORKER_COUNT: must be an integer between 1 and 64\n" },
	{ "WORKER_COUNT", "65", "environment: WORKER_COUNT: must be an integer between 1 and 64\n" },
	{ "WORKER_COUNT", "12abc", "environment: WORKER_COUNT: must be an integer between 1 and 64\n" },
	{ "WORKER_COUNT", " 4", "environment: WORKER_COUNT: must be an integer between 1 and 64\n" },
	{ "WORKER_COUNT", "4 ", "environment: WORKER_COUNT: must be an integer between 1 and 64\n" },
	{ "WORKER_COUNT", "+4", "environment: WORKER_COUNT: must be an integer between 1 and 64\n" },
	{ "WORKER_COUNT", "0x4", "environment: WORKER_COUNT: must be an integer between 1 and 64\n" },
	{ "WORKER_COUNT", "-", "environment: WORKER_COUNT: must be an integer between 1 and 64\n" },
	{ "WORKER_COUNT", "99999999999999999999",
	  "environment: WORKER_COUNT: must be an integer between 1 and 64\n" },
	{ "MAX_RETRIES", "-1",
	  "environment: MAX_RETRIES: must be an integer between 0 and 1000000\n" },
	{ "RETRY_INITIAL_DELAY_MS", "1.5",
	  "environment: RETRY_INITIAL_DELAY_MS: must be an integer between 1 and 3600000\n" },
	{ "RETRY_MAX_DELAY_MS", "3600001",
	  "environment: RETRY_MAX_DELAY_MS: must be an integer between 1 and 3600000\n" },
	{ "CIRCUIT_BREAKER_THRESHOLD", "many",
	  "environment: CIRCUIT_BREAKER_THRESHOLD: must be an integer between 1 and 1000000\n" },
	{ "RABBITMQ_URL", "http://h", "environment: RABBITMQ_URL: must start with amqp:// or amqps://\n" },
	{ "RABBITMQ_URL", "amqp://a, amqp:/b",
	  "environment: RABBITMQ_URL: URL 2 of 2: must start with amqp:// or amqps://\n" },
	{ "RABBITMQ_URL", "amqp://guest:pa ss@h/",
	  "environment: RABBITMQ_URL: contains a blank or a control character (percent-encode it)\n" },
	{ "REDIS_ADDR", "redis",
	  "environment: REDIS_ADDR: must be host:port with a port between 1 and 65535\n" },
	{ "REDIS_SENTINELS", "s1:26379,s2",
	  "environment: REDIS_SENTINELS: element 2 (\"s2\") must be host:port with a port between 1 "
	  "and 65535\n" },
	{ "REDIS_SENTINELS", "s1:26379,,s2:1", "environment: REDIS_SENTINELS: element 2 must be host:port\n" },
	{ "REDIS_SENTINELS", "s1:26379",
	  "environment: REDIS_SENTINELS: needs redis.master_name (the name the sentinels monitor the "
	  "master under)\n" },
	{ "REDIS_MASTER_NAME", "main",
	  "environment: REDIS_MASTER_NAME: needs redis.sentinels (the sentinels to ask for the master)\n" },
	{ "METRICS_LISTEN", "h:99999",
	  "environment: METRICS_LISTEN: must be host:port with a port between 1 and 65535\n" },
	{ "LOG_LEVEL", "verbose", "environment: LOG_LEVEL: must be error, warn, info or debug\n" },
	{ "LOG_FORMAT", "JSON", "environment: LOG_FORMAT: must be text or json\n" },
	{ "REDIS_ON_FAILURE", "Bypass", "environment: REDIS_ON_FAILURE: must be block or bypass\n" },
	{ "REDIS_ON_FAILURE", "block|bypass", "environment: REDIS_ON_FAILURE: must be block or bypass\n" },
	{ "REDIS_ON_FAILURE", "bloc", "environment: REDIS_ON_FAILURE: must be block or bypass\n" },
};

Test(config, bad_env_values)
{
	for (size_t i = 0; i < sizeof(bad_env_cases) / sizeof(bad_env_cases[0]); i++) {
		const char *env[] = { bad_env_cases[i].var, bad_env_cases[i].value, NULL };
		struct er_config cfg;
		struct result r = load_path(&cfg, NULL, env);

		cr_expect_str_eq(r.errs, bad_env_cases[i].want, "%s=\"%s\": got %s, want %s",
		    bad_env_cases[i].var, bad_env_cases[i].value, r.errs, bad_env_cases[i].want);
		cr_expect(r.n == 1, "%s=\"%s\": count: got %d, want 1", bad_env_cases[i].var,
		    bad_env_cases[i].value, r.n);
		result_free(&r);
		config_free(&cfg);
	}
}

Test(config, file_and_env_errors_together)
{
	const char *env[] = { "WORKER_COUNT", "x", "LOG_LEVEL", "loud", NULL };
	struct er_config cfg;
	struct result r = load_text(&cfg, "redis.db = 2000;\n", env);
	const char *want = "FILE:1: redis.db: must be between 0 and 1024\n"
	    "environment: WORKER_COUNT: must be an integer between 1 and 64\n"
	    "environment: LOG_LEVEL: must be error, warn, info or debug\n";

	cr_expect_str_eq(r.errs, want, "got\n%s\nwant\n%s", r.errs, want);
	cr_expect(r.n == 3, "count: got %d, want 3", r.n);
	result_free(&r);
	config_free(&cfg);
}

/* redis.password_file: content, and the error (or none) it gives. */
static const struct {
	const char *name, *content, *extra, *want_password, *want_errs;
} password_cases[] = {
	{ "first line", "s3cret\nsecond line\n", "", "s3cret", "" },
	{ "no newline", "s3cret", "", "s3cret", "" },
	{ "crlf", "s3cret\r\n", "", "s3cret", "" },
	{ "empty file", "", "", "", "FILE:1: redis.password_file: TMP/pw is empty\n" },
	{ "empty first line", "\nsecret\n", "", "",
	  "FILE:1: redis.password_file: first line of TMP/pw is empty\n" },
	{ "with password", "s3cret\n", "redis.password = \"x\";\n", "x",
	  "FILE:1: redis.password_file: cannot be combined with redis.password\n" },
};

Test(config, password_file)
{
	for (size_t i = 0; i < sizeof(password_cases) / sizeof(password_cases[0]); i++) {
		const char *pw = write_file("pw", password_cases[i].content);
		struct er_config cfg;
		char *text;
		struct result r;

		cr_assert(asprintf(&text, "redis = { password_file = \"%s\"; };\n%s", pw,
		    password_cases[i].extra) > 0);
		r = load_text(&cfg, text, NULL);
		cr_expect_str_eq(r.errs, password_cases[i].want_errs, "%s: errors: got %s, want %s",
		    password_cases[i].name, r.errs, password_cases[i].want_errs);
		cr_expect_str_eq(cfg.redis_password, password_cases[i].want_password,
		    "%s: password: got \"%s\", want \"%s\"", password_cases[i].name,
		    cfg.redis_password, password_cases[i].want_password);
		result_free(&r);
		config_free(&cfg);
		free(text);
	}
}

Test(config, password_file_unreadable)
{
	struct er_config cfg;
	struct result r = load_text(&cfg, "\nredis.password_file = \"/nonexistent/pw\";\n", NULL);
	const char *want = "FILE:2: redis.password_file: cannot read /nonexistent/pw: "
	    "No such file or directory\n";

	cr_expect_str_eq(r.errs, want, "got %s, want %s", r.errs, want);
	cr_expect(r.n == 1, "count: got %d, want 1", r.n);
	result_free(&r);
	config_free(&cfg);
}

Test(config, password_file_conflicts_with_env_password)
{
	const char *pw = write_file("pw", "s3cret\n");
	const char *env[] = { "REDIS_PASSWORD", "fromenv", NULL };
	struct er_config cfg;
	char *text;
	struct result r;

	cr_assert(asprintf(&text, "redis.password_file = \"%s\";\n", pw) > 0);
	r = load_text(&cfg, text, env);
	cr_expect_str_eq(r.errs, "FILE:1: redis.password_file: cannot be combined with redis.password\n",
	    "got %s, want the conflict", r.errs);
	cr_expect(r.n == 1, "count: got %d, want 1", r.n);
	cr_expect_str_eq(cfg.redis_password, "fromenv", "password: got %s, want fromenv",
	    cfg.redis_password);
	result_free(&r);
	config_free(&cfg);
	free(text);
}

/*
 * Secret files: read once at load (a key named by two URLs too), kept
 * for config_secret(), never in the dump, which shows their paths.
 */
Test(config, secret_files_are_read_and_never_shown)
{
	const char *pw = write_file("kpw", "k-s3cret\n");
	const char *key = write_file("key.pem", "-----BEGIN PRIVATE KEY-----\nKEYBYTES\n"
	    "-----END PRIVATE KEY-----\n");
	const char *pem = write_file("client.pem", "PEMLINE1\nPEMLINE2\n");
	struct er_config cfg;
	const char *v;
	size_t len = 0;
	char *text, *want;
	struct result r;

	cr_assert(asprintf(&text, "kafka.properties = [ \"sasl.password_file=%s\", "
	    "\"ssl.key.pem_file=%s\" ];\nrabbitmq.url = \"amqps://a/?certfile=/c.pem&keyfile=%s&"
	    "auth_mechanism=external,amqps://b/\";\nrabbitmq.tls_cert_file = \"/c.pem\";\n"
	    "rabbitmq.tls_key_file = \"%s\";\n", pw, pem, key, key) > 0);
	r = load_text(&cfg, text, NULL);
	cr_expect(r.n == 0, "errors: got %d (%s), want 0", r.n, r.errs);
	cr_expect(cfg.nsecrets == 3, "secrets: got %zu, want 3 (one per file)", cfg.nsecrets);
	v = config_secret(&cfg, pw, &len);
	cr_expect(v != NULL && strcmp(v, "k-s3cret") == 0 && len == 8,
	    "sasl.password_file: got \"%s\" (%zu bytes), want k-s3cret without its newline",
	    v != NULL ? v : "(none)", len);
	v = config_secret(&cfg, key, &len);
	cr_expect(v != NULL && strstr(v, "KEYBYTES") != NULL && len == 63,
	    "key file: got %zu bytes, want the whole 63-byte file", len);
	v = config_secret(&cfg, pem, &len);
	cr_expect(v != NULL && strcmp(v, "PEMLINE1\nPEMLINE2\n") == 0,
	    "ssl.key.pem_file: got \"%s\", want the whole file", v != NULL ? v : "(none)");
	cr_expect(config_secret(&cfg, "/c.pem", NULL) == NULL, "a certificate is no secret");
	cr_expect(strstr(r.dump, "k-s3cret") == NULL && strstr(r.dump, "KEYBYTES") == NULL &&
	    strstr(r.dump, "PEMLINE") == NULL, "the dump shows a secret:\n%s", r.dump);
	cr_assert(asprintf(&want, "kafka.properties = [ \"sasl.password_file=%s\", "
	    "\"ssl.key.pem_file=%s\" ];", pw, pem) > 0);
	cr_expect(has_line(r.dump, want), "dump: got\n%s\nwant a line %s", r.dump, want);
	result_free(&r);
	config_free(&cfg);
	free(text);
	free(want);
}

/* kafka.properties NAME_file: what the file may hold, and what conflicts. */
static const struct {
	const char *name, *content, *extra, *want_errs;
} kafka_file_cases[] = {
	{ "one line", "pw\n", "", "" },
	{ "crlf", "pw\r\n", "", "" },
	{ "two lines", "pw\nmore\n", "", "FILE:1: kafka.properties: TMP/kpw must hold one line of text\n" },
	{ "empty", "\n", "", "FILE:1: kafka.properties: TMP/kpw must hold one line, not nothing\n" },
	{ "both forms", "pw\n", ", \"sasl.password=x\"",
	  "FILE:1: kafka.properties: sasl.password and sasl.password_file: give one of them\n" },
};

Test(config, kafka_secret_files)
{
	for (size_t i = 0; i < sizeof(kafka_file_cases) / sizeof(kafka_file_cases[0]); i++) {
		const char *pw = write_file("kpw", kafka_file_cases[i].content);
		struct er_config cfg;
		char *text;
		struct result r;

		cr_assert(asprintf(&text, "kafka.properties = [ \"sasl.password_file=%s\"%s ];\n", pw,
		    kafka_file_cases[i].extra) > 0);
		r = load_text(&cfg, text, NULL);
		cr_expect_str_eq(r.errs, kafka_file_cases[i].want_errs, "%s: errors: got %s, want %s",
		    kafka_file_cases[i].name, r.errs, kafka_file_cases[i].want_errs);
		if (*kafka_file_cases[i].want_errs == '\0')
			cr_expect_str_eq(config_secret(&cfg, pw, NULL), "pw", "%s: got %s, want pw",
			    kafka_file_cases[i].name, config_secret(&cfg, pw, NULL));
		result_free(&r);
		config_free(&cfg);
		free(text);
	}
}

/*
 * A reload by a master that gave up root: a secret file it may not read
 * keeps what was read before from the same path; a new path is an error.
 */
Test(config, reload_keeps_secrets_it_may_no_longer_read)
{
	const char *pw = write_file("kpw", "k-s3cret\n");
	const char *rpw = write_file("rpw", "r-s3cret\n");
	struct er_config prev, next, bare;
	char *text, *errs = NULL;
	size_t len;
	FILE *f;
	int n;

	cr_assert(asprintf(&text, "kafka.properties = [ \"sasl.password_file=%s\" ];\n"
	    "redis.password_file = \"%s\";\n", pw, rpw) > 0);
	write_file("test.conf", text);
	free(text);
	cr_assert(asprintf(&text, "%s/test.conf", tmpdir) > 0);
	cr_assert(config_load(&prev, text, table_getenv, stderr) == 0);
	cr_assert(chmod(pw, 0) == 0 && chmod(rpw, 0) == 0 && chmod(tmpdir, 0711) == 0);
	if (geteuid() == 0)	/* root reads any file: be somebody else */
		cr_assert(seteuid(65534) == 0, "seteuid: %s", strerror(errno));
	f = open_memstream(&errs, &len);
	n = config_reload(&next, text, table_getenv, f, &prev);
	fclose(f);
	cr_expect(n == 0, "reload: got %d errors (%s), want 0", n, errs);
	cr_expect_str_eq(config_secret(&next, pw, NULL), "k-s3cret", "kafka secret: got %s",
	    config_secret(&next, pw, NULL));
	cr_expect_str_eq(next.redis_password, "r-s3cret", "redis password: got %s",
	    next.redis_password);
	free(errs);
	errs = NULL;
	f = open_memstream(&errs, &len);
	n = config_load(&bare, text, table_getenv, f);
	fclose(f);
	cr_expect(n == 2 && strstr(errs, "Permission denied") != NULL,
	    "a load without the configuration before: got %d errors (%s), want 2", n, errs);
	if (getuid() == 0)
		cr_assert(seteuid(0) == 0);
	config_free(&prev);
	config_free(&next);
	config_free(&bare);
	free(errs);
	free(text);
}

/* The exact output for one file with many errors, from a stable path. */
Test(config, golden_error_output)
{
	const char *env[] = { "WORKER_COUNT", "lots", "REDIS_ADDR", "redis", NULL };
	char *want = read_golden("config_errors.txt"), *got = NULL;
	struct er_config cfg;
	size_t len;
	FILE *errs = open_memstream(&got, &len);
	int n;

	cr_assert(errs != NULL);
	cr_assert(chdir(TEST_SRCDIR) == 0, "chdir %s: %s", TEST_SRCDIR, strerror(errno));
	test_env = env;
	n = config_load(&cfg, "golden/config_errors.conf", table_getenv, errs);
	cr_assert(fclose(errs) == 0);
	cr_expect_str_eq(got, want, "got\n%s\nwant\n%s", got, want);
	cr_expect(n == 13, "count: got %d, want 13", n);
	free(want);
	free(got);
	config_free(&cfg);
}

Test(config, free_is_safe)
{
	struct er_config cfg;
	struct result r;

	memset(&cfg, 0, sizeof(cfg));
	config_free(&cfg);
	config_free(NULL);
	r = load_text(&cfg, "workers = ;\n", NULL);
	cr_expect(r.n == 1, "count: got %d, want 1", r.n);
	config_free(&cfg);
	config_free(&cfg);
	result_free(&r);
}

static const struct {
	const char *addr, *host;
	int port, rc;
} addr_cases[] = {
	{ "127.0.0.1:6379", "127.0.0.1", 6379, 0 },
	{ "redis:1", "redis", 1, 0 },
	{ "h:65535", "h", 65535, 0 },
	{ "h:08080", "h", 8080, 0 },
	{ "[::1]:8080", "::1", 8080, 0 },
	{ "[fe80::1%eth0]:80", "fe80::1%eth0", 80, 0 },
	{ "h:0", NULL, 0, -1 },
	{ "h:65536", NULL, 0, -1 },
	{ "h:123456", NULL, 0, -1 },
	{ "h:", NULL, 0, -1 },
	{ "h", NULL, 0, -1 },
	{ ":80", NULL, 0, -1 },
	{ "[]:80", NULL, 0, -1 },
	{ "::1:80", NULL, 0, -1 },
	{ "[::1]80", NULL, 0, -1 },
	{ "[::1", NULL, 0, -1 },
	{ "h:8o", NULL, 0, -1 },
	{ "h:-1", NULL, 0, -1 },
	{ "h:+1", NULL, 0, -1 },
	{ "a b:80", NULL, 0, -1 },
	{ "", NULL, 0, -1 },
	{ "averyveryverylonghostname:1", NULL, 0, -1 },	/* longer than the buffer */
};

Test(config, split_addr)
{
	for (size_t i = 0; i < sizeof(addr_cases) / sizeof(addr_cases[0]); i++) {
		char host[16] = "unchanged";
		int port = -7;
		int rc = config_split_addr(addr_cases[i].addr, host, sizeof(host), &port);

		cr_expect(rc == addr_cases[i].rc, "\"%s\": rc: got %d, want %d", addr_cases[i].addr, rc,
		    addr_cases[i].rc);
		if (rc != 0 || addr_cases[i].rc != 0)
			continue;
		cr_expect_str_eq(host, addr_cases[i].host, "\"%s\": host: got %s, want %s",
		    addr_cases[i].addr, host, addr_cases[i].host);
		cr_expect(port == addr_cases[i].port, "\"%s\": port: got %d, want %d",
		    addr_cases[i].addr, port, addr_cases[i].port);
	}
	cr_expect(config_split_addr(NULL, NULL, 0, NULL) == -1, "NULL: got 0, want -1");
}

Test(config, settings_table)
{
	static const char *const types[] = { "INT", "BOOL", "STR", "ADDR", "ADDRS", "URL", "LEVEL",
	    "LIST", "CHOICE", "LOGTARGET" };
	const struct setting_doc *docs;
	size_t n = config_settings(&docs);
	size_t want = 0;

#define SETTING(path, field, type, def, min, max, env, help) want++;
#include "common/settings.def"
#undef SETTING
	cr_expect(n == want, "count: got %zu, want %zu", n, want);
	for (size_t i = 0; i < n; i++) {
		int known = 0;

		for (size_t k = 0; k < sizeof(types) / sizeof(types[0]); k++)
			known |= strcmp(docs[i].type, types[k]) == 0;
		cr_expect(known, "%s: type: got %s, want one of settings.def's", docs[i].path,
		    docs[i].type);
		cr_expect(docs[i].help != NULL && *docs[i].help != '\0', "%s: help: got none",
		    docs[i].path);
		cr_expect(docs[i].def != NULL, "%s: default: got NULL", docs[i].path);
		if (strcmp(docs[i].type, "INT") == 0)
			cr_expect(docs[i].min <= docs[i].max, "%s: range: got %ld..%ld", docs[i].path,
			    docs[i].min, docs[i].max);
	}
	cr_expect_str_eq(docs[0].path, "workers", "first: got %s, want workers", docs[0].path);
}

/*
 * An error quoting a value with a line break (found by fuzz_config):
 * each error is still one line, the break written \x0a, from the file
 * and from the environment alike.
 */
Test(config, error_quoting_a_line_break_is_one_line)
{
	static const char text[] =
	    "workers = 4;\nrabbitmq.url = \"amqp:\";\nmetrics.listen = \"[::1]:910\nl://\";\n";
	const char *env[] = { "REDIS_ADDR", "a\nb:1\r", NULL };
	struct er_config cfg;
	struct result r = load_text(&cfg, text, env);
	size_t lines = 0;

	for (const char *c = r.errs; *c != '\0'; c++)
		lines += *c == '\n';
	cr_expect(r.n == 3 && lines == 3, "got %d errors in %zu lines, want 3 in 3:\n%s", r.n,
	    lines, r.errs);
	cr_expect(strstr(r.errs, "[::1]:910\\x0al://") != NULL &&
	    strstr(r.errs, "environment: REDIS_ADDR: ") != NULL,
	    "the value with its break escaped: got\n%s", r.errs);
	result_free(&r);
	config_free(&cfg);
}
