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
 *
 * -v prints every message exactly, tab-separated: the body (esc.h's
 * escapes), then each basic property that is set as @NAME=VALUE
 * (strings escaped, numbers decimal), then each header as
 * NAME=KIND:VALUE in er-send's syntax (field_spec.h), with the kind
 * letter that came off the wire.
 */
#include "autoconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <amqp.h>

#include "ctl/amqp_client.h"
#include "esc.h"
#include "field_spec.h"

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

static void
print_bytes_prop(const char *name, amqp_flags_t flags, amqp_flags_t flag, amqp_bytes_t b)
{
	if (!(flags & flag))
		return;
	printf("\t@%s=", name);
	esc_write(stdout, b.bytes, b.len, NULL);
}

/* -v: the whole message, exactly (see the top of the file). */
static void
print_verbose(const amqp_message_t *m)
{
	const amqp_basic_properties_t *p = &m->properties;
	amqp_flags_t f = p->_flags;

	esc_write(stdout, m->body.bytes, m->body.len, NULL);
	print_bytes_prop("content_type", f, AMQP_BASIC_CONTENT_TYPE_FLAG, p->content_type);
	print_bytes_prop("content_encoding", f, AMQP_BASIC_CONTENT_ENCODING_FLAG,
	    p->content_encoding);
	if (f & AMQP_BASIC_DELIVERY_MODE_FLAG)
		printf("\t@delivery_mode=%u", p->delivery_mode);
	if (f & AMQP_BASIC_PRIORITY_FLAG)
		printf("\t@priority=%u", p->priority);
	print_bytes_prop("correlation_id", f, AMQP_BASIC_CORRELATION_ID_FLAG, p->correlation_id);
	print_bytes_prop("reply_to", f, AMQP_BASIC_REPLY_TO_FLAG, p->reply_to);
	print_bytes_prop("expiration", f, AMQP_BASIC_EXPIRATION_FLAG, p->expiration);
	print_bytes_prop("message_id", f, AMQP_BASIC_MESSAGE_ID_FLAG, p->message_id);
	if (f & AMQP_BASIC_TIMESTAMP_FLAG)
		printf("\t@timestamp=%" PRIu64, p->timestamp);
	print_bytes_prop("type", f, AMQP_BASIC_TYPE_FLAG, p->type);
	print_bytes_prop("user_id", f, AMQP_BASIC_USER_ID_FLAG, p->user_id);
	print_bytes_prop("app_id", f, AMQP_BASIC_APP_ID_FLAG, p->app_id);
	if (f & AMQP_BASIC_HEADERS_FLAG) {
		for (int i = 0; i < p->headers.num_entries; i++) {
			const amqp_table_entry_t *e = &p->headers.entries[i];

			putchar('\t');
			esc_write(stdout, e->key.bytes, e->key.len, "=");
			putchar('=');
			field_spec_print(stdout, &e->value);
		}
	}
	putchar('\n');
}

int
main(int argc, char **argv)
{
	const char *url = NULL, *queue = NULL;
	struct amqp_client cl;
	long max = -1, n = 0;
	int c, rc, verbose = 0;

	while ((c = getopt(argc, argv, "u:q:n:v")) != -1) {
		switch (c) {
		case 'u': url = optarg; break;
		case 'q': queue = optarg; break;
		case 'n': max = atol(optarg); break;
		case 'v': verbose = 1; break;
		default: goto usage;
		}
	}
	if (url == NULL || queue == NULL)
		goto usage;
	amqp_client_init(&cl, 0);
	if (amqp_client_connect_str(&cl, url) < 0 || amqp_client_channel_open(&cl, 1) < 0)
		goto fail;
	while (max < 0 || n < max) {
		struct amqp_client_msg msg;

		rc = amqp_client_get(&cl, 1, queue, 1, &msg);
		if (rc < 0)
			goto fail;
		if (rc == 0)
			break;
		if (verbose) {
			print_verbose(&msg.m);
		} else {
			printf("%.*s\t", (int)msg.m.body.len, (const char *)msg.m.body.bytes);
			print_headers(&msg.m.properties);
			putchar('\n');
		}
		amqp_client_msg_free(&cl, &msg);
		n++;
	}
	(void)amqp_client_close(&cl, 1);	/* everything is printed: nothing to report */
	return 0;
fail:
	fprintf(stderr, "er-get: %s\n", cl.err);
	amqp_client_destroy(&cl);
	return 1;
usage:
	fprintf(stderr, "usage: er-get -u URL -q QUEUE [-n MAX] [-v]\n");
	return 2;
}
