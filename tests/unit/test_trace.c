/*
 * test_trace: the tracing building blocks: traceparent parsing (every
 * invalid form of W3C Trace Context level 1), id generation, the
 * samplers, the OTLP/HTTP JSON encoder (golden/otlp_spans.json), the
 * endpoint URL rules and the settings' resolution from tracing.* and
 * the OTEL_* environment.
 *
 * After an intended change of the encoder's output:
 *   ER_UPDATE_GOLDEN=1 ./tests/unit/test_trace
 * then review the diff of golden/otlp_spans.json.
 */
#include "autoconf.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/http_url.h"
#include "common/redact.h"
#include "worker/otlp_json.h"
#include "worker/trace_context.h"
#include "worker/trace_ids.h"
#include "worker/trace_sampler.h"

#define GOLDEN TEST_SRCDIR "/golden/otlp_spans.json"
#define TP "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

/* ---- traceparent ---- */

Test(traceparent, invalid_forms)
{
	static const struct {
		const char *name, *tp;
	} bad[] = {
		{ "empty", "" },
		{ "version only", "00" },
		{ "version ff", "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" },
		{ "version not hex", "0x-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" },
		{ "version uppercase", "0A-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" },
		{ "version one digit", "0-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01" },
		{ "trace-id short", "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01" },
		{ "trace-id long", "00-4bf92f3577b34da6a3ce929d0e0e47366-00f067aa0ba902b7-01" },
		{ "trace-id uppercase", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01" },
		{ "trace-id not hex", "00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01" },
		{ "trace-id all zero", "00-00000000000000000000000000000000-00f067aa0ba902b7-01" },
		{ "parent-id short", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b-01" },
		{ "parent-id long", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b70-01" },
		{ "parent-id uppercase", "00-4bf92f3577b34da6a3ce929d0e0e4736-00F067AA0BA902B7-01" },
		{ "parent-id not hex", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902bz-01" },
		{ "parent-id all zero", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01" },
		{ "flags one digit", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1" },
		{ "flags three digits", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-011" },
		{ "flags uppercase", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0A" },
		{ "flags not hex", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g" },
		{ "separator not -", "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01" },
		{ "no separators", "004bf92f3577b34da6a3ce929d0e0e473600f067aa0ba902b701xxx" },
		{ "version 00 with more", TP "-00" },
		{ "version 00 with a byte more", TP "x" },
		{ "leading space", " " TP },
		{ "trailing space", TP " " },
		{ "future version, more without -", "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x" },
		{ "future version, short", "cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0" },
	};
	struct traceparent tp;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect(traceparent_parse(bad[i].tp, strlen(bad[i].tp), &tp) < 0,
		    "%s: got valid, want invalid", bad[i].name);
}

Test(traceparent, parse_and_format)
{
	static const char *const good[] = {
		TP,
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-ff",
	};
	struct traceparent tp;
	char out[TRACEPARENT_LEN];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		cr_assert(traceparent_parse(good[i], strlen(good[i]), &tp) == 0, "%s: got invalid", good[i]);
		traceparent_format(&tp, out);
		cr_expect(memcmp(out, good[i], TRACEPARENT_LEN) == 0, "format: got %.55s, want %s",
		    out, good[i]);
	}
	cr_assert(traceparent_parse(TP, strlen(TP), &tp) == 0);
	cr_expect(tp.trace_id[0] == 0x4b && tp.trace_id[15] == 0x36, "trace id bytes");
	cr_expect(tp.span_id[0] == 0x00 && tp.span_id[7] == 0xb7, "span id bytes");
	cr_expect(tp.flags == 1, "flags: got %u, want 1", tp.flags);
	/* A later version: its first four fields count, the rest is ignored. */
	cr_assert(traceparent_parse("cc-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-xyz", 59,
	    &tp) == 0);
	cr_expect(tp.flags == 1);
}

/* ---- ids ---- */

static int
cmp_id(const void *a, const void *b)
{
	return memcmp(a, b, 16);
}

Test(trace_ids, unique_nonzero_and_seeded)
{
	enum { N = 20000 };
	static uint8_t ids[N][16];
	static const uint8_t zero[16];
	struct trace_rng r, r2;
	uint8_t a[8], b[8];

	trace_rng_init(&r);
	for (int i = 0; i < N; i++) {
		trace_new_trace_id(&r, ids[i]);
		cr_assert(memcmp(ids[i], zero, 16) != 0, "id %d is all zero", i);
	}
	qsort(ids, N, 16, cmp_id);
	for (int i = 1; i < N; i++)
		cr_assert(memcmp(ids[i - 1], ids[i], 16) != 0, "the same trace id twice");
	for (int i = 0; i < N; i++) {
		trace_new_span_id(&r, a);
		cr_assert(memcmp(a, zero, 8) != 0, "span id %d is all zero", i);
	}
	/* A fixed seed gives a fixed sequence; the state is never all zero. */
	trace_rng_seed(&r, 42);
	trace_rng_seed(&r2, 42);
	trace_new_span_id(&r, a);
	trace_new_span_id(&r2, b);
	cr_expect(memcmp(a, b, 8) == 0, "seeded sequences differ");
	trace_rng_seed(&r, 0);
	cr_expect(r.s[0] != 0 || r.s[1] != 0, "all-zero state from seed 0");
}

/* ---- sampler ---- */

Test(trace_sampler, decisions)
{
	static const struct {
		const char *name;
		double ratio;
		int parent;	/* 0 none, 1 sampled, 2 unsampled */
		int want;
	} cases[] = {
		{ "parentbased_traceidratio", 0.0, 1, 1 },
		{ "parentbased_traceidratio", 0.0, 2, 0 },
		{ "parentbased_traceidratio", 0.0, 0, 0 },
		{ "parentbased_traceidratio", 1.0, 0, 1 },
		{ "parentbased_traceidratio", 1.0, 2, 0 },
		{ "parentbased_always_on", 0.0, 0, 1 },
		{ "parentbased_always_on", 0.0, 2, 0 },
		{ "parentbased_always_off", 1.0, 0, 0 },
		{ "parentbased_always_off", 1.0, 1, 1 },
		{ "always_on", 0.0, 2, 1 },
		{ "always_off", 1.0, 1, 0 },
		{ "traceidratio", 1.0, 2, 1 },
		{ "traceidratio", 0.0, 1, 0 },
	};
	struct trace_sampler s;
	struct traceparent p = { .flags = 1 };
	uint8_t id[16] = { 1 };

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int got;

		cr_assert(trace_sampler_init(&s, cases[i].name, cases[i].ratio) == 0, "%s", cases[i].name);
		p.flags = cases[i].parent == 1 ? 1 : 0;
		got = trace_sampler_sample(&s, cases[i].parent ? &p : NULL, id);
		cr_expect(got == cases[i].want, "%s ratio %g parent %d: got %d, want %d", cases[i].name,
		    cases[i].ratio, cases[i].parent, got, cases[i].want);
	}
	cr_expect(trace_sampler_init(&s, "jaeger_remote", 1.0) < 0, "unknown sampler accepted");
	cr_assert(trace_sampler_init(&s, "parentbased_traceidratio", 0.0) == 0);
	cr_expect(!trace_sampler_roots(&s), "ratio 0 makes roots");
}

Test(trace_sampler, ratio_reads_the_trace_id)
{
	struct trace_sampler s;
	struct trace_rng r;
	uint8_t id[16];
	int n = 0;

	cr_assert(trace_sampler_init(&s, "traceidratio", 0.25) == 0);
	/* Deterministic: the low 8 bytes against 0.25 * 2^64. */
	memset(id, 0, sizeof(id));
	id[8] = 0x3f;
	cr_expect(trace_sampler_sample(&s, NULL, id) == 1, "0x3f.. < 0x40..: want sampled");
	id[8] = 0x40;
	cr_expect(trace_sampler_sample(&s, NULL, id) == 0, "0x40.. >= bound: want not sampled");
	id[0] = 0xff;	/* the high bytes do not count */
	cr_expect(trace_sampler_sample(&s, NULL, id) == 0);
	trace_rng_seed(&r, 7);
	for (int i = 0; i < 40000; i++) {
		trace_new_trace_id(&r, id);
		n += trace_sampler_sample(&s, NULL, id);
	}
	cr_expect(n > 9400 && n < 10600, "ratio 0.25 of 40000: got %d", n);
}

/* ---- the JSON encoder ---- */

static void
fill(struct span_rec *r, int k)
{
	memset(r, 0, sizeof(*r));
	for (int i = 0; i < 16; i++)
		r->trace_id[i] = (uint8_t)(0x10 * k + i);
	memcpy(r->process_id, "\x01\x02\x03\x04\x05\x06\x07\x08", 8);
	memcpy(r->send_id, "\xa1\xa2\xa3\xa4\xa5\xa6\xa7\xa8", 8);
	r->start_ns = 1767225600000000000ull + (uint64_t)k * 1000;
	r->end_ns = r->start_ns + 2500000;
	r->send_start_ns = r->start_ns + 500000;
	r->send_end_ns = r->start_ns + 2000000;
	r->event_ns = r->end_ns;
	r->queue = "orders";
	r->delivery_tag = 9007199254740993ull;	/* 2^53 + 1: exact only as a decimal string */
	r->topic = "orders.v1";
	span_text_reset(r);
	{
		char id[16];
		int n = snprintf(id, sizeof(id), "ev-%d", k);

		span_text_put(r, SPAN_EVENT_ID, id, (size_t)n);
	}
}

static char *
slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	cr_assert(buf != NULL);
	cr_assert(fread(buf, 1, (size_t)n, f) == (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

Test(otlp_json, golden)
{
	struct otlp_resource res = { "event-relay", "1.2.3", "relay-host", 4242, 1,
	    "deployment.environment=prod,team=data%20platform" };
	struct otlp_buf rb = {0}, b = {0};
	struct span_rec r;
	char *want;
	size_t wlen;

	cr_assert(otlp_resource(&rb, &res) == 0);
	otlp_begin(&b, rb.p, "1.2.3");

	/* 1: relayed, with a parent and a tracestate, partition and offset, a string key. */
	fill(&r, 1);
	r.has_parent = 1;
	memcpy(r.parent_id, "\x00\xf0\x67\xaa\x0b\xa9\x02\xb7", 8);
	span_text_put(&r, SPAN_ROUTING_KEY, "eu.orders", 9);
	span_text_put(&r, SPAN_MESSAGE_ID, "msg-1", 5);
	span_text_put(&r, SPAN_KEY, "ev-1", 4);
	span_text_put(&r, SPAN_TRACESTATE, "rojo=00f067aa0ba902b7,congo=t61rcWkgMzE", 39);
	r.has_send = 1;
	r.has_offset = 1;
	r.partition = 3;
	r.offset = 1234567890123;
	otlp_add(&b, &r);

	/* 2: a duplicate: a root span with an event, no send span; empty routing key. */
	fill(&r, 2);
	span_text_put(&r, SPAN_ROUTING_KEY, "", 0);
	r.duplicate = 1;
	otlp_add(&b, &r);

	/* 3: Kafka refused it: send ERROR, dead letter on the process span; a topic from a template. */
	fill(&r, 3);
	r.topic = NULL;
	span_text_put(&r, SPAN_ROUTING_KEY, "eu.orders", 9);
	span_text_put(&r, SPAN_TOPIC, "orders.eu", 9);
	r.has_send = 1;
	r.send_error = "MSG_SIZE_TOO_LARGE";
	r.dead_letter = "kafka_rejected";
	r.dead_letter_detail = "MSG_SIZE_TOO_LARGE";
	otlp_add(&b, &r);

	/* 4: poison, with bytes a JSON string must escape or replace. */
	fill(&r, 4);
	r.dead_letter = "invalid_json";
	span_text_put(&r, SPAN_ROUTING_KEY, "a\"b\\c\x01\xff\xc3\xa9", 9);
	span_text_put(&r, SPAN_MESSAGE_ID, "\xe2\x82\xac!", 4);
	otlp_add(&b, &r);
	cr_assert(otlp_end(&b) == 0);

	if (getenv("ER_UPDATE_GOLDEN") != NULL) {
		FILE *f = fopen(GOLDEN, "wb");

		cr_assert(f != NULL);
		fwrite(b.p, 1, b.len, f);
		fputc('\n', f);
		fclose(f);
	}
	want = slurp(GOLDEN, &wlen);
	cr_assert(want != NULL, "open %s: got an error, want the golden file", GOLDEN);
	cr_expect(wlen == b.len + 1 && memcmp(want, b.p, b.len) == 0,
	    "the encoder's output differs from %s:\ngot  %.*s\nwant %s", GOLDEN, (int)b.len, b.p, want);
	free(want);
	otlp_buf_free(&b);
	otlp_buf_free(&rb);
}

Test(otlp_json, strings_share_a_bounded_area)
{
	static char big[SPAN_TEXT_BYTES];
	struct span_rec r;
	const char *p;
	size_t n;

	memset(big, 'k', sizeof(big));
	fill(&r, 1);
	cr_expect(span_text_put(&r, SPAN_ROUTING_KEY, "rk", 2) == 0);
	cr_expect(span_text_put(&r, SPAN_KEY, big, sizeof(big)) < 0, "a key beyond the area was stored");
	cr_expect(span_text_get(&r, SPAN_KEY, &n) == NULL, "the key left out reads as present");
	cr_expect(span_text_put(&r, SPAN_TRACESTATE, "a=b", 3) == 0, "a short string after a long one");
	p = span_text_get(&r, SPAN_ROUTING_KEY, &n);
	cr_expect(p != NULL && n == 2 && memcmp(p, "rk", 2) == 0);
	cr_expect(span_text_get(&r, SPAN_MESSAGE_ID, &n) == NULL, "never stored, reads as present");
}

/* ---- endpoint URLs ---- */

Test(http_url, traces_and_jaeger)
{
	static const struct {
		const char *in, *want;
		int jaeger;
	} cases[] = {
		{ "http://collector:4318", "http://collector:4318/v1/traces", 0 },
		{ "http://collector:4318/", "http://collector:4318/v1/traces", 0 },
		{ "https://otel.example.com/otlp", "https://otel.example.com/otlp/v1/traces", 0 },
		{ "http://collector:4318/v1/traces", "http://collector:4318/v1/traces", 0 },
		{ "http://[::1]:4318", "http://[::1]:4318/v1/traces", 0 },
		{ "HTTP://10.0.0.5", "http://10.0.0.5/v1/traces", 0 },
		{ "http://jaeger:14268", "http://jaeger:4318/v1/traces", 1 },
		{ "http://jaeger:14268/", "http://jaeger:4318/v1/traces", 1 },
		{ "http://jaeger:9999", "http://jaeger:9999/v1/traces", 1 },
		{ "https://jaeger", "https://jaeger/v1/traces", 1 },
	};
	static const char *const bad[] = {
		"ftp://collector", "collector:4318", "http://", "http://user:pw@collector",
		"http://collector:0", "http://collector:65536", "http://collector:x",
		"http://coll ector", "http://collector/#frag", "http://[::1", "",
	};
	char out[256], why[128];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = cases[i].jaeger ?
		    http_url_from_jaeger(cases[i].in, out, sizeof(out), why, sizeof(why)) :
		    http_url_traces(cases[i].in, out, sizeof(out), why, sizeof(why));

		cr_expect(rc == 0, "%s: %s", cases[i].in, why);
		cr_expect(rc != 0 || strcmp(out, cases[i].want) == 0, "%s: got %s, want %s",
		    cases[i].in, out, cases[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect(http_url_traces(bad[i], out, sizeof(out), why, sizeof(why)) < 0,
		    "%s: got %s, want an error", bad[i], out);
}

/* ---- settings ---- */

static const char *const *test_env;

static const char *
table_getenv(const char *name)
{
	for (const char *const *e = test_env; e != NULL && *e != NULL; e += 2)
		if (strcmp(e[0], name) == 0)
			return e[1];
	return NULL;
}

/* config_load() with only `env`; the errors into *errs (caller frees). */
static int
load_env(struct er_config *cfg, const char *const *env, char **errs)
{
	size_t len;
	FILE *f = open_memstream(errs, &len);
	int n;

	test_env = env;
	n = config_load(cfg, NULL, table_getenv, f);
	fclose(f);
	return n;
}

Test(trace_config, precedence)
{
	static const struct {
		const char *name;
		const char *env[12];
		const char *want;	/* NULL: off */
	} cases[] = {
		{ "nothing set", { NULL }, NULL },
		{ "base endpoint", { "OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", NULL },
		  "http://c:4318/v1/traces" },
		{ "traces endpoint as it is", { "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://c:4318/x",
		  "OTEL_EXPORTER_OTLP_ENDPOINT", "http://d:4318", NULL }, "http://c:4318/x" },
		{ "JAEGER_URL", { "JAEGER_URL", "http://jaeger:14268", NULL }, "http://jaeger:4318/v1/traces" },
		{ "OTEL wins over JAEGER_URL", { "JAEGER_URL", "http://jaeger:14268",
		  "OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", NULL }, "http://c:4318/v1/traces" },
		{ "disabled", { "OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_SDK_DISABLED", "true",
		  NULL }, NULL },
		{ "disabled false", { "OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318", "OTEL_SDK_DISABLED",
		  "false", NULL }, "http://c:4318/v1/traces" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct er_config cfg;
		char *errs = NULL;
		int n = load_env(&cfg, cases[i].env, &errs);

		cr_expect(n == 0, "%s: errors: %s", cases[i].name, errs);
		if (cases[i].want == NULL)
			cr_expect(cfg.trace_url == NULL, "%s: got %s, want off", cases[i].name, cfg.trace_url);
		else
			cr_expect(cfg.trace_url != NULL && strcmp(cfg.trace_url, cases[i].want) == 0,
			    "%s: got %s, want %s", cases[i].name, cfg.trace_url ? cfg.trace_url : "off",
			    cases[i].want);
		cr_expect((cfg.trace_note != NULL) == (strcmp(cases[i].name, "JAEGER_URL") == 0),
		    "%s: note %s", cases[i].name, cfg.trace_note ? cfg.trace_note : "none");
		free(errs);
		config_free(&cfg);
	}
}

Test(trace_config, errors_name_the_setting_and_hide_the_token)
{
	static const char *const env[] = {
		"OTEL_TRACES_SAMPLER_ARG", "1.5",
		"OTEL_TRACES_SAMPLER", "jaeger_remote",
		"OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%2xsecret-token",
		"OTEL_EXPORTER_OTLP_ENDPOINT", "grpc://c:4317",
		NULL,
	};
	struct er_config cfg;
	char *errs = NULL;
	int n = load_env(&cfg, env, &errs);

	cr_expect(n == 4, "got %d errors, want 4: %s", n, errs);
	cr_expect(strstr(errs, "OTEL_TRACES_SAMPLER_ARG") != NULL, "%s", errs);
	cr_expect(strstr(errs, "OTEL_TRACES_SAMPLER:") != NULL, "%s", errs);
	cr_expect(strstr(errs, "OTEL_EXPORTER_OTLP_HEADERS") != NULL, "%s", errs);
	cr_expect(strstr(errs, "OTEL_EXPORTER_OTLP_ENDPOINT: not an http:// or https:// URL") != NULL,
	    "%s", errs);
	cr_expect(strstr(errs, "secret-token") == NULL, "the token is shown: %s", errs);
	cr_expect(redact_setting("tracing.headers"), "tracing.headers is not a secret");
	free(errs);
	config_free(&cfg);
}
