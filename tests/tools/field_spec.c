/*
 * field_spec: AMQP field values as text (see field_spec.h), for the test
 * tools. A small recursive-descent parser and its printer.
 *
 * The one thing to know before changing it: the printer must write what
 * the parser reads, byte for byte, for every kind: tests compare what
 * er-get -v prints with the spec they gave er-send.
 */
#include "autoconf.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "esc.h"
#include "field_spec.h"

#define MAX_DEPTH 32

static void **pool;
static size_t npool, cappool;

static void *
pool_alloc(size_t n)
{
	void *p;

	if (npool == cappool) {
		size_t cap = cappool ? 2 * cappool : 64;
		void **np = realloc(pool, cap * sizeof(*np));

		if (np == NULL)
			return NULL;
		pool = np;
		cappool = cap;
	}
	p = calloc(1, n ? n : 1);
	if (p != NULL)
		pool[npool++] = p;
	return p;
}

void
field_spec_free_all(void)
{
	for (size_t i = 0; i < npool; i++)
		free(pool[i]);
	free(pool);
	pool = NULL;
	npool = cappool = 0;
}

struct parser {
	const char *s;
	char *err;
	size_t errsz;
};

static int __attribute__((format(printf, 2, 3)))
fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p->err, p->errsz, fmt, ap);
	va_end(ap);
	return -1;
}

/* An escaped text up to one of `stop` (NULL: the end) into *b. */
static int
text(struct parser *p, const char *stop, amqp_bytes_t *b)
{
	unsigned char *dst = pool_alloc(strlen(p->s) + 1);
	const char *end;
	long n;

	if (dst == NULL)
		return fail(p, "out of memory");
	n = esc_read(p->s, stop, dst, &end);
	if (n < 0)
		return fail(p, "bad escape in '%s'", p->s);
	b->bytes = dst;
	b->len = (size_t)n;
	p->s = end;
	return 0;
}

/* The text of a number, up to one of `stop`, NUL-terminated in buf. */
static int
word(struct parser *p, const char *stop, char *buf, size_t sz)
{
	size_t n = stop ? strcspn(p->s, stop) : strlen(p->s);

	if (n == 0 || n >= sz)
		return fail(p, "bad number at '%s'", p->s);
	memcpy(buf, p->s, n);
	buf[n] = '\0';
	p->s += n;
	return 0;
}

static int
sint(struct parser *p, const char *stop, long long lo, long long hi, long long *out)
{
	char buf[64], *end;

	if (word(p, stop, buf, sizeof(buf)) < 0)
		return -1;
	errno = 0;
	*out = strtoll(buf, &end, 10);
	if (errno != 0 || *end != '\0' || *out < lo || *out > hi)
		return fail(p, "'%s': want an integer from %lld to %lld", buf, lo, hi);
	return 0;
}

static int
uint_(struct parser *p, const char *stop, unsigned long long hi, unsigned long long *out)
{
	char buf[64], *end;

	if (word(p, stop, buf, sizeof(buf)) < 0)
		return -1;
	errno = 0;
	*out = strtoull(buf, &end, 10);
	if (errno != 0 || *end != '\0' || buf[0] == '-' || *out > hi)
		return fail(p, "'%s': want an integer from 0 to %llu", buf, hi);
	return 0;
}

static int value(struct parser *p, const char *stop, amqp_field_value_t *v, int depth);

static int
table(struct parser *p, amqp_table_t *t, int depth)
{
	size_t cap = 0;

	t->num_entries = 0;
	t->entries = NULL;
	if (*p->s++ != '{')
		return fail(p, "a table starts with '{'");
	if (*p->s == '}') {
		p->s++;
		return 0;
	}
	for (;;) {
		amqp_table_entry_t *e;

		if ((size_t)t->num_entries == cap) {
			amqp_table_entry_t *ne;

			cap = cap ? 2 * cap : 8;
			ne = pool_alloc(cap * sizeof(*ne));
			if (ne == NULL)
				return fail(p, "out of memory");
			if (t->num_entries)
				memcpy(ne, t->entries, (size_t)t->num_entries * sizeof(*ne));
			t->entries = ne;
		}
		e = &t->entries[t->num_entries++];
		if (text(p, "=,}]", &e->key) < 0)
			return -1;
		if (*p->s++ != '=')
			return fail(p, "a table entry is NAME=VALUE");
		if (value(p, ",}]", &e->value, depth + 1) < 0)
			return -1;
		if (*p->s == '}') {
			p->s++;
			return 0;
		}
		if (*p->s++ != ',')
			return fail(p, "expected ',' or '}' in a table");
	}
}

static int
array(struct parser *p, amqp_array_t *a, int depth)
{
	size_t cap = 0;

	a->num_entries = 0;
	a->entries = NULL;
	if (*p->s++ != '[')
		return fail(p, "an array starts with '['");
	if (*p->s == ']') {
		p->s++;
		return 0;
	}
	for (;;) {
		if ((size_t)a->num_entries == cap) {
			amqp_field_value_t *ne;

			cap = cap ? 2 * cap : 8;
			ne = pool_alloc(cap * sizeof(*ne));
			if (ne == NULL)
				return fail(p, "out of memory");
			if (a->num_entries)
				memcpy(ne, a->entries, (size_t)a->num_entries * sizeof(*ne));
			a->entries = ne;
		}
		if (value(p, ",}]", &a->entries[a->num_entries++], depth + 1) < 0)
			return -1;
		if (*p->s == ']') {
			p->s++;
			return 0;
		}
		if (*p->s++ != ',')
			return fail(p, "expected ',' or ']' in an array");
	}
}

static int
value(struct parser *p, const char *stop, amqp_field_value_t *v, int depth)
{
	char kind = *p->s, buf[64], *end;
	long long s;
	unsigned long long u;

	if (depth > MAX_DEPTH)
		return fail(p, "nested deeper than %d", MAX_DEPTH);
	if (kind == '\0')
		return fail(p, "missing value");
	p->s++;
	v->kind = (uint8_t)kind;
	if (kind == 'V') {
		if (*p->s == ':')
			p->s++;
		return 0;
	}
	if (*p->s++ != ':')
		return fail(p, "a value is KIND:TEXT, got '%c%s'", kind, p->s - 1);
	switch (kind) {
	case 't':
		if (strncmp(p->s, "true", 4) == 0) {
			v->value.boolean = 1;
			p->s += 4;
		} else if (strncmp(p->s, "false", 5) == 0) {
			v->value.boolean = 0;
			p->s += 5;
		} else {
			return fail(p, "t: want true or false, got '%s'", p->s);
		}
		return 0;
	case 'b':
		if (sint(p, stop, INT8_MIN, INT8_MAX, &s) < 0)
			return -1;
		v->value.i8 = (int8_t)s;
		return 0;
	case 'B':
		if (uint_(p, stop, UINT8_MAX, &u) < 0)
			return -1;
		v->value.u8 = (uint8_t)u;
		return 0;
	case 's':
		if (sint(p, stop, INT16_MIN, INT16_MAX, &s) < 0)
			return -1;
		v->value.i16 = (int16_t)s;
		return 0;
	case 'u':
		if (uint_(p, stop, UINT16_MAX, &u) < 0)
			return -1;
		v->value.u16 = (uint16_t)u;
		return 0;
	case 'I':
		if (sint(p, stop, INT32_MIN, INT32_MAX, &s) < 0)
			return -1;
		v->value.i32 = (int32_t)s;
		return 0;
	case 'i':
		if (uint_(p, stop, UINT32_MAX, &u) < 0)
			return -1;
		v->value.u32 = (uint32_t)u;
		return 0;
	case 'l':
		if (sint(p, stop, INT64_MIN, INT64_MAX, &s) < 0)
			return -1;
		v->value.i64 = s;
		return 0;
	case 'L':
	case 'T':
		if (uint_(p, stop, UINT64_MAX, &u) < 0)
			return -1;
		v->value.u64 = u;
		return 0;
	case 'f':
	case 'd':
		if (word(p, stop, buf, sizeof(buf)) < 0)
			return -1;
		errno = 0;
		if (kind == 'f')
			v->value.f32 = strtof(buf, &end);
		else
			v->value.f64 = strtod(buf, &end);
		if (errno != 0 || *end != '\0')
			return fail(p, "%c: '%s' is not a number", kind, buf);
		return 0;
	case 'D':
		if (uint_(p, ":", UINT8_MAX, &u) < 0)
			return -1;
		if (*p->s++ != ':')
			return fail(p, "D: want D:DECIMALS:VALUE");
		v->value.decimal.decimals = (uint8_t)u;
		if (uint_(p, stop, UINT32_MAX, &u) < 0)
			return -1;
		v->value.decimal.value = (uint32_t)u;
		return 0;
	case 'S':
	case 'x':
		return text(p, stop, &v->value.bytes);
	case 'F':
		return table(p, &v->value.table, depth);
	case 'A':
		return array(p, &v->value.array, depth);
	default:
		return fail(p, "unknown kind '%c' (want one of t b B s u I i l L f d D S x T V F A)",
		    kind);
	}
}

int
field_spec_parse(const char *s, amqp_field_value_t *v, char *err, size_t errsz)
{
	struct parser p = { .s = s, .err = err, .errsz = errsz };

	memset(v, 0, sizeof(*v));
	/* At the top level a string runs to the end: no separator to quote. */
	if (value(&p, (s[0] == 'S' || s[0] == 'x') ? NULL : ",}]", v, 0) < 0)
		return -1;
	if (*p.s != '\0')
		return fail(&p, "trailing text '%s'", p.s);
	return 0;
}

int
field_spec_parse_entry(const char *s, amqp_table_entry_t *e, char *err, size_t errsz)
{
	struct parser p = { .s = s, .err = err, .errsz = errsz };

	if (text(&p, "=", &e->key) < 0)
		return -1;
	if (*p.s != '=' || e->key.len == 0)
		return fail(&p, "'%s': want NAME=KIND:VALUE", s);
	return field_spec_parse(p.s + 1, &e->value, err, errsz);
}

/* The shortest %g text that reads back as the same value. */
static void
print_double(FILE *f, double d, int is_float)
{
	char buf[64];

	if (isnan(d)) {
		fputs("nan", f);
		return;
	}
	if (isinf(d)) {
		fputs(d < 0 ? "-inf" : "inf", f);
		return;
	}
	for (int prec = 1; prec <= 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, d);
		if (is_float ? strtof(buf, NULL) == (float)d : strtod(buf, NULL) == d)
			break;
	}
	fputs(buf, f);
}

static void
print_value(FILE *f, const amqp_field_value_t *v, int nested)
{
	const char *also = nested ? ",}]=" : NULL;

	if (v->kind == AMQP_FIELD_KIND_VOID) {
		fputc('V', f);
		return;
	}
	fprintf(f, "%c:", v->kind);
	switch (v->kind) {
	case AMQP_FIELD_KIND_BOOLEAN:
		fputs(v->value.boolean ? "true" : "false", f);
		break;
	case AMQP_FIELD_KIND_I8: fprintf(f, "%d", v->value.i8); break;
	case AMQP_FIELD_KIND_U8: fprintf(f, "%u", v->value.u8); break;
	case AMQP_FIELD_KIND_I16: fprintf(f, "%d", v->value.i16); break;
	case AMQP_FIELD_KIND_U16: fprintf(f, "%u", v->value.u16); break;
	case AMQP_FIELD_KIND_I32: fprintf(f, "%" PRId32, v->value.i32); break;
	case AMQP_FIELD_KIND_U32: fprintf(f, "%" PRIu32, v->value.u32); break;
	case AMQP_FIELD_KIND_I64: fprintf(f, "%" PRId64, v->value.i64); break;
	case AMQP_FIELD_KIND_U64:
	case AMQP_FIELD_KIND_TIMESTAMP:
		fprintf(f, "%" PRIu64, v->value.u64);
		break;
	case AMQP_FIELD_KIND_F32: print_double(f, v->value.f32, 1); break;
	case AMQP_FIELD_KIND_F64: print_double(f, v->value.f64, 0); break;
	case AMQP_FIELD_KIND_DECIMAL:
		fprintf(f, "%u:%" PRIu32, v->value.decimal.decimals, v->value.decimal.value);
		break;
	case AMQP_FIELD_KIND_UTF8:
	case AMQP_FIELD_KIND_BYTES:
		esc_write(f, v->value.bytes.bytes, v->value.bytes.len, also);
		break;
	case AMQP_FIELD_KIND_TABLE:
		fputc('{', f);
		for (int i = 0; i < v->value.table.num_entries; i++) {
			const amqp_table_entry_t *e = &v->value.table.entries[i];

			if (i)
				fputc(',', f);
			esc_write(f, e->key.bytes, e->key.len, ",}]=");
			fputc('=', f);
			print_value(f, &e->value, 1);
		}
		fputc('}', f);
		break;
	case AMQP_FIELD_KIND_ARRAY:
		fputc('[', f);
		for (int i = 0; i < v->value.array.num_entries; i++) {
			if (i)
				fputc(',', f);
			print_value(f, &v->value.array.entries[i], 1);
		}
		fputc(']', f);
		break;
	default:
		fputs("?", f);
		break;
	}
}

void
field_spec_print(FILE *f, const amqp_field_value_t *v)
{
	print_value(f, v, 0);
}
