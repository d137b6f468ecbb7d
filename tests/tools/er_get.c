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
#include "autoconf.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <amqp.h>

#include "ctl/amqp_client.h"

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
	struct amqp_client cl;
	long max = -1, n = 0;
	int c, rc;

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
		printf("%.*s\t", (int)msg.m.body.len, (const char *)msg.m.body.bytes);
		print_headers(&msg.m.properties);
		putchar('\n');
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
	fprintf(stderr, "usage: er-get -u URL -q QUEUE [-n MAX]\n");
	return 2;
}
