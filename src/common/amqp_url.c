/*
 * amqp_url: parses rabbitmq.url elements as the Go AMQP clients do (see
 * amqp_url.h for the vhost rule); redact.h masks their passwords for output.
 *
 * Owns nothing: every result is written into the caller's struct. The
 * one thing to know before changing it: no message may quote the user
 * information of a URL, since the password lives there; messages name
 * the part that is wrong, never its text.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/amqp_url.h"
#include "common/config_value.h"
#include "common/redact.h"

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decodes s[0..len) into out[outsz] ('+' is a blank where
 * plus_space is set, as in a query). -1 on a bad escape, a decoded NUL
 * or a result that does not fit.
 */
static int
decode(const char *s, size_t len, int plus_space, char *out, size_t outsz)
{
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		int c = (unsigned char)s[i];

		if (c == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -1;
			hi = hexval((unsigned char)s[i + 1]);
			lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			c = hi * 16 + lo;
			if (c == 0)
				return -1;
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		if (n + 1 >= outsz)
			return -1;
		out[n++] = (char)c;
	}
	out[n] = '\0';
	return 0;
}

/* A query parameter's value as a number in [min, max]; 0 or -1. */
static int
query_number(const char *v, long min, long max, long *out)
{
	long n;

	if (config_parse_decimal(v, &n) != 0 || n < min || n > max)
		return -1;
	*out = n;
	return 0;
}

/* A TLS parameter: an absolute path, or any name for server_name_indication. */
static int
query_text(const char *name, const char *value, int path, char *slot, size_t slotsz, char *msg,
    size_t msgsz)
{
	if (*slot != '\0') {
		snprintf(msg, msgsz, "query parameter \"%s\" given twice", name);
		return -1;
	}
	if (*value == '\0') {
		snprintf(msg, msgsz, "query parameter \"%s\" must not be empty", name);
		return -1;
	}
	if (path && *value != '/') {
		snprintf(msg, msgsz, "query parameter \"%s\" must be an absolute path", name);
		return -1;
	}
	snprintf(slot, slotsz, "%s", value);
	return 0;
}

/* The query string q[0..len) ("a=1&b=2", without the '?'). */
static int
parse_query(const char *q, size_t len, struct amqp_url *u, char *msg, size_t msgsz)
{
	const char *end = q + len;

	while (q < end) {
		const char *amp = memchr(q, '&', (size_t)(end - q));
		const char *pe = amp != NULL ? amp : end;
		const char *eq = memchr(q, '=', (size_t)(pe - q));
		char name[64], value[AMQP_URL_FIELD];
		long *slot = NULL, min = 0, max = 0;
		char *text = NULL;
		int path = 1;

		if (pe == q) {
			q = pe + 1;
			continue;
		}
		if (decode(q, (size_t)((eq != NULL ? eq : pe) - q), 1, name, sizeof(name)) != 0) {
			snprintf(msg, msgsz, "a query parameter name is badly encoded or too long");
			return -1;
		}
		if (decode(eq != NULL ? eq + 1 : pe, eq != NULL ? (size_t)(pe - eq - 1) : 0, 1,
		    value, sizeof(value)) != 0) {
			snprintf(msg, msgsz, "query parameter \"%s\": bad percent-encoding or too long",
			    name);
			return -1;
		}
		if (strcmp(name, "heartbeat") == 0) {
			slot = &u->heartbeat, min = 0, max = 600;
		} else if (strcmp(name, "connection_timeout") == 0) {
			slot = &u->connect_timeout_ms, min = 0, max = 300000;
		} else if (strcmp(name, "channel_max") == 0) {
			slot = &u->channel_max, min = 0, max = 65535;
		} else if (strcmp(name, "frame_max") == 0) {
			slot = &u->frame_max, min = 4096, max = 2147483647;
		} else if (strcmp(name, "cacertfile") == 0) {
			text = u->cacertfile;
		} else if (strcmp(name, "certfile") == 0) {
			text = u->certfile;
		} else if (strcmp(name, "keyfile") == 0) {
			text = u->keyfile;
		} else if (strcmp(name, "server_name_indication") == 0) {
			text = u->server_name;
			path = 0;
		} else if (strcmp(name, "auth_mechanism") == 0) {
			if (u->auth != AMQP_AUTH_UNSET) {
				snprintf(msg, msgsz, "query parameter \"auth_mechanism\" given twice");
				return -1;
			}
			if (strcasecmp(value, "plain") == 0) {
				u->auth = AMQP_AUTH_PLAIN;
			} else if (strcasecmp(value, "external") == 0) {
				u->auth = AMQP_AUTH_EXTERNAL;
			} else {
				snprintf(msg, msgsz, "query parameter \"auth_mechanism\" must be plain or "
				    "external");
				return -1;
			}
		} else {
			snprintf(msg, msgsz, "unknown query parameter \"%s\" (known: heartbeat, "
			    "connection_timeout, channel_max, frame_max, auth_mechanism, cacertfile, "
			    "certfile, keyfile, server_name_indication)", name);
			return -1;
		}
		if (text != NULL) {
			if (!u->tls) {
				snprintf(msg, msgsz, "query parameter \"%s\": only for amqps:// URLs",
				    name);
				return -1;
			}
			if (query_text(name, value, path, text, AMQP_URL_FIELD, msg, msgsz) != 0)
				return -1;
		}
		if (slot != NULL) {
			if (*slot != -1) {
				snprintf(msg, msgsz, "query parameter \"%s\" given twice", name);
				return -1;
			}
			if (query_number(value, min, max, slot) != 0) {
				snprintf(msg, msgsz, "query parameter \"%s\" must be an integer between "
				    "%ld and %ld", name, min, max);
				return -1;
			}
		}
		q = pe + (pe < end);
	}
	if (u->auth == AMQP_AUTH_EXTERNAL && !u->tls) {
		snprintf(msg, msgsz, "auth_mechanism=external logs in with a TLS client "
		    "certificate: it needs an amqps:// URL");
		return -1;
	}
	return 0;
}

/* host[:port] or [v6][:port], h[0..len). */
static int
parse_hostport(const char *h, size_t len, struct amqp_url *u, char *msg, size_t msgsz)
{
	const char *end = h + len, *hend, *port = NULL;

	if (len > 0 && h[0] == '[') {
		const char *rb = memchr(h, ']', len);

		if (rb == NULL || (rb + 1 < end && rb[1] != ':')) {
			snprintf(msg, msgsz, "host: an IPv6 address is written [address]:port");
			return -1;
		}
		if (decode(h + 1, (size_t)(rb - h - 1), 0, u->host, sizeof(u->host)) != 0 ||
		    u->host[0] == '\0') {
			snprintf(msg, msgsz, "host: bad IPv6 address");
			return -1;
		}
		if (rb + 1 < end)
			port = rb + 2;
	} else {
		hend = memchr(h, ':', len);
		if (hend != NULL && memchr(hend + 1, ':', (size_t)(end - hend - 1)) != NULL) {
			snprintf(msg, msgsz, "host: an IPv6 address must be in brackets, "
			    "as in amqp://[::1]:5672/");
			return -1;
		}
		if (hend == NULL)
			hend = end;
		else
			port = hend + 1;
		if (decode(h, (size_t)(hend - h), 0, u->host, sizeof(u->host)) != 0) {
			snprintf(msg, msgsz, "host: bad percent-encoding or too long");
			return -1;
		}
		if (u->host[0] == '\0')
			snprintf(u->host, sizeof(u->host), "localhost");
	}
	if (port != NULL && port < end) {
		char digits[8];
		long n;

		if ((size_t)(end - port) >= sizeof(digits) ||
		    (memcpy(digits, port, (size_t)(end - port)), digits[end - port] = '\0',
		    config_parse_decimal(digits, &n) != 0) || n < 1 || n > 65535) {
			snprintf(msg, msgsz, "port must be a number between 1 and 65535");
			return -1;
		}
		u->port = (int)n;
	}
	return 0;
}

int
amqp_url_parse(const char *s, size_t len, struct amqp_url *u, char *msg, size_t msgsz)
{
	const char *end = s + len, *rest, *q, *auth_end, *at = NULL;
	char path[AMQP_URL_FIELD + 1];
	const char *vhost;
	int host_empty;

	memset(u, 0, sizeof(*u));
	u->heartbeat = u->connect_timeout_ms = u->channel_max = u->frame_max = -1;
	u->auth = AMQP_AUTH_UNSET;
	redact_url(s, len, u->shown, sizeof(u->shown));
	if (len >= 7 && strncasecmp(s, "amqp://", 7) == 0) {
		rest = s + 7;
		u->port = 5672;
	} else if (len >= 8 && strncasecmp(s, "amqps://", 8) == 0) {
		rest = s + 8;
		u->tls = 1;
		u->port = 5671;
	} else {
		snprintf(msg, msgsz, "must start with amqp:// or amqps://");
		return -1;
	}
	for (const char *p = s; p < end; p++) {
		if ((unsigned char)*p <= ' ' || *p == 0x7f) {
			snprintf(msg, msgsz, "contains a blank or a control character "
			    "(percent-encode it)");
			return -1;
		}
		if (*p == '#') {
			snprintf(msg, msgsz, "contains '#' (in a password, write it %%23)");
			return -1;
		}
	}
	q = memchr(rest, '?', (size_t)(end - rest));
	if (q == NULL)
		q = end;
	auth_end = memchr(rest, '/', (size_t)(q - rest));
	if (auth_end == NULL)
		auth_end = q;
	/*
	 * An '@' past the authority is a password with an unencoded '/' or
	 * '?': say so without quoting any of it (the rest would otherwise
	 * turn up in a message as a vhost or a query parameter).
	 */
	if (memchr(auth_end, '@', (size_t)(end - auth_end)) != NULL) {
		snprintf(msg, msgsz, "'@' after the host: a password or user holding '/', '?' or '@' "
		    "must be percent-encoded (%%2F, %%3F, %%40)");
		return -1;
	}

	/* user:password@ (the last '@': a password may hold an encoded one) */
	for (const char *p = rest; p < auth_end; p++)
		if (*p == '@')
			at = p;
	snprintf(u->user, sizeof(u->user), "guest");
	snprintf(u->password, sizeof(u->password), "guest");
	if (at != NULL) {
		const char *colon = memchr(rest, ':', (size_t)(at - rest));
		const char *uend = colon != NULL ? colon : at;

		if (decode(rest, (size_t)(uend - rest), 0, u->user, sizeof(u->user)) != 0) {
			snprintf(msg, msgsz, "user name: bad percent-encoding or too long");
			return -1;
		}
		if (colon != NULL &&
		    decode(colon + 1, (size_t)(at - colon - 1), 0, u->password,
		    sizeof(u->password)) != 0) {
			snprintf(msg, msgsz, "password: bad percent-encoding or too long");
			return -1;
		}
		rest = at + 1;
	}
	host_empty = rest == auth_end;
	if (parse_hostport(rest, (size_t)(auth_end - rest), u, msg, msgsz) != 0)
		return -1;

	/* The path, decoded first: "" and "/" are "/", "/name" is "name". */
	if (decode(auth_end, (size_t)(q - auth_end), 0, path, sizeof(path)) != 0) {
		snprintf(msg, msgsz, "vhost: bad percent-encoding or too long");
		return -1;
	}
	if (host_empty && strncmp(path, "///", 3) == 0)
		vhost = path[3] != '\0' ? path + 3 : "/";	/* amqp://///name, as Go has it */
	else
		vhost = path[0] == '\0' || path[1] == '\0' ? "/" : path + 1;
	snprintf(u->vhost, sizeof(u->vhost), "%s", vhost);

	if (q < end && parse_query(q + 1, (size_t)(end - q - 1), u, msg, msgsz) != 0)
		return -1;
	if (u->connect_timeout_ms == 0)
		u->connect_timeout_ms = -1;	/* 0 means "not set" to the Go clients */
	return 0;
}

int
amqp_url_parse_list(const char *list, struct amqp_url *v, size_t max, char *msg, size_t msgsz)
{
	size_t n = 1, k = 0;
	char why[256];

	for (const char *c = list; *c != '\0'; c++)
		n += (*c == ',');
	if (n > max) {
		snprintf(msg, msgsz, "at most %zu URLs", max);
		return -1;
	}
	for (const char *e = list;; k++) {
		const char *comma = strchr(e, ',');
		const char *stop = comma != NULL ? comma : e + strlen(e);

		while (e < stop && (*e == ' ' || *e == '\t'))
			e++;
		while (stop > e && (stop[-1] == ' ' || stop[-1] == '\t'))
			stop--;
		if (stop == e) {
			if (n == 1)
				snprintf(msg, msgsz, "must not be empty");
			else
				snprintf(msg, msgsz, "URL %zu of %zu is empty", k + 1, n);
			return -1;
		}
		if (amqp_url_parse(e, (size_t)(stop - e), &v[k], why, sizeof(why)) != 0) {
			if (n == 1)
				snprintf(msg, msgsz, "%s", why);
			else
				snprintf(msg, msgsz, "URL %zu of %zu: %s", k + 1, n, why);
			return -1;
		}
		if (comma == NULL)
			return (int)(k + 1);
		e = comma + 1;
	}
}
