/*
 * trace_config: where spans go and how many (trace_config.h).
 *
 * Precedence, most specific first: OTEL_SDK_DISABLED=true (off),
 * OTEL_EXPORTER_OTLP_TRACES_ENDPOINT (the traces URL as it is),
 * OTEL_EXPORTER_OTLP_ENDPOINT (a base URL + /v1/traces),
 * tracing.endpoint (the same), JAEGER_URL (the replaced service's
 * setting: its host, port 4318 for 14268). The one thing to know: the
 * headers are a secret; no message here may quote them.
 */
#include "autoconf.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/http_url.h"
#include "common/trace_config.h"

#define URL_MAX 2048
#define KV_MAX 4096

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* RFC 7230 token characters. */
static int
is_token(int c)
{
	return isalnum(c) || (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

int
config_kv_split(const char *s, void (*fn)(void *arg, const char *key, const char *value),
    void *arg, char *why, size_t whysz)
{
	char key[256], val[KV_MAX];
	size_t n = 0;

	while (*s != '\0') {
		const char *end = s + strcspn(s, ","), *eq, *k, *ke, *v, *ve;
		size_t kl, vl = 0;

		n++;
		k = s;
		while (k < end && (*k == ' ' || *k == '\t'))
			k++;
		if (k == end) {		/* an empty member: tolerated, as in Baggage */
			s = *end == ',' ? end + 1 : end;
			continue;
		}
		eq = memchr(k, '=', (size_t)(end - k));
		if (eq == NULL) {
			snprintf(why, whysz, "entry %zu: no '=' (want key=value,...)", n);
			return -1;
		}
		ke = eq;
		while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t'))
			ke--;
		kl = (size_t)(ke - k);
		for (size_t i = 0; i < kl; i++)
			if (!is_token((unsigned char)k[i])) {
				snprintf(why, whysz, "entry %zu: the key holds a character a header name cannot", n);
				return -1;
			}
		if (kl == 0 || kl >= sizeof(key)) {
			snprintf(why, whysz, "entry %zu: the key is empty or longer than 255 bytes", n);
			return -1;
		}
		memcpy(key, k, kl);
		key[kl] = '\0';
		v = eq + 1;
		ve = end;
		while (v < ve && (*v == ' ' || *v == '\t'))
			v++;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		for (const char *p = v; p < ve; p++) {
			int c = (unsigned char)*p;

			if (c == '%') {
				if (ve - p < 3 || hexval(p[1]) < 0 || hexval(p[2]) < 0) {
					snprintf(why, whysz, "entry %zu: a '%%' not followed by two hex digits", n);
					return -1;
				}
				c = hexval(p[1]) * 16 + hexval(p[2]);
				p += 2;
			}
			if (c < 0x20 || c == 0x7f) {
				snprintf(why, whysz, "entry %zu: the value holds a control character", n);
				return -1;
			}
			if (vl + 1 >= sizeof(val)) {
				snprintf(why, whysz, "entry %zu: the value is longer than %d bytes", n, KV_MAX - 1);
				return -1;
			}
			val[vl++] = (char)c;
		}
		val[vl] = '\0';
		if (fn != NULL)
			fn(arg, key, val);
		s = *end == ',' ? end + 1 : end;
	}
	return 0;
}

static int
is_true(const char *s)
{
	return s != NULL && strcasecmp(s, "true") == 0;
}

static const char *
env_set(config_getenv_fn env, const char *name)
{
	const char *s = env(name);

	return s != NULL && *s != '\0' ? s : NULL;
}

void
config_resolve_tracing(struct er_config *cfg, config_getenv_fn env, config_err_fn err, void *arg)
{
	const char *s, *traces = env_set(env, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT");
	const char *base = env_set(env, "OTEL_EXPORTER_OTLP_ENDPOINT");
	const char *jaeger = env_set(env, "JAEGER_URL");
	const char *hdrs = env_set(env, "OTEL_EXPORTER_OTLP_TRACES_HEADERS");
	char url[URL_MAX], why[256], *end;
	struct http_url u;
	double r;

	r = strtod(cfg->tracing_sample_ratio, &end);
	if (end == cfg->tracing_sample_ratio || *end != '\0' || !(r >= 0.0 && r <= 1.0))
		err(arg, "tracing.sample_ratio", "\"%s\" is not a number from 0 to 1",
		    cfg->tracing_sample_ratio);
	else
		cfg->trace_ratio = r;
	if (hdrs != NULL) {
		char *copy = strdup(hdrs);

		if (copy == NULL) {
			err(arg, "tracing.headers", "out of memory");
		} else {
			free(cfg->tracing_headers);
			cfg->tracing_headers = copy;
		}
	}
	if (config_kv_split(cfg->tracing_headers, NULL, NULL, why, sizeof(why)) < 0)
		err(arg, "tracing.headers", "%s", why);
	if ((s = env_set(env, "OTEL_RESOURCE_ATTRIBUTES")) != NULL) {
		if (config_kv_split(s, NULL, NULL, why, sizeof(why)) < 0)
			err(arg, "environment: OTEL_RESOURCE_ATTRIBUTES", "%s", why);
		else if ((cfg->trace_resource = strdup(s)) == NULL)
			err(arg, "environment: OTEL_RESOURCE_ATTRIBUTES", "out of memory");
	}

	if (traces != NULL) {
		if (http_url_parse(traces, &u, why, sizeof(why)) < 0) {
			err(arg, "environment: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "%s", why);
			return;
		}
		snprintf(url, sizeof(url), "%s", traces);
	} else if (base != NULL) {
		if (http_url_traces(base, url, sizeof(url), why, sizeof(why)) < 0) {
			err(arg, "environment: OTEL_EXPORTER_OTLP_ENDPOINT", "%s", why);
			return;
		}
	} else if (*cfg->tracing_endpoint != '\0') {
		if (http_url_traces(cfg->tracing_endpoint, url, sizeof(url), why, sizeof(why)) < 0) {
			err(arg, "tracing.endpoint", "%s", why);
			return;
		}
	} else if (jaeger != NULL) {
		char note[URL_MAX + 256];

		if (http_url_from_jaeger(jaeger, url, sizeof(url), why, sizeof(why)) < 0) {
			err(arg, "environment: JAEGER_URL", "%s", why);
			return;
		}
		snprintf(note, sizeof(note), "JAEGER_URL is set: spans go over OTLP/HTTP to %s "
		    "(Jaeger 1.35 or later serves it on port 4318; its Thrift collector is not "
		    "spoken); set tracing.endpoint or OTEL_EXPORTER_OTLP_ENDPOINT instead of JAEGER_URL", url);
		cfg->trace_note = strdup(note);
	} else {
		return;
	}
	if (is_true(env("OTEL_SDK_DISABLED")))
		return;
	if ((cfg->trace_url = strdup(url)) == NULL)
		err(arg, "tracing.endpoint", "out of memory");
}

void
config_free_tracing(struct er_config *cfg)
{
	free(cfg->trace_url);
	free(cfg->trace_note);
	free(cfg->trace_resource);
	cfg->trace_url = cfg->trace_note = cfg->trace_resource = NULL;
	if (cfg->tracing_headers != NULL)
		explicit_bzero(cfg->tracing_headers, strlen(cfg->tracing_headers));
}
