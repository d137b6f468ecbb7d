/*
 * amqp_url: rabbitmq.url (RABBITMQ_URL) read the way the Go AMQP clients
 * (streadway/amqp, rabbitmq/amqp091-go) read it, so that the replaced
 * service's URLs mean the same here. The master validates with it and
 * the workers connect with it; it maps no broker library.
 *
 * The rule that differs from rabbitmq-c's own amqp_parse_url: the path
 * is percent-decoded first, then an empty path or "/" is the default
 * vhost "/", and "/name" is "name" (so "/%2f" is "/", "/a%2fb" is "a/b").
 */
#ifndef ER_AMQP_URL_H
#define ER_AMQP_URL_H

#include <stddef.h>

#define AMQP_URL_MAX 16		/* elements of one rabbitmq.url list */
#define AMQP_URL_FIELD 256	/* host, user, password, vhost, paths: decoded bytes + NUL */

/* The SASL mechanism of the login. */
enum amqp_url_auth {
	AMQP_AUTH_UNSET = -1,	/* the URL does not say: rabbitmq.auth_mechanism */
	AMQP_AUTH_PLAIN = 0,	/* user and password */
	AMQP_AUTH_EXTERNAL,	/* the TLS client certificate */
};

struct amqp_url {
	int tls;		/* amqps:// */
	int port;		/* 5672 or 5671 unless given */
	char host[AMQP_URL_FIELD];	/* without the brackets of an IPv6 address */
	char user[AMQP_URL_FIELD];
	char password[AMQP_URL_FIELD];
	char vhost[AMQP_URL_FIELD];
	/* From the query string; -1 where the URL does not say. */
	long heartbeat;		/* seconds */
	long connect_timeout_ms;	/* connection_timeout, milliseconds */
	long channel_max;
	long frame_max;
	/*
	 * TLS parameters of an amqps:// URL, as the Go clients name them
	 * (cacertfile, certfile, keyfile: absolute paths;
	 * server_name_indication); "" where the URL does not say. They
	 * override the rabbitmq.tls_* settings for this URL.
	 */
	char cacertfile[AMQP_URL_FIELD];
	char certfile[AMQP_URL_FIELD];
	char keyfile[AMQP_URL_FIELD];
	char server_name[AMQP_URL_FIELD];
	enum amqp_url_auth auth;	/* auth_mechanism */
	/* The URL as written with its password masked: safe to log. */
	char shown[512];
};

/*
 * Parses one URL, s[0..len). 0, or -1 with a message in `msg` that never
 * contains the password.
 */
int amqp_url_parse(const char *s, size_t len, struct amqp_url *u, char *msg, size_t msgsz);

/*
 * Parses a comma-separated list (blanks around the commas allowed) into
 * at most `max` entries of `v`. Returns the number parsed, or -1 with
 * `msg` naming the element ("URL 2 of 3: ...") when any is bad.
 */
int amqp_url_parse_list(const char *list, struct amqp_url *v, size_t max, char *msg,
    size_t msgsz);

#endif
