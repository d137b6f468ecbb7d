/*
 * header_encode: the one text encoding of an AMQP field value as a Kafka
 * header value, used for headers, keys and topic template parts.
 * Strings and byte arrays raw, integers decimal, booleans true/false,
 * floats the shortest decimal that reads back to the same value (NaN,
 * Infinity, -Infinity), decimals exact (12345 with 2 decimals is
 * 123.45), timestamps epoch seconds, void a null-valued header. Tables
 * and arrays become JSON that keeps the types: numbers, booleans, null,
 * strings (bytes that are not UTF-8 escaped as \u00XX, so the JSON is
 * always valid), byte arrays as base64 strings, decimals exact numbers,
 * timestamps numbers, NaN and infinities as the strings "NaN",
 * "Infinity", "-Infinity".
 *
 * header_table_check() holds a delivery's whole header table to its
 * bounds (HEADER_MAX_FIELDS, HEADER_MAX_DEPTH) before anything else
 * reads it.
 *
 * The one thing to know: the header table comes off the wire, so the
 * recursion over nested tables is bounded (HEADER_MAX_DEPTH) and every
 * write is preceded by a reservation of its worst case (6 bytes for a
 * string byte, 4/3 for base64).
 */
#include "autoconf.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/json.h"
#include "worker/header_encode.h"

/* Longest text of one scalar: a signed decimal with 255 decimals and 10 digits. */
#define SCALAR_MAX 272

/* Appends n bytes; 0, or -1 (ENOMEM). */
static int
buf_add(struct event_buf *b, const void *s, size_t n)
{
	if (event_buf_reserve(b, n) < 0)
		return -1;
	if (n > 0)
		memcpy(b->p + b->len, s, n);
	b->len += n;
	return 0;
}

/* ---- scalars ---- */

static size_t
fmt_u64(char *out, uint64_t v)
{
	char t[20];
	size_t n = 0;

	do
		t[n++] = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	for (size_t i = 0; i < n; i++)
		out[i] = t[n - 1 - i];
	return n;
}

static size_t
fmt_i64(char *out, int64_t v)
{
	if (v >= 0)
		return fmt_u64(out, (uint64_t)v);
	out[0] = '-';
	return 1 + fmt_u64(out + 1, -(uint64_t)v);
}

/* NaN, Infinity, -Infinity: quoted in JSON, which has no such numbers. */
static size_t
fmt_nonfinite(char *out, double x, int json)
{
	const char *s = isnan(x) ? "NaN" : x < 0 ? "-Infinity" : "Infinity";
	size_t n = strlen(s);

	if (!json) {
		memcpy(out, s, n);
		return n;
	}
	out[0] = '"';
	memcpy(out + 1, s, n);
	out[n + 1] = '"';
	return n + 2;
}

/*
 * The shortest %g text that reads back to x (at most 17 digits for a
 * double, 9 for a float). %g writes valid JSON numbers: 0.1, -0, 1e+20.
 * The daemon never calls setlocale(), so the decimal point is '.'.
 */
static size_t
fmt_f64(char *out, double x, int json)
{
	int n = 0;

	if (!isfinite(x))
		return fmt_nonfinite(out, x, json);
	for (int prec = 1; prec <= 17; prec++) {
		n = snprintf(out, 32, "%.*g", prec, x);
		if (strtod(out, NULL) == x)
			break;
	}
	return (size_t)n;
}

static size_t
fmt_f32(char *out, float x, int json)
{
	int n = 0;

	if (!isfinite(x))
		return fmt_nonfinite(out, x, json);
	for (int prec = 1; prec <= 9; prec++) {
		n = snprintf(out, 32, "%.*g", prec, (double)x);
		if (strtof(out, NULL) == x)
			break;
	}
	return (size_t)n;
}

/*
 * An AMQP decimal, exact: 12345/2 is 123.45, 5/3 is 0.005, 150/2 is
 * 1.50. rabbitmq-c keeps the value unsigned; the clients (RabbitMQ's
 * Java client, pika) write a signed 32-bit unscaled value, so it is read
 * as signed: -15/1 is -1.5.
 */
static size_t
fmt_decimal(char *out, amqp_decimal_t d)
{
	char digits[10];
	int32_t sv = (int32_t)d.value;
	uint64_t mag = sv < 0 ? (uint64_t)(-(int64_t)sv) : (uint64_t)sv;
	size_t nd = fmt_u64(digits, mag), n = 0;

	if (sv < 0)
		out[n++] = '-';
	if (d.decimals == 0) {
		memcpy(out + n, digits, nd);
		return n + nd;
	}
	if (nd > d.decimals) {
		memcpy(out + n, digits, nd - d.decimals);
		n += nd - d.decimals;
		out[n++] = '.';
		memcpy(out + n, digits + nd - d.decimals, d.decimals);
		return n + d.decimals;
	}
	out[n++] = '0';
	out[n++] = '.';
	memset(out + n, '0', d.decimals - nd);
	n += d.decimals - nd;
	memcpy(out + n, digits, nd);
	return n + nd;
}

/*
 * The text of a scalar into out (SCALAR_MAX bytes): its length, or -1
 * if v is a string, byte array, void, table, array or unknown kind.
 */
static long
scalar_text(const amqp_field_value_t *v, char *out, int json)
{
	switch (v->kind) {
	case AMQP_FIELD_KIND_BOOLEAN:
		memcpy(out, v->value.boolean ? "true" : "false", v->value.boolean ? 4 : 5);
		return v->value.boolean ? 4 : 5;
	case AMQP_FIELD_KIND_I8: return (long)fmt_i64(out, v->value.i8);
	case AMQP_FIELD_KIND_U8: return (long)fmt_u64(out, v->value.u8);
	case AMQP_FIELD_KIND_I16: return (long)fmt_i64(out, v->value.i16);
	case AMQP_FIELD_KIND_U16: return (long)fmt_u64(out, v->value.u16);
	case AMQP_FIELD_KIND_I32: return (long)fmt_i64(out, v->value.i32);
	case AMQP_FIELD_KIND_U32: return (long)fmt_u64(out, v->value.u32);
	case AMQP_FIELD_KIND_I64: return (long)fmt_i64(out, v->value.i64);
	case AMQP_FIELD_KIND_U64:
	case AMQP_FIELD_KIND_TIMESTAMP:
		return (long)fmt_u64(out, v->value.u64);
	case AMQP_FIELD_KIND_F32: return (long)fmt_f32(out, v->value.f32, json);
	case AMQP_FIELD_KIND_F64: return (long)fmt_f64(out, v->value.f64, json);
	case AMQP_FIELD_KIND_DECIMAL: return (long)fmt_decimal(out, v->value.decimal);
	default: return -1;
	}
}

/* ---- JSON for tables and arrays ---- */

/* s[0..n) as a JSON string, quotes included; 0 or -1 (ENOMEM). */
static int
json_string(struct event_buf *b, const unsigned char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	char *o;

	if (n > (SIZE_MAX / 4 - 2) / 6 || event_buf_reserve(b, 6 * n + 2) < 0) {
		errno = ENOMEM;
		return -1;
	}
	o = b->p + b->len;
	*o++ = '"';
	for (size_t i = 0; i < n;) {
		unsigned char c = s[i];
		size_t k;

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			*o++ = (char)c;
			i++;
		} else if (c < 0x80) {
			char e[8];

			k = json_escape(c, e);
			memcpy(o, e, k);
			o += k;
			i++;
		} else if ((k = utf8_seq(s + i, n - i)) != 0) {
			memcpy(o, s + i, k);
			o += k;
			i += k;
		} else {
			/* Not UTF-8: the byte as the code point of the same value. */
			memcpy(o, "\\u00", 4);
			o[4] = hex[c >> 4];
			o[5] = hex[c & 15];
			o += 6;
			i++;
		}
	}
	*o++ = '"';
	b->len = (size_t)(o - b->p);
	return 0;
}

/* s[0..n) as a JSON string of its base64 (RFC 4648, padded); 0 or -1. */
static int
json_base64(struct event_buf *b, const unsigned char *s, size_t n)
{
	static const char abc[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i = 0;
	char *o;

	if (n > SIZE_MAX / 8 || event_buf_reserve(b, (n + 2) / 3 * 4 + 2) < 0) {
		errno = ENOMEM;
		return -1;
	}
	o = b->p + b->len;
	*o++ = '"';
	for (; n - i >= 3; i += 3) {
		uint32_t w = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];

		*o++ = abc[w >> 18];
		*o++ = abc[(w >> 12) & 63];
		*o++ = abc[(w >> 6) & 63];
		*o++ = abc[w & 63];
	}
	if (n - i > 0) {
		uint32_t w = (uint32_t)s[i] << 16 | (n - i > 1 ? (uint32_t)s[i + 1] << 8 : 0);

		*o++ = abc[w >> 18];
		*o++ = abc[(w >> 12) & 63];
		*o++ = n - i > 1 ? abc[(w >> 6) & 63] : '=';
		*o++ = '=';
	}
	*o++ = '"';
	b->len = (size_t)(o - b->p);
	return 0;
}

/*
 * v as JSON, appended; depth counts the tables and arrays around v.
 * 0, or -1: EINVAL (too deep, unknown kind) or ENOMEM.
 */
static int
json_value(struct event_buf *b, const amqp_field_value_t *v, unsigned depth)
{
	char t[SCALAR_MAX];
	long n;

	switch (v->kind) {
	case AMQP_FIELD_KIND_UTF8:
		return json_string(b, v->value.bytes.bytes, v->value.bytes.len);
	case AMQP_FIELD_KIND_BYTES:
		return json_base64(b, v->value.bytes.bytes, v->value.bytes.len);
	case AMQP_FIELD_KIND_VOID:
		return buf_add(b, "null", 4);
	case AMQP_FIELD_KIND_TABLE:
		if (depth >= HEADER_MAX_DEPTH)
			break;
		if (buf_add(b, "{", 1) < 0)
			return -1;
		for (int i = 0; i < v->value.table.num_entries; i++) {
			const amqp_table_entry_t *e = &v->value.table.entries[i];

			if ((i > 0 && buf_add(b, ",", 1) < 0) ||
			    json_string(b, e->key.bytes, e->key.len) < 0 || buf_add(b, ":", 1) < 0 ||
			    json_value(b, &e->value, depth + 1) < 0)
				return -1;
		}
		return buf_add(b, "}", 1);
	case AMQP_FIELD_KIND_ARRAY:
		if (depth >= HEADER_MAX_DEPTH)
			break;
		if (buf_add(b, "[", 1) < 0)
			return -1;
		for (int i = 0; i < v->value.array.num_entries; i++)
			if ((i > 0 && buf_add(b, ",", 1) < 0) ||
			    json_value(b, &v->value.array.entries[i], depth + 1) < 0)
				return -1;
		return buf_add(b, "]", 1);
	default:
		if ((n = scalar_text(v, t, 1)) < 0)
			break;
		return buf_add(b, t, (size_t)n);
	}
	errno = EINVAL;
	return -1;
}

int
header_encode(const amqp_field_value_t *v, struct event_buf *b, size_t *off, size_t *len)
{
	size_t start = b->len;
	char t[SCALAR_MAX];
	long n;

	switch (v->kind) {
	case AMQP_FIELD_KIND_UTF8:
	case AMQP_FIELD_KIND_BYTES:
		if (buf_add(b, v->value.bytes.bytes, v->value.bytes.len) < 0)
			return -1;
		break;
	case AMQP_FIELD_KIND_VOID:
		return 0;
	case AMQP_FIELD_KIND_TABLE:
	case AMQP_FIELD_KIND_ARRAY:
		if (json_value(b, v, 0) < 0) {
			b->len = start;
			return -1;
		}
		break;
	default:
		if ((n = scalar_text(v, t, 0)) < 0) {
			errno = EINVAL;
			return -1;
		}
		if (buf_add(b, t, (size_t)n) < 0)
			return -1;
		break;
	}
	*off = start;
	*len = b->len - start;
	return 1;
}

/*
 * Counts the fields of v into *n, at most HEADER_MAX_FIELDS + 1 of them;
 * depth counts the tables and arrays around v. 0, or -1 past a bound.
 */
static int
count_fields(const amqp_field_value_t *v, unsigned depth, size_t *n)
{
	if (v->kind != AMQP_FIELD_KIND_TABLE && v->kind != AMQP_FIELD_KIND_ARRAY)
		return 0;
	if (depth >= HEADER_MAX_DEPTH)
		return -1;
	if (v->kind == AMQP_FIELD_KIND_TABLE) {
		for (int i = 0; i < v->value.table.num_entries; i++)
			if (++*n > HEADER_MAX_FIELDS ||
			    count_fields(&v->value.table.entries[i].value, depth + 1, n) < 0)
				return -1;
	} else {
		for (int i = 0; i < v->value.array.num_entries; i++)
			if (++*n > HEADER_MAX_FIELDS ||
			    count_fields(&v->value.array.entries[i], depth + 1, n) < 0)
				return -1;
	}
	return 0;
}

int
header_table_check(const amqp_table_t *t, char *detail, size_t detail_sz)
{
	size_t n = 0;

	if (t->num_entries < 0) {
		snprintf(detail, detail_sz, "header table: bad entry count");
		return -1;
	}
	for (int i = 0; i < t->num_entries; i++) {
		if (++n > HEADER_MAX_FIELDS || count_fields(&t->entries[i].value, 0, &n) < 0) {
			if (n > HEADER_MAX_FIELDS)
				snprintf(detail, detail_sz, "header table: more than %d fields "
				    "(%d at the top level)", HEADER_MAX_FIELDS, t->num_entries);
			else
				snprintf(detail, detail_sz, "header table: header %d nests tables "
				    "or arrays more than %d deep", i, HEADER_MAX_DEPTH);
			return -1;
		}
	}
	return 0;
}
