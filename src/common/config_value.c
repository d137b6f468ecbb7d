/*
 * config_value: checks of single setting values (see config_value.h),
 * the same whichever source a value came from.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/amqp_url.h"
#include "common/config.h"
#include "common/config_value.h"

/* Plain decimal with an optional '-': no blanks, '+', hex or overflow. */
int
config_parse_decimal(const char *s, long *out)
{
	const char *p = s + (*s == '-');
	char *end;
	long v;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p != '\0'; p++)
		if (*p < '0' || *p > '9')
			return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	*out = v;
	return 0;
}

int
config_parse_bool(const char *s, int *out)
{
	static const char *const yes[] = { "true", "yes", "on", "1" };
	static const char *const no[] = { "false", "no", "off", "0" };

	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = 1;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = 0;
			return 0;
		}
	}
	return -1;
}

int
config_split_addr(const char *addr, char *host, size_t hostsz, int *port)
{
	const char *h, *p;
	size_t hlen, plen;
	long v = 0;

	if (addr == NULL)
		return -1;
	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');

		if (close == NULL || close[1] != ':')
			return -1;
		h = addr + 1;
		hlen = (size_t)(close - h);
		p = close + 2;
	} else {
		const char *colon = strrchr(addr, ':');

		if (colon == NULL)
			return -1;
		h = addr;
		hlen = (size_t)(colon - addr);
		p = colon + 1;
		if (memchr(h, ':', hlen) != NULL)
			return -1;	/* a bare IPv6 address needs brackets */
	}
	if (hlen == 0)
		return -1;
	for (size_t i = 0; i < hlen; i++)
		if ((unsigned char)h[i] <= ' ' || h[i] == '/' || h[i] == '[' || h[i] == ']')
			return -1;
	plen = strlen(p);
	if (plen == 0 || plen > 5)
		return -1;
	for (size_t i = 0; i < plen; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	if (v < 1 || v > 65535)
		return -1;
	if (host != NULL) {
		if (hlen >= hostsz)
			return -1;
		memcpy(host, h, hlen);
		host[hlen] = '\0';
	}
	if (port != NULL)
		*port = (int)v;
	return 0;
}

/* A comma-separated list of URLs, each read as amqp_url.h describes. */
int
config_check_urls(const char *s, char *msg, size_t msgsz)
{
	struct amqp_url *v = calloc(AMQP_URL_MAX, sizeof(*v));
	int n;

	if (v == NULL) {
		snprintf(msg, msgsz, "out of memory");
		return -1;
	}
	n = amqp_url_parse_list(s, v, AMQP_URL_MAX, msg, msgsz);
	free(v);
	return n < 0 ? -1 : 0;
}

/* A kafka.properties element: "name=value" with a non-empty name. */
int
config_check_scheme(const char *s, char *msg, size_t msgsz)
{
	const char *sep = strstr(s, "://");

	if (sep == NULL)
		return 0;
	if (strncasecmp(s, "rediss://", 9) == 0)
		snprintf(msg, msgsz, "rediss:// (Redis over TLS) is not supported: hiredis 0.14 has "
		    "no TLS; run a local TLS tunnel (such as stunnel) to the server and give the "
		    "tunnel's host:port here (see TLS in event-relay.conf(5))");
	else
		snprintf(msg, msgsz, "must be host:port, without a scheme (\"%.*s://\")",
		    (int)(sep - s > 16 ? 16 : sep - s), s);
	return -1;
}

int
config_check_addrs(const char *s, char *msg, size_t msgsz)
{
	char one[300];
	int i = 1;

	if (*s == '\0')
		return 0;
	for (const char *e = s;; i++) {
		const char *end = strchr(e, ',');
		size_t len = end != NULL ? (size_t)(end - e) : strlen(e);

		if (len == 0 || len >= sizeof(one)) {
			snprintf(msg, msgsz, "element %d must be host:port", i);
			return -1;
		}
		memcpy(one, e, len);
		one[len] = '\0';
		if (config_check_scheme(one, msg, msgsz) != 0)
			return -1;
		if (config_split_addr(one, NULL, 0, NULL) != 0) {
			snprintf(msg, msgsz, "element %d (\"%.64s\") must be host:port with a port "
			    "between 1 and 65535", i, one);
			return -1;
		}
		if (end == NULL)
			return 0;
		e = end + 1;
	}
}

int
config_check_pair(const char *s, size_t len)
{
	const char *eq = memchr(s, '=', len);

	return eq != NULL && eq != s ? 0 : -1;
}

/*
 * CHOICE settings list their alternatives in the default, "a|b|c"; the
 * first is the default. The index of `s` among them, or -1.
 */
int
config_choice_index(const char *alts, const char *s)
{
	size_t n = strlen(s);
	int i = 0;

	for (const char *p = alts;; i++) {
		const char *bar = strchr(p, '|');
		size_t len = bar != NULL ? (size_t)(bar - p) : strlen(p);

		if (len == n && strncmp(p, s, n) == 0)
			return i;
		if (bar == NULL)
			return -1;
		p = bar + 1;
	}
}

/* "a, b or c" for the alternatives "a|b|c". */
void
config_choice_list(const char *alts, char *buf, size_t bufsz)
{
	const char *last = strrchr(alts, '|');
	size_t n = 0;

	buf[0] = '\0';
	for (const char *p = alts; *p != '\0' && n + 5 < bufsz; p++) {
		if (*p != '|') {
			buf[n++] = *p;
		} else if (p == last) {
			memcpy(buf + n, " or ", 4);
			n += 4;
		} else {
			memcpy(buf + n, ", ", 2);
			n += 2;
		}
	}
	buf[n] = '\0';
}

const char *
config_choice_first(const char *alts, char *buf, size_t bufsz)
{
	size_t len = strcspn(alts, "|");

	if (len >= bufsz)
		len = bufsz - 1;
	memcpy(buf, alts, len);
	buf[len] = '\0';
	return buf;
}
