/*
 * er-hostile: publishes a mix of valid events and hostile messages to a
 * queue in the seed format, for sec_hostile_input.sh.
 *
 *   er-hostile -u URL -q QUEUE -n COUNT --expected FILE --dead FILE
 *
 * Message i (0-based) is hostile when i % 4 == 3, of kind (i / 4) % 5:
 *
 *   deep      a member nested 200 levels deep         json_too_deep
 *   long_id   an event id of 64 KiB                   event_id_too_long
 *   headers   a valid body with a header table of 10,000 entries, or
 *             (every other one) tables nested 100 deep   bad_headers
 *   utf8      payload strings that are not UTF-8 (a lone continuation
 *             byte, an overlong '/', a surrogate, a cut sequence)
 *                                                     invalid_utf8
 *   truncated a valid event cut short                 invalid_json
 *
 * and a valid event otherwise ({"event_id":"hv-N","correlation_id":
 * "c-N","payload":{...}}, with UTF-8 text in it). Every hostile body
 * carries "tag":"h<kind letter>-N" before its hostile part, so a dead
 * letter can be told apart. --expected writes the valid events in
 * read_topic.sh's format (<id>\t<payload>\t<correlation id>, sorted
 * under LC_ALL=C); --dead writes "<tag>\t<reason>" per hostile message,
 * sorted. Publishes with confirms (a window of 500); bodies hold no tab
 * or newline.
 */
#include "autoconf.h"

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <amqp.h>

#include "ctl/amqp_client.h"

#define WINDOW 500
#define LONG_ID (64 * 1024)
#define DEEP 200
#define HDR_ENTRIES 10000
#define HDR_DEPTH 100

static struct amqp_client cl;
static const amqp_channel_t CHANNEL = 1;

static void __attribute__((noreturn))
die(const char *what)
{
	fprintf(stderr, "er-hostile: %s\n", what);
	exit(1);
}

/* A growing text buffer; every append checks its room. */
struct buf {
	char *p;
	size_t len, cap;
};

static void
add(struct buf *b, const char *s, size_t n)
{
	if (b->cap - b->len < n + 1) {
		while (b->cap - b->len < n + 1)
			b->cap = b->cap ? 2 * b->cap : 4096;
		if ((b->p = realloc(b->p, b->cap)) == NULL)
			die("out of memory");
	}
	memcpy(b->p + b->len, s, n);
	b->len += n;
	b->p[b->len] = '\0';
}

static void __attribute__((format(printf, 2, 3)))
addf(struct buf *b, const char *fmt, ...)
{
	char t[512];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(t, sizeof(t), fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(t))
		die("line too long");
	add(b, t, (size_t)n);
}

enum kind { K_DEEP, K_LONG_ID, K_HEADERS, K_UTF8, K_TRUNCATED, K_COUNT };
static const char *const reason[K_COUNT] = {
	"json_too_deep", "event_id_too_long", "bad_headers", "invalid_utf8", "invalid_json",
};
static const char letter[K_COUNT] = { 'd', 'i', 'b', 'u', 't' };

/* The valid event n: its payload (UTF-8 text in it). */
static void
payload(struct buf *b, long n)
{
	addf(b, "{\"n\":%ld,\"text\":\"h\xc3\xa9llo \xe2\x9c\x93 \xf0\x9f\x98\x80\",\"a\":[1,{\"b\":null}]}",
	    n);
}

static amqp_table_entry_t wide[HDR_ENTRIES], deep[HDR_DEPTH];
static char wide_keys[HDR_ENTRIES][8];

static void
headers_init(void)
{
	amqp_field_value_t inner = { .kind = AMQP_FIELD_KIND_UTF8 };

	for (int i = 0; i < HDR_ENTRIES; i++) {
		snprintf(wide_keys[i], sizeof(wide_keys[i]), "h%04d", i);
		wide[i].key = amqp_cstring_bytes(wide_keys[i]);
		wide[i].value.kind = AMQP_FIELD_KIND_VOID;
	}
	inner.value.bytes = amqp_cstring_bytes("x");
	for (int i = HDR_DEPTH - 1; i >= 0; i--) {
		deep[i].key = amqp_cstring_bytes("k");
		deep[i].value = inner;
		inner.kind = AMQP_FIELD_KIND_TABLE;
		inner.value.table.num_entries = 1;
		inner.value.table.entries = &deep[i];
	}
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Writes lines[0..n) sorted (byte order, as LC_ALL=C sort) to path. */
static void
write_sorted(const char *path, char **lines, size_t n)
{
	FILE *f = fopen(path, "w");

	if (f == NULL)
		die(strerror(errno));
	qsort(lines, n, sizeof(*lines), cmp_str);
	for (size_t i = 0; i < n; i++) {
		fputs(lines[i], f);
		free(lines[i]);
	}
	if (fclose(f) != 0)
		die(strerror(errno));
}

int
main(int argc, char **argv)
{
	const char *url = NULL, *queue = NULL, *expected = NULL, *dead = NULL;
	long count = 0;
	char **exp_lines, **dead_lines;
	size_t nexp = 0, ndead = 0;
	long per_kind[K_COUNT] = {0};
	struct buf b = {0}, line = {0};
	int c;

	while ((c = getopt(argc, argv, "u:q:n:e:d:")) != -1) {
		switch (c) {
		case 'u': url = optarg; break;
		case 'q': queue = optarg; break;
		case 'n': count = strtol(optarg, NULL, 10); break;
		case 'e': expected = optarg; break;
		case 'd': dead = optarg; break;
		default: return 2;
		}
	}
	if (url == NULL || queue == NULL || count <= 0 || expected == NULL || dead == NULL) {
		fprintf(stderr, "usage: er-hostile -u URL -q QUEUE -n COUNT -e EXPECTED -d DEAD\n");
		return 2;
	}
	exp_lines = calloc((size_t)count, sizeof(*exp_lines));
	dead_lines = calloc((size_t)count, sizeof(*dead_lines));
	if (exp_lines == NULL || dead_lines == NULL)
		die("out of memory");
	headers_init();
	amqp_client_init(&cl, 30000);
	if (amqp_client_connect_str(&cl, url) < 0 || amqp_client_channel_open(&cl, CHANNEL) < 0 ||
	    amqp_client_confirm_select(&cl, CHANNEL, WINDOW, NULL, NULL) < 0)
		die(cl.err);

	for (long i = 0; i < count; i++) {
		amqp_basic_properties_t props = { ._flags = 0 };
		enum kind k = (enum kind)((i / 4) % K_COUNT);

		b.len = 0;
		line.len = 0;
		if (i % 4 != 3) {
			addf(&b, "{\"event_id\":\"hv-%06ld\",\"correlation_id\":\"c-%ld\",\"payload\":", i, i);
			payload(&b, i);
			add(&b, "}", 1);
			addf(&line, "hv-%06ld\t", i);
			payload(&line, i);
			addf(&line, "\tc-%ld\n", i);
			if ((exp_lines[nexp++] = strdup(line.p)) == NULL)
				die("out of memory");
		} else {
			addf(&b, "{\"payload\":{\"tag\":\"h%c-%06ld\"}", letter[k], i);
			switch (k) {
			case K_DEEP:
				addf(&b, ",\"event_id\":\"hd-%06ld\",\"x\":", i);
				for (int d = 0; d < DEEP; d++)
					add(&b, d % 2 ? "{\"k\":" : "[", d % 2 ? 5 : 1);
				add(&b, "0", 1);
				for (int d = DEEP - 1; d >= 0; d--)
					add(&b, d % 2 ? "}" : "]", 1);
				add(&b, "}", 1);
				break;
			case K_LONG_ID:
				add(&b, ",\"event_id\":\"", 13);
				for (int j = 0; j < LONG_ID; j++)
					add(&b, j % 64 == 63 ? "-" : "i", 1);
				add(&b, "\"}", 2);
				break;
			case K_HEADERS:
				addf(&b, ",\"event_id\":\"hb-%06ld\"}", i);
				props._flags |= AMQP_BASIC_HEADERS_FLAG;
				if ((i / 20) % 2 == 0) {
					props.headers.num_entries = HDR_ENTRIES;
					props.headers.entries = wide;
				} else {
					props.headers.num_entries = 1;
					props.headers.entries = deep;
				}
				break;
			case K_UTF8: {
				static const char *const bad[] = {
					"\x80", "\xc0\xaf", "\xed\xa0\x80", "\xe2\x82", "\xff",
				};

				addf(&b, ",\"event_id\":\"hu-%06ld\",\"s\":\"ok \xc3\xa9 then %s.\"}", i,
				    bad[(i / 20) % 5]);
				break;
			}
			case K_TRUNCATED:
				addf(&b, ",\"event_id\":\"ht-%06ld\",\"correlation_id\":\"c\",\"x\":", i);
				payload(&b, i);
				b.len -= 1 + (size_t)(i % 7);	/* cut inside the value */
				break;
			case K_COUNT:
				break;
			}
			addf(&line, "h%c-%06ld\t%s\n", letter[k], i, reason[k]);
			if ((dead_lines[ndead++] = strdup(line.p)) == NULL)
				die("out of memory");
			per_kind[k]++;
		}
		if (amqp_client_publish(&cl, CHANNEL, "", queue, 1, &props, b.p, b.len, NULL) < 0)
			die(cl.err);
	}
	if (amqp_client_wait_confirms(&cl) < 0 || amqp_client_close(&cl, CHANNEL) < 0)
		die(cl.err);
	if (cl.nacked)
		die("the broker nacked publishes");
	write_sorted(expected, exp_lines, nexp);
	write_sorted(dead, dead_lines, ndead);
	printf("published %ld messages: %zu valid, %zu hostile (", count, nexp, ndead);
	for (int k = 0; k < K_COUNT; k++)
		printf("%s%s %ld", k ? ", " : "", reason[k], per_kind[k]);
	printf(")\n");
	free(exp_lines);
	free(dead_lines);
	free(b.p);
	free(line.p);
	return 0;
}
