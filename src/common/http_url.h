/*
 * http_url: checks the URL of an OTLP/HTTP endpoint and derives the
 * traces URL from the forms the OpenTelemetry environment variables and
 * the replaced service's JAEGER_URL use. Shared by the configuration
 * (which rejects a bad URL with its setting) and nothing else: the
 * worker takes the URL it built.
 */
#ifndef ER_HTTP_URL_H
#define ER_HTTP_URL_H

#include <stddef.h>

struct http_url {
	int https;
	char host[256];		/* without brackets for an IPv6 literal */
	int ipv6;
	int port;		/* explicit, or 80 / 443 */
	int port_given;
	char path[1024];	/* "" or starting with '/', query included */
};

/*
 * Parses http[s]://host[:port][/path]: no user or password, a port in
 * 1..65535, no fragment, no space or control character. 0, or -1 with
 * the reason in `why`.
 */
int http_url_parse(const char *s, struct http_url *u, char *why, size_t whysz);

/* Writes u back as a URL with `path` instead of its own (NULL: its own). */
void http_url_format(const struct http_url *u, const char *path, char *out, size_t outsz);

/*
 * The traces URL of a base endpoint (OTEL_EXPORTER_OTLP_ENDPOINT,
 * tracing.endpoint): "/v1/traces" appended to its path, unless the path
 * already ends with it. 0, or -1 with `why`.
 */
int http_url_traces(const char *base, char *out, size_t outsz, char *why, size_t whysz);

/*
 * The OTLP/HTTP traces URL standing in for JAEGER_URL (Jaeger's Thrift
 * collector, usually port 14268): the same scheme and host, port 4318
 * when it named 14268 (else its own), path /v1/traces. 0, or -1.
 */
int http_url_from_jaeger(const char *jaeger, char *out, size_t outsz, char *why, size_t whysz);

#endif
