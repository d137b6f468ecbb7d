/*
 * amqp_url: rabbitmq.url elements read as the Go AMQP clients read them
 * (the vhost rule above all, the TLS parameters), their errors, and the
 * one masking rule of redact.h (URLs, settings, librdkafka properties).
 */
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "common/amqp_url.h"
#include "common/redact.h"

static const struct {
	const char *url;
	int tls, port;
	const char *host, *user, *password, *vhost;
	long heartbeat, timeout_ms;
} good[] = {
	/* the replaced service's default form: trailing slash, no vhost */
	{ "amqp://guest:guest@localhost:5672/", 0, 5672, "localhost", "guest", "guest", "/", -1, -1 },
	{ "amqp://guest:guest@127.0.0.1:5672", 0, 5672, "127.0.0.1", "guest", "guest", "/", -1, -1 },
	{ "amqp://h/%2f", 0, 5672, "h", "guest", "guest", "/", -1, -1 },
	{ "amqp://h/%2F", 0, 5672, "h", "guest", "guest", "/", -1, -1 },
	{ "amqp://h/%2F%2F", 0, 5672, "h", "guest", "guest", "//", -1, -1 },
	{ "amqp://h/vh", 0, 5672, "h", "guest", "guest", "vh", -1, -1 },
	{ "amqp://h/a%2fb", 0, 5672, "h", "guest", "guest", "a/b", -1, -1 },
	{ "amqp://h/a/b", 0, 5672, "h", "guest", "guest", "a/b", -1, -1 },
	{ "amqp://h/my%20vhost", 0, 5672, "h", "guest", "guest", "my vhost", -1, -1 },
	{ "amqp://h/%2Fslash%2F", 0, 5672, "h", "guest", "guest", "/slash/", -1, -1 },
	{ "amqp://", 0, 5672, "localhost", "guest", "guest", "/", -1, -1 },
	{ "amqp:///vhost", 0, 5672, "localhost", "guest", "guest", "vhost", -1, -1 },
	{ "amqp://:10000", 0, 10000, "localhost", "guest", "guest", "/", -1, -1 },
	{ "amqp://host:", 0, 5672, "host", "guest", "guest", "/", -1, -1 },
	{ "amqps://mq.example.com/prod", 1, 5671, "mq.example.com", "guest", "guest", "prod", -1, -1 },
	{ "amqps://u:p@mq:1000/", 1, 1000, "mq", "u", "p", "/", -1, -1 },
	{ "AMQPS://h", 1, 5671, "h", "guest", "guest", "/", -1, -1 },
	{ "amqp://[::1]", 0, 5672, "::1", "guest", "guest", "/", -1, -1 },
	{ "amqp://[::1]:5673/v", 0, 5673, "::1", "guest", "guest", "v", -1, -1 },
	{ "amqp://[fe80::1%25eth0]:5671", 0, 5671, "fe80::1%eth0", "guest", "guest", "/", -1, -1 },
	/* user and password: percent-decoded; a user alone keeps the password guest */
	{ "amqp://us%40er:p%3Aa%2Fs%40s%23@h/", 0, 5672, "h", "us@er", "p:a/s@s#", "/", -1, -1 },
	{ "amqp://u:p@ss@h/", 0, 5672, "h", "u", "p@ss", "/", -1, -1 },
	{ "amqp://user@h", 0, 5672, "h", "user", "guest", "/", -1, -1 },
	{ "amqp://:@h", 0, 5672, "h", "", "", "/", -1, -1 },
	/* query parameters the Go client reads */
	{ "amqp://h/v?heartbeat=5&connection_timeout=2500", 0, 5672, "h", "guest", "guest", "v", 5, 2500 },
	{ "amqp://h/?heartbeat=0", 0, 5672, "h", "guest", "guest", "/", 0, -1 },
	{ "amqp://h/?connection_timeout=0&channel_max=8&frame_max=4096&auth_mechanism=PLAIN", 0, 5672,
	  "h", "guest", "guest", "/", -1, -1 },
};

Test(amqp_url, go_client_forms)
{
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct amqp_url u;
		char msg[256] = "";
		int rc = amqp_url_parse(good[i].url, strlen(good[i].url), &u, msg, sizeof(msg));

		cr_expect(rc == 0, "%s: got error \"%s\", want success", good[i].url, msg);
		if (rc != 0)
			continue;
		cr_expect(u.tls == good[i].tls, "%s: tls: got %d, want %d", good[i].url, u.tls,
		    good[i].tls);
		cr_expect(u.port == good[i].port, "%s: port: got %d, want %d", good[i].url, u.port,
		    good[i].port);
		cr_expect_str_eq(u.host, good[i].host, "%s: host: got \"%s\", want \"%s\"", good[i].url,
		    u.host, good[i].host);
		cr_expect_str_eq(u.user, good[i].user, "%s: user: got \"%s\", want \"%s\"", good[i].url,
		    u.user, good[i].user);
		cr_expect_str_eq(u.password, good[i].password, "%s: password: got \"%s\", want \"%s\"",
		    good[i].url, u.password, good[i].password);
		cr_expect_str_eq(u.vhost, good[i].vhost, "%s: vhost: got \"%s\", want \"%s\"",
		    good[i].url, u.vhost, good[i].vhost);
		cr_expect(u.heartbeat == good[i].heartbeat, "%s: heartbeat: got %ld, want %ld",
		    good[i].url, u.heartbeat, good[i].heartbeat);
		cr_expect(u.connect_timeout_ms == good[i].timeout_ms,
		    "%s: connection_timeout: got %ld, want %ld", good[i].url, u.connect_timeout_ms,
		    good[i].timeout_ms);
		cr_expect(strstr(u.shown, "********") != NULL || strchr(good[i].url, '@') == NULL ||
		    strchr(good[i].url, ':') == strrchr(good[i].url, ':'),
		    "%s: shown as \"%s\", password not masked", good[i].url, u.shown);
	}
}

/* The TLS parameters of the Go clients' URIs, and auth_mechanism. */
static const struct {
	const char *url, *ca, *cert, *key, *sni;
	enum amqp_url_auth auth;
} tls[] = {
	{ "amqps://h/", "", "", "", "", AMQP_AUTH_UNSET },
	{ "amqps://u:p@mq:5671/prod?cacertfile=/etc/ca.pem&certfile=/etc/c.pem&keyfile=/etc/k.pem"
	  "&server_name_indication=mq.example.com&auth_mechanism=external&heartbeat=10",
	  "/etc/ca.pem", "/etc/c.pem", "/etc/k.pem", "mq.example.com", AMQP_AUTH_EXTERNAL },
	{ "amqps://h/?cacertfile=%2Fsrv%2Fmy%20ca.pem&auth_mechanism=PLAIN", "/srv/my ca.pem", "",
	  "", "", AMQP_AUTH_PLAIN },
	{ "amqps://h/?server_name_indication=10.0.0.1&auth_mechanism=External", "", "", "",
	  "10.0.0.1", AMQP_AUTH_EXTERNAL },
	{ "amqp://h/?auth_mechanism=plain", "", "", "", "", AMQP_AUTH_PLAIN },
};

Test(amqp_url, tls_parameters)
{
	for (size_t i = 0; i < sizeof(tls) / sizeof(tls[0]); i++) {
		struct amqp_url u;
		char msg[256] = "";
		int rc = amqp_url_parse(tls[i].url, strlen(tls[i].url), &u, msg, sizeof(msg));

		cr_expect(rc == 0, "%s: got error \"%s\", want success", tls[i].url, msg);
		if (rc != 0)
			continue;
		cr_expect_str_eq(u.cacertfile, tls[i].ca, "%s: cacertfile: got \"%s\", want \"%s\"",
		    tls[i].url, u.cacertfile, tls[i].ca);
		cr_expect_str_eq(u.certfile, tls[i].cert, "%s: certfile: got \"%s\", want \"%s\"",
		    tls[i].url, u.certfile, tls[i].cert);
		cr_expect_str_eq(u.keyfile, tls[i].key, "%s: keyfile: got \"%s\", want \"%s\"",
		    tls[i].url, u.keyfile, tls[i].key);
		cr_expect_str_eq(u.server_name, tls[i].sni,
		    "%s: server_name_indication: got \"%s\", want \"%s\"", tls[i].url, u.server_name,
		    tls[i].sni);
		cr_expect(u.auth == tls[i].auth, "%s: auth_mechanism: got %d, want %d", tls[i].url,
		    (int)u.auth, (int)tls[i].auth);
	}
}

static const struct {
	const char *url, *want;
} bad[] = {
	{ "http://h/", "must start with amqp:// or amqps://" },
	{ "amqp:/h", "must start with amqp:// or amqps://" },
	{ "amqp://h:0/", "port must be a number between 1 and 65535" },
	{ "amqp://h:65536/", "port must be a number between 1 and 65535" },
	{ "amqp://h:5x/", "port must be a number between 1 and 65535" },
	{ "amqp://::1/", "host: an IPv6 address must be in brackets, as in amqp://[::1]:5672/" },
	{ "amqp://[::1/", "host: an IPv6 address is written [address]:port" },
	{ "amqp://u:se cret@h/", "contains a blank or a control character (percent-encode it)" },
	{ "amqp://u:se#cret@h/", "contains '#' (in a password, write it %23)" },
	{ "amqp://u:se%zzcret@h/", "password: bad percent-encoding or too long" },
	{ "amqp://u%2@h/", "user name: bad percent-encoding or too long" },
	{ "amqp://h/v%00", "vhost: bad percent-encoding or too long" },
	{ "amqp://h/v%", "vhost: bad percent-encoding or too long" },
	{ "amqp://h/?heartbeat=x", "query parameter \"heartbeat\" must be an integer between 0 and 600" },
	{ "amqp://h/?heartbeat=1&heartbeat=2", "query parameter \"heartbeat\" given twice" },
	{ "amqp://h/?frame_max=100", "query parameter \"frame_max\" must be an integer between 4096 and 2147483647" },
	{ "amqp://h/?cacertfile=/ca.pem", "query parameter \"cacertfile\": only for amqps:// URLs" },
	{ "amqp://h/?server_name_indication=h", "query parameter \"server_name_indication\": only for amqps:// URLs" },
	{ "amqps://h/?cacertfile=ca.pem", "query parameter \"cacertfile\" must be an absolute path" },
	{ "amqps://h/?keyfile=", "query parameter \"keyfile\" must not be empty" },
	{ "amqps://h/?certfile=/a&certfile=/b", "query parameter \"certfile\" given twice" },
	{ "amqps://h/?auth_mechanism=amqplain", "query parameter \"auth_mechanism\" must be plain or external" },
	{ "amqps://h/?auth_mechanism=plain&auth_mechanism=external", "query parameter \"auth_mechanism\" given twice" },
	{ "amqp://h/?auth_mechanism=external", "auth_mechanism=external logs in with a TLS client "
	  "certificate: it needs an amqps:// URL" },
	{ "amqps://h/?cacertfile=/a%zz", "query parameter \"cacertfile\": bad percent-encoding or too long" },
	{ "amqp://u:12?cret@h/", "'@' after the host: a password or user holding '/', '?' or '@' "
	  "must be percent-encoded (%2F, %3F, %40)" },
	{ "amqp://u:s3/cret@h/", "'@' after the host: a password or user holding '/', '?' or '@' "
	  "must be percent-encoded (%2F, %3F, %40)" },
	{ "amqp://h/?prefetch=5", "unknown query parameter \"prefetch\" (known: heartbeat, "
	  "connection_timeout, channel_max, frame_max, auth_mechanism, cacertfile, certfile, "
	  "keyfile, server_name_indication)" },
	{ "amqps://h/?verify=false", "unknown query parameter \"verify\" (known: heartbeat, "
	  "connection_timeout, channel_max, frame_max, auth_mechanism, cacertfile, certfile, "
	  "keyfile, server_name_indication)" },
};

Test(amqp_url, errors_name_the_part_never_the_password)
{
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct amqp_url u;
		char msg[256] = "";
		int rc = amqp_url_parse(bad[i].url, strlen(bad[i].url), &u, msg, sizeof(msg));

		cr_expect(rc == -1, "%s: got success, want \"%s\"", bad[i].url, bad[i].want);
		cr_expect_str_eq(msg, bad[i].want, "%s: got \"%s\", want \"%s\"", bad[i].url, msg,
		    bad[i].want);
		cr_expect(strstr(msg, "cret") == NULL, "%s: message shows the password: %s",
		    bad[i].url, msg);
	}
}

Test(amqp_url, list)
{
	struct amqp_url v[AMQP_URL_MAX];
	char msg[256] = "";
	int n = amqp_url_parse_list("amqp://a:1/x, amqps://u:p@b/%2f ,amqp://[::1]", v,
	    AMQP_URL_MAX, msg, sizeof(msg));

	cr_assert(n == 3, "got %d (%s), want 3 URLs", n, msg);
	cr_expect(strcmp(v[0].host, "a") == 0 && v[0].port == 1 && strcmp(v[0].vhost, "x") == 0,
	    "URL 1: got %s:%d vhost %s", v[0].host, v[0].port, v[0].vhost);
	cr_expect(v[1].tls && strcmp(v[1].host, "b") == 0 && strcmp(v[1].vhost, "/") == 0 &&
	    strcmp(v[1].password, "p") == 0, "URL 2: got %s vhost %s", v[1].host, v[1].vhost);
	cr_expect(strcmp(v[2].host, "::1") == 0 && v[2].port == 5672, "URL 3: got %s:%d",
	    v[2].host, v[2].port);

	cr_expect(amqp_url_parse_list("amqp://a,amqp://u:s3cret@b:99999/", v, AMQP_URL_MAX, msg,
	    sizeof(msg)) == -1, "a bad second URL was accepted");
	cr_expect_str_eq(msg, "URL 2 of 2: port must be a number between 1 and 65535", "got %s", msg);
	cr_expect(amqp_url_parse_list("amqp://a,,amqp://b", v, AMQP_URL_MAX, msg, sizeof(msg)) == -1,
	    "an empty element was accepted");
	cr_expect_str_eq(msg, "URL 2 of 3 is empty", "got %s", msg);
	cr_expect(amqp_url_parse_list("", v, AMQP_URL_MAX, msg, sizeof(msg)) == -1,
	    "an empty list was accepted");
	cr_expect_str_eq(msg, "must not be empty", "got %s", msg);
	cr_expect(amqp_url_parse_list("amqp://a,amqp://a,amqp://a,amqp://a,amqp://a,amqp://a,"
	    "amqp://a,amqp://a,amqp://a,amqp://a,amqp://a,amqp://a,amqp://a,amqp://a,amqp://a,"
	    "amqp://a,amqp://a", v, AMQP_URL_MAX, msg, sizeof(msg)) == -1, "17 URLs accepted");
	cr_expect_str_eq(msg, "at most 16 URLs", "got %s", msg);
}

static const struct {
	const char *in, *want;
} masks[] = {
	{ "amqp://guest:guest@h:5672/", "amqp://guest:********@h:5672/" },
	{ "amqps://u:p%40ss@h/v?heartbeat=5", "amqps://u:********@h/v?heartbeat=5" },
	{ "amqp://u:p@ss@h/", "amqp://u:********@h/" },
	{ "amqp://user@h/", "amqp://user@h/" },
	{ "amqp://h/a@b", "amqp://h/a@b" },
	{ "amqp://h/", "amqp://h/" },
	{ "u:secret@h", "u:********@h" },	/* not even a URL: still masked */
	{ "amqp://u:pa/ss@h/", "amqp://u:********@h/" },	/* '/' in the password */
	{ "amqp://u:pa?ss@h/", "amqp://u:********@h/" },
};

Test(amqp_url, mask)
{
	for (size_t i = 0; i < sizeof(masks) / sizeof(masks[0]); i++) {
		char out[256];

		redact_url(masks[i].in, strlen(masks[i].in), out, sizeof(out));
		cr_expect_str_eq(out, masks[i].want, "%s: got %s, want %s", masks[i].in, out,
		    masks[i].want);
	}
}

/* One masking rule: which settings and librdkafka properties are secrets. */
static const struct {
	const char *name;
	int secret;
} properties[] = {
	{ "sasl.password", 1 },
	{ "ssl.key.password", 1 },
	{ "ssl.keystore.password", 1 },
	{ "ssl.truststore.password", 1 },
	{ "sasl.oauthbearer.client.secret", 1 },
	{ "sasl.oauthbearer.config", 1 },
	{ "ssl.key.pem", 1 },
	{ "ssl.certificate.pem", 1 },	/* a PEM inline: masked rather than read */
	{ "SASL.PASSWORD", 1 },
	{ "sasl.password_file", 0 },	/* a path */
	{ "ssl.key.pem_file", 0 },
	{ "sasl.username", 0 },
	{ "sasl.mechanism", 0 },
	{ "security.protocol", 0 },
	{ "ssl.key.location", 0 },
	{ "ssl.ca.location", 0 },
	{ "linger.ms", 0 },
};

Test(redact, properties)
{
	for (size_t i = 0; i < sizeof(properties) / sizeof(properties[0]); i++) {
		int got = redact_property(properties[i].name, strlen(properties[i].name));

		cr_expect(got == properties[i].secret, "%s: got %s, want %s", properties[i].name,
		    got ? "secret" : "shown", properties[i].secret ? "secret" : "shown");
	}
	cr_expect(redact_setting("redis.password"), "redis.password: got shown, want secret");
	cr_expect(!redact_setting("redis.password_file"), "redis.password_file: got secret");
	cr_expect(!redact_setting("rabbitmq.tls_key_file"), "rabbitmq.tls_key_file: got secret");
	cr_expect(!redact_setting("redis.username"), "redis.username: got secret");
}

static const struct {
	const char *in, *want;
} pairs[] = {
	{ "sasl.password=hunter2", "sasl.password=********" },
	{ "sasl.password=", "sasl.password=********" },
	{ "sasl.password_file=/etc/er/kafka.pw", "sasl.password_file=/etc/er/kafka.pw" },
	{ "linger.ms=5", "linger.ms=5" },
	{ "sasl.password:hunter2", "********" },	/* not name=value: masked whole */
	{ "linger.ms", "linger.ms" },
};

Test(redact, pairs)
{
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++) {
		char out[64];

		redact_pair(pairs[i].in, out, sizeof(out));
		cr_expect_str_eq(out, pairs[i].want, "%s: got %s, want %s", pairs[i].in, out,
		    pairs[i].want);
	}
}
