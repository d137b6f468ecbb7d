/*
 * http_url: the OTLP/HTTP endpoint URL (http_url.h).
 *
 * The one thing to know: the URL reaches libcurl as it is built here,
 * so anything libcurl would read differently from us (a user part, a
 * fragment, a space) is refused rather than passed on.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/http_url.h"

#define JAEGER_THRIFT_PORT 14268
#define OTLP_HTTP_PORT 4318
#define TRACES_PATH "/v1/traces"

static int
fail(char *why, size_t whysz, const char *msg)
{
	snprintf(why, whysz, "%s", msg);
	return -1;
}

int
http_url_parse(const char *s, struct http_url *u, char *why, size_t whysz)
{
	const char *p, *host, *hend, *pstart;
	size_t hlen;

	memset(u, 0, sizeof(*u));
	for (p = s; *p != '\0'; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f)
			return fail(why, whysz, "holds a space or control character");
	if (strncasecmp(s, "http://", 7) == 0) {
		p = s + 7;
	} else if (strncasecmp(s, "https://", 8) == 0) {
		u->https = 1;
		p = s + 8;
	} else {
		return fail(why, whysz, "not an http:// or https:// URL");
	}
	pstart = p + strcspn(p, "/?#");
	if (memchr(p, '@', (size_t)(pstart - p)) != NULL)
		return fail(why, whysz, "a user or password in the URL is not supported (use tracing.headers)");
	if (strchr(s, '#') != NULL)
		return fail(why, whysz, "a fragment (#) has no place in an endpoint URL");
	host = p;
	if (*p == '[') {
		hend = memchr(p, ']', (size_t)(pstart - p));
		if (hend == NULL)
			return fail(why, whysz, "unterminated [IPv6 address]");
		host = p + 1;
		hlen = (size_t)(hend - host);
		p = hend + 1;
		u->ipv6 = 1;
	} else {
		hend = p + strcspn(p, ":/?");
		if (hend > pstart)
			hend = pstart;
		hlen = (size_t)(hend - host);
		p = hend;
	}
	if (hlen == 0)
		return fail(why, whysz, "no host");
	if (hlen >= sizeof(u->host))
		return fail(why, whysz, "host name too long");
	memcpy(u->host, host, hlen);
	u->port = u->https ? 443 : 80;
	if (*p == ':') {
		char *end;
		long port = strtol(p + 1, &end, 10);

		if (end == p + 1 || end != pstart || port < 1 || port > 65535)
			return fail(why, whysz, "the port must be a number from 1 to 65535");
		u->port = (int)port;
		u->port_given = 1;
		p = end;
	} else if (p != pstart) {
		return fail(why, whysz, "unexpected text after the host");
	}
	if (strlen(p) + 2 > sizeof(u->path))
		return fail(why, whysz, "path too long");
	if (*p == '?')
		u->path[0] = '/';
	memcpy(u->path + (*p == '?'), p, strlen(p) + 1);
	return 0;
}

void
http_url_format(const struct http_url *u, const char *path, char *out, size_t outsz)
{
	char port[16] = "";

	if (u->port_given)
		snprintf(port, sizeof(port), ":%d", u->port);
	snprintf(out, outsz, "%s://%s%s%s%s%s", u->https ? "https" : "http", u->ipv6 ? "[" : "",
	    u->host, u->ipv6 ? "]" : "", port, path != NULL ? path : u->path);
}

int
http_url_traces(const char *base, char *out, size_t outsz, char *why, size_t whysz)
{
	struct http_url u;
	char path[sizeof(u.path) + sizeof(TRACES_PATH)];
	size_t n;

	if (http_url_parse(base, &u, why, whysz) < 0)
		return -1;
	if (strchr(u.path, '?') != NULL)
		return fail(why, whysz, "a base endpoint takes no query (a full traces URL goes in OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)");
	n = strlen(u.path);
	while (n > 0 && u.path[n - 1] == '/')
		n--;
	u.path[n] = '\0';
	if (n >= strlen(TRACES_PATH) && strcmp(u.path + n - strlen(TRACES_PATH), TRACES_PATH) == 0)
		snprintf(path, sizeof(path), "%s", u.path);
	else
		snprintf(path, sizeof(path), "%s%s", u.path, TRACES_PATH);
	http_url_format(&u, path, out, outsz);
	return 0;
}

int
http_url_from_jaeger(const char *jaeger, char *out, size_t outsz, char *why, size_t whysz)
{
	struct http_url u;

	if (http_url_parse(jaeger, &u, why, whysz) < 0)
		return -1;
	if (u.port == JAEGER_THRIFT_PORT) {
		u.port = OTLP_HTTP_PORT;
		u.port_given = 1;
	}
	http_url_format(&u, TRACES_PATH, out, outsz);
	return 0;
}
