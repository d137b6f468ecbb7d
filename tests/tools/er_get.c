/*
 * er-get: takes every message out of a queue (basic.get, acked) and
 * prints one line per message for tests to check dead-letter copies:
 *
 *   <body>\t<name=value,...>
 *
 * where the second field lists the string, integer and timestamp
 * headers in the order they were sent. Bodies are printed as they are;
 * tests only send bodies without tabs or newlines. Exit 0, or 1 on a
 * broker error.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>

static int
rpc_ok(amqp_rpc_reply_t r, const char *what)
{
	if (r.reply_type == AMQP_RESPONSE_NORMAL)
		return 1;
	fprintf(stderr, "er-get: %s failed (reply type %d, library error %s)\n", what,
	    (int)r.reply_type, amqp_error_string2(r.library_error));
	return 0;
}

static void
print_headers(const amqp_basic_properties_t *p)
{
	if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG))
		return;
	for (int i = 0; i < p->headers.num_entries; i++) {
		const amqp_table_entry_t *e = &p->headers.entries[i];

		printf("%s%.*s=", i ? "," : "", (int)e->key.len, (const char *)e->key.bytes);
		switch (e->value.kind) {
		case AMQP_FIELD_KIND_UTF8:
		case AMQP_FIELD_KIND_BYTES:
			printf("%.*s", (int)e->value.value.bytes.len, (const char *)e->value.value.bytes.bytes);
			break;
		case AMQP_FIELD_KIND_I64:
			printf("%" PRId64, e->value.value.i64);
			break;
		case AMQP_FIELD_KIND_I32:
			printf("%" PRId32, e->value.value.i32);
			break;
		case AMQP_FIELD_KIND_TIMESTAMP:
			printf("%" PRIu64, e->value.value.u64);
			break;
		default:
			printf("?");
		}
	}
}

int
main(int argc, char **argv)
{
	const char *url = NULL, *queue = NULL;
	struct amqp_connection_info ci;
	amqp_connection_state_t conn;
	amqp_socket_t *sock;
	char *urlbuf;
	long max = -1, n = 0;
	int c;

	while ((c = getopt(argc, argv, "u:q:n:")) != -1) {
		switch (c) {
		case 'u': url = optarg; break;
		case 'q': queue = optarg; break;
		case 'n': max = atol(optarg); break;
		default: goto usage;
		}
	}
	if (url == NULL || queue == NULL)
		goto usage;
	urlbuf = strdup(url);
	if (urlbuf == NULL || amqp_parse_url(urlbuf, &ci) != AMQP_STATUS_OK) {
		fprintf(stderr, "er-get: bad URL\n");
		return 1;
	}
	conn = amqp_new_connection();
	sock = amqp_tcp_socket_new(conn);
	if (sock == NULL || amqp_socket_open(sock, ci.host, ci.port) != AMQP_STATUS_OK) {
		fprintf(stderr, "er-get: cannot connect to %s:%d\n", ci.host, ci.port);
		return 1;
	}
	if (!rpc_ok(amqp_login(conn, ci.vhost, 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, ci.user,
	    ci.password), "login"))
		return 1;
	amqp_channel_open(conn, 1);
	if (!rpc_ok(amqp_get_rpc_reply(conn), "channel.open"))
		return 1;
	while (max < 0 || n < max) {
		amqp_rpc_reply_t r = amqp_basic_get(conn, 1, amqp_cstring_bytes(queue), 1);
		amqp_message_t msg;

		if (!rpc_ok(r, "basic.get"))
			return 1;
		if (r.reply.id == AMQP_BASIC_GET_EMPTY_METHOD)
			break;
		if (!rpc_ok(amqp_read_message(conn, 1, &msg, 0), "read message"))
			return 1;
		printf("%.*s\t", (int)msg.body.len, (const char *)msg.body.bytes);
		print_headers(&msg.properties);
		putchar('\n');
		amqp_destroy_message(&msg);
		amqp_maybe_release_buffers(conn);
		n++;
	}
	amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
	amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
	amqp_destroy_connection(conn);
	free(urlbuf);
	return 0;
usage:
	fprintf(stderr, "usage: er-get -u URL -q QUEUE [-n MAX]\n");
	return 2;
}
