/*
 * trace_context: finds and checks the W3C trace context of a delivery.
 * The relay carries it to Kafka byte-exact; it is never rewritten here
 * (tracing.c writes the send span's own context instead, when asked).
 *
 * The one thing to know: an invalid traceparent is dropped together
 * with its tracestate (the W3C rule: tracestate means nothing without
 * a valid parent), and said so, so that it can be counted.
 */
#include "autoconf.h"

#include <string.h>

#include "worker/trace_context.h"

/* 1 for the lowercase hex digits, 2 for those other than '0'. */
static const unsigned char lhex[256] = {
	['0'] = 1, ['1'] = 3, ['2'] = 3, ['3'] = 3, ['4'] = 3, ['5'] = 3, ['6'] = 3, ['7'] = 3,
	['8'] = 3, ['9'] = 3, ['a'] = 3, ['b'] = 3, ['c'] = 3, ['d'] = 3, ['e'] = 3, ['f'] = 3,
};

/* n lowercase hex digits, not all '0' if `nonzero`. */
static int
lower_hex(const unsigned char *s, size_t n, int nonzero)
{
	unsigned all = 1, any = 0;

	for (size_t i = 0; i < n; i++) {
		all &= lhex[s[i]];
		any |= lhex[s[i]];
	}
	return all != 0 && (!nonzero || (any & 2) != 0);
}

int
traceparent_valid(const void *p, size_t n)
{
	const unsigned char *s = p;

	if (n < 55 || !lower_hex(s, 2, 0) || (s[0] == 'f' && s[1] == 'f') || s[2] != '-' ||
	    !lower_hex(s + 3, 32, 1) || s[35] != '-' || !lower_hex(s + 36, 16, 1) ||
	    s[52] != '-' || !lower_hex(s + 53, 2, 0))
		return 0;
	if (s[0] == '0' && s[1] == '0')
		return n == 55;
	return n == 55 || s[55] == '-';
}

static unsigned
unhex1(unsigned char c)
{
	return c <= '9' ? (unsigned)(c - '0') : (unsigned)(c - 'a' + 10);
}

static void
unhex(const unsigned char *s, size_t n, uint8_t *out)
{
	for (size_t i = 0; i < n; i++)
		out[i] = (uint8_t)(unhex1(s[2 * i]) << 4 | unhex1(s[2 * i + 1]));
}

int
traceparent_parse(const void *p, size_t n, struct traceparent *tp)
{
	const unsigned char *s = p;

	if (!traceparent_valid(p, n))
		return -1;
	unhex(s + 3, 16, tp->trace_id);
	unhex(s + 36, 8, tp->span_id);
	unhex(s + 53, 1, &tp->flags);
	return 0;
}

void
trace_hex(const uint8_t *b, size_t n, char *out)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = digits[b[i] >> 4];
		out[2 * i + 1] = digits[b[i] & 15];
	}
}

void
traceparent_format(const struct traceparent *tp, char *out)
{
	memcpy(out, "00-", 3);
	trace_hex(tp->trace_id, 16, out + 3);
	out[35] = '-';
	trace_hex(tp->span_id, 8, out + 36);
	out[52] = '-';
	trace_hex(&tp->flags, 1, out + 53);
}

static int
is_text(const amqp_field_value_t *f)
{
	return f->kind == AMQP_FIELD_KIND_UTF8 || f->kind == AMQP_FIELD_KIND_BYTES;
}

void
trace_context_find(const amqp_table_t *t, struct trace_context *tc)
{
	const amqp_field_value_t *fp = NULL, *fs = NULL;

	memset(tc, 0, sizeof(*tc));
	if (t == NULL)
		return;
	for (int i = 0; i < t->num_entries && (fp == NULL || fs == NULL); i++) {
		const amqp_bytes_t *k = &t->entries[i].key;

		if (k->len == 11 && fp == NULL && memcmp(k->bytes, "traceparent", 11) == 0)
			fp = &t->entries[i].value;
		else if (k->len == 10 && fs == NULL && memcmp(k->bytes, "tracestate", 10) == 0)
			fs = &t->entries[i].value;
	}
	if (fp == NULL)
		return;
	if (!is_text(fp) || !traceparent_valid(fp->value.bytes.bytes, fp->value.bytes.len)) {
		tc->invalid = 1;
		return;
	}
	tc->traceparent = &fp->value.bytes;
	if (fs != NULL && is_text(fs))
		tc->tracestate = &fs->value.bytes;
}
