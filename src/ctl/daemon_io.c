/*
 * daemon_io: event-relayctl's side of the control socket and of the
 * HTTP port (see daemon_io.h).
 *
 * The JSON reading here is for the daemon's own replies only: objects
 * whose strings escape every quote, so a key is found by its quoted name
 * followed by a colon. It is not a general parser and must not become
 * one; use --json output and a real parser for anything else.
 */
#include "autoconf.h"

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/config.h"
#include "ctl/daemon_io.h"

/* Reads until EOF (or, with `line`, a newline) within timeout_ms. */
static char *
read_all(int fd, int line, int timeout_ms, char *err, size_t errsz)
{
	size_t len = 0, cap = 4096;
	char *buf = malloc(cap);

	if (buf == NULL) {
		snprintf(err, errsz, "out of memory");
		return NULL;
	}
	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t n;
		int rc = poll(&p, 1, timeout_ms);

		if (rc < 0 && errno == EINTR)
			continue;
		if (rc == 0) {
			snprintf(err, errsz, "no answer within %d s", timeout_ms / 1000);
			free(buf);
			errno = ETIMEDOUT;
			return NULL;
		}
		if (len + 1 >= cap) {
			char *nb = realloc(buf, cap * 2);

			if (nb == NULL) {
				free(buf);
				snprintf(err, errsz, "out of memory");
				return NULL;
			}
			buf = nb;
			cap *= 2;
		}
		n = read(fd, buf + len, cap - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errsz, "read: %s", strerror(errno));
			free(buf);
			return NULL;
		}
		len += (size_t)n;
		buf[len] = '\0';
		if (n == 0 || (line && memchr(buf, '\n', len) != NULL))
			break;
	}
	if (line)
		buf[strcspn(buf, "\n")] = '\0';
	return buf;
}

char *
ctl_request(const char *path, const char *request, int timeout_ms, char *err, size_t errsz)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	size_t n = strlen(request);
	char *reply;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		snprintf(err, errsz, "%s: path too long", path);
		errno = ENAMETOOLONG;
		return NULL;
	}
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, errsz, "socket: %s", strerror(errno));
		return NULL;
	}
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int e = errno;

		if (e == EACCES || e == EPERM)
			snprintf(err, errsz, "%s: permission denied (root or the daemon's group only)",
			    path);
		else
			snprintf(err, errsz, "%s: %s (is event-relayd running?)", path, strerror(e));
		close(fd);
		errno = e;
		return NULL;
	}
	/*
	 * A refused client is answered and closed before its request is
	 * read: a failed write still leaves that answer to read.
	 */
	if (write(fd, request, n) != (ssize_t)n || write(fd, "\n", 1) != 1) {
		int e = errno;

		reply = read_all(fd, 1, 1000, err, errsz);
		close(fd);
		if (reply != NULL && reply[0] != '\0')
			return reply;
		free(reply);
		snprintf(err, errsz, "%s: write: %s", path, strerror(e));
		errno = e;
		return NULL;
	}
	reply = read_all(fd, 1, timeout_ms, err, errsz);
	close(fd);
	if (reply != NULL && reply[0] == '\0') {
		free(reply);
		snprintf(err, errsz, "%s: the daemon closed the connection without answering", path);
		errno = ECONNRESET;
		return NULL;
	}
	return reply;
}

char *
ctl_http_get(const char *listen, const char *target, char *err, size_t errsz)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_NUMERICSERV };
	struct addrinfo *ai = NULL, *a;
	char host[256], port[16], req[512], *resp, *body;
	int p, fd = -1, rc, status;

	if (config_split_addr(listen, host, sizeof(host), &p) < 0) {
		snprintf(err, errsz, "metrics.listen: bad address %s", listen);
		return NULL;
	}
	if (host[0] == '\0' || strcmp(host, "0.0.0.0") == 0)
		snprintf(host, sizeof(host), "127.0.0.1");
	else if (strcmp(host, "::") == 0)
		snprintf(host, sizeof(host), "::1");
	snprintf(port, sizeof(port), "%d", p);
	rc = getaddrinfo(host, port, &hints, &ai);
	if (rc != 0) {
		snprintf(err, errsz, "%s: %s", listen, gai_strerror(rc));
		return NULL;
	}
	for (a = ai; a != NULL; a = a->ai_next) {
		fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC, a->ai_protocol);
		if (fd >= 0 && connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	if (fd < 0) {
		snprintf(err, errsz, "http://%s:%s: %s (is event-relayd running?)", host, port,
		    strerror(errno));
		return NULL;
	}
	snprintf(req, sizeof(req), "GET %s HTTP/1.0\r\nHost: %s\r\nConnection: close\r\n\r\n",
	    target, host);
	if (write(fd, req, strlen(req)) != (ssize_t)strlen(req)) {
		snprintf(err, errsz, "write: %s", strerror(errno));
		close(fd);
		return NULL;
	}
	resp = read_all(fd, 0, 10000, err, errsz);
	close(fd);
	if (resp == NULL)
		return NULL;
	if (sscanf(resp, "HTTP/%*s %d", &status) != 1 || (body = strstr(resp, "\r\n\r\n")) == NULL) {
		snprintf(err, errsz, "http://%s:%s%s: not an HTTP answer", host, port, target);
		free(resp);
		return NULL;
	}
	if (status != 200) {
		snprintf(err, errsz, "http://%s:%s%s: status %d", host, port, target, status);
		free(resp);
		return NULL;
	}
	body += 4;
	memmove(resp, body, strlen(body) + 1);
	return resp;
}

/* The value after "key": at the top level, or NULL. */
static const char *
find(const char *json, const char *key)
{
	size_t n = strlen(key);

	for (const char *p = strchr(json, '"'); p != NULL; p = strchr(p + 1, '"'))
		if (strncmp(p + 1, key, n) == 0 && p[n + 1] == '"' && p[n + 2] == ':')
			return p + n + 3;
	return NULL;
}

int
ctl_json_bool(const char *json, const char *key)
{
	const char *v = find(json, key);

	if (v == NULL)
		return -1;
	return strncmp(v, "true", 4) == 0;
}

double
ctl_json_num(const char *json, const char *key, double def)
{
	const char *v = find(json, key);
	char *end;
	double d;

	if (v == NULL)
		return def;
	d = strtod(v, &end);
	return end == v ? def : d;
}

/* Decodes the string at *pp (after its opening quote); advances past it. */
static int
decode_str(const char **pp, char *out, size_t outsz)
{
	const char *p = *pp;
	size_t n = 0;

	while (*p != '\0' && *p != '"') {
		char c = *p++;

		if (c == '\\' && *p != '\0') {
			c = *p++;
			if (c == 'n')
				c = '\n';
			else if (c == 't')
				c = '\t';
			else if (c == 'r')
				c = '\r';
			else if (c == 'u') {
				unsigned v = 0;

				if (sscanf(p, "%4x", &v) != 1)
					return -1;
				p += 4;
				c = v < 0x80 ? (char)v : '?';
			}
		}
		if (n + 1 < outsz)
			out[n++] = c;
	}
	if (*p != '"')
		return -1;
	out[n] = '\0';
	*pp = p + 1;
	return 0;
}

int
ctl_json_str(const char *json, const char *key, char *out, size_t outsz)
{
	const char *v = find(json, key);

	if (v == NULL || *v != '"')
		return -1;
	v++;
	return decode_str(&v, out, outsz);
}

void
ctl_json_strings(const char *json, const char *key, void (*fn)(const char *s, void *arg),
    void *arg)
{
	const char *v = find(json, key);
	char s[1024];

	if (v == NULL || *v != '[')
		return;
	v++;
	while (*v == '"') {
		v++;
		if (decode_str(&v, s, sizeof(s)) < 0)
			return;
		fn(s, arg);
		if (*v == ',')
			v++;
	}
}
