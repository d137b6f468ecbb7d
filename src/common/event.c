/*
 * event: turns one delivery body into an event (id, Kafka key, value,
 * headers) for its route, or names the reason it must be dead-lettered.
 *
 * A body is read once, by a strict JSON scanner (RFC 8259) that checks
 * the whole document and keeps only the spans of the top-level members
 * the route needs; nothing else is stored and nothing is allocated. The
 * id and correlation id are unescaped into the event's own buffers; the
 * value points into the body, byte-exact.
 *
 * json_paths() reads any JSON body the same way for routes that name
 * json: paths, and records the span of each path's value.
 *
 * The one thing to know: scan() is the only validator. A span it
 * records is trusted afterwards (a string's escapes are well-formed, it
 * holds no raw control character or quote) only because it checked the
 * whole body, so every rule of the grammar lives there: separators,
 * literals, numbers, escapes, nothing but whitespace after the value.
 * Nesting deeper than EVENT_MAX_DEPTH is rejected, which keeps its
 * stack a fixed array; so is a string (a member name too) that is not
 * UTF-8, as RFC 8259 requires of JSON exchanged between systems (each
 * refusal has its own code, JSON_ERR_*, and dead-letter reason). It is
 * compiled twice (always inlined with a constant `seed`): the seed decoder's copy keeps only the three
 * top-level members and costs what the hand-written scanner did; the
 * json_paths copy tracks route paths with a bitmask per depth.
 *
 * Seed format: a duplicated top-level member keeps its first value.
 * json_paths: a path keeps the first value it addresses in document
 * order (for {"a":{},"a":{"b":1}}, a.b is 1).
 */
#include "autoconf.h"

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/event.h"
#include "common/log.h"

/*
 * scan_string() is called for keys and for values, and scan() is
 * compiled twice; gcc 12 -O2 then keeps scan_string() and scan_number()
 * functions, and a decode costs 4-15% more instructions.
 */
#if defined(__GNUC__)
#define ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define ALWAYS_INLINE inline
#endif

int
event_decoder_init(struct event_decoder *d, size_t max_message_bytes)
{
	memset(d, 0, sizeof(*d));
	/*
	 * event.max_message_bytes is at most 100 MiB; a bound near INT_MAX
	 * is a caller's mistake, and keeps every offset within an int.
	 */
	if (max_message_bytes == 0 || max_message_bytes > (size_t)INT_MAX - 4) {
		log_error("event: max_message_bytes %zu out of range", max_message_bytes);
		errno = EINVAL;
		return -1;
	}
	d->max_bytes = max_message_bytes;
	return 0;
}

void
event_decoder_free(struct event_decoder *d)
{
	memset(d, 0, sizeof(*d));
}

int
event_buf_reserve(struct event_buf *b, size_t n)
{
	size_t cap;
	char *p;

	if (b->cap - b->len >= n)
		return 0;
	if (n > SIZE_MAX / 4 - b->len) {
		errno = ENOMEM;
		return -1;
	}
	cap = b->cap != 0 ? b->cap : 256;
	while (cap - b->len < n)
		cap *= 2;
	p = realloc(b->p, cap);
	if (p == NULL) {
		errno = ENOMEM;
		return -1;
	}
	b->p = p;
	b->cap = cap;
	return 0;
}

void
event_buf_free(struct event_buf *b)
{
	free(b->p);
	free(b->h);
	memset(b, 0, sizeof(*b));
}

/* Appends code point cp as UTF-8; -1 if it does not fit. */
static int
put_utf8(char *dst, size_t cap, size_t *n, uint32_t cp)
{
	unsigned char b[4];
	size_t k;

	if (cp < 0x80) {
		b[0] = (unsigned char)cp;
		k = 1;
	} else if (cp < 0x800) {
		b[0] = (unsigned char)(0xc0 | (cp >> 6));
		b[1] = (unsigned char)(0x80 | (cp & 0x3f));
		k = 2;
	} else if (cp < 0x10000) {
		b[0] = (unsigned char)(0xe0 | (cp >> 12));
		b[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[2] = (unsigned char)(0x80 | (cp & 0x3f));
		k = 3;
	} else {
		b[0] = (unsigned char)(0xf0 | (cp >> 18));
		b[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3f));
		b[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3f));
		b[3] = (unsigned char)(0x80 | (cp & 0x3f));
		k = 4;
	}
	if (cap - *n < k)
		return JSON_ERR_TOO_LONG;
	memcpy(dst + *n, b, k);
	*n += k;
	return 0;
}

/* Reads the 4 hex digits of a \u escape at s[0..4); -1 if not hex. */
static long
hex4(const char *s)
{
	long v = 0;

	for (int i = 0; i < 4; i++) {
		char c = s[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if (c >= 'a' && c <= 'f')
			v |= c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v |= c - 'A' + 10;
		else
			return -1;
	}
	return v;
}

long
json_unescape(const char *src, size_t len, char *dst, size_t cap)
{
	size_t i = 0, n = 0;

	while (i < len) {
		unsigned char c = (unsigned char)src[i];
		long cp, lo;

		if (c < 0x20 || c == '"')
			return -1;
		if (c != '\\') {
			if (n == cap)
				return JSON_ERR_TOO_LONG;
			dst[n++] = (char)c;
			i++;
			continue;
		}
		if (len - i < 2)
			return -1;
		switch (src[i + 1]) {
		case '"':  c = '"'; break;
		case '\\': c = '\\'; break;
		case '/':  c = '/'; break;
		case 'b':  c = '\b'; break;
		case 'f':  c = '\f'; break;
		case 'n':  c = '\n'; break;
		case 'r':  c = '\r'; break;
		case 't':  c = '\t'; break;
		case 'u':
			if (len - i < 6 || (cp = hex4(src + i + 2)) < 0)
				return -1;
			i += 6;
			if (cp >= 0xdc00 && cp <= 0xdfff)
				return -1;	/* lone low surrogate */
			if (cp >= 0xd800 && cp <= 0xdbff) {
				if (len - i < 6 || src[i] != '\\' || src[i + 1] != 'u')
					return -1;	/* lone high surrogate */
				lo = hex4(src + i + 2);
				if (lo < 0xdc00 || lo > 0xdfff)
					return -1;
				i += 6;
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
			}
			if (put_utf8(dst, cap, &n, (uint32_t)cp) < 0)
				return JSON_ERR_TOO_LONG;
			continue;
		default:
			return -1;
		}
		if (n == cap)
			return JSON_ERR_TOO_LONG;
		dst[n++] = (char)c;
		i += 2;
	}
	return (long)n;
}

size_t
utf8_seq(const unsigned char *s, size_t n)
{
	unsigned char c = s[0], lo = 0x80, hi = 0xbf;

	if (c < 0xc2 || c > 0xf4)
		return 0;		/* a continuation byte, an overlong lead, or above U+10FFFF */
	if (c < 0xe0)
		return n >= 2 && (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c < 0xf0) {
		if (c == 0xe0)
			lo = 0xa0;		/* overlong */
		else if (c == 0xed)
			hi = 0x9f;		/* surrogates */
		return n >= 3 && s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 ? 3 : 0;
	}
	if (c == 0xf0)
		lo = 0x90;			/* overlong */
	else if (c == 0xf4)
		hi = 0x8f;			/* above U+10FFFF */
	return n >= 4 && s[1] >= lo && s[1] <= hi && (s[2] & 0xc0) == 0x80 &&
	    (s[3] & 0xc0) == 0x80 ? 4 : 0;
}

enum dlq_reason
json_err_reason(int err, char *detail)
{
	const char *why = NULL;
	enum dlq_reason r = DLQ_invalid_json;

	if (err == JSON_ERR_DEPTH) {
		r = DLQ_json_too_deep;
		why = "JSON nested deeper than 128 levels";
	} else if (err == JSON_ERR_UTF8) {
		r = DLQ_invalid_utf8;
		why = "a JSON string is not valid UTF-8";
	}
	if (detail != NULL && why != NULL)
		snprintf(detail, EVENT_DETAIL_MAX, "%s", why);
	return r;
}

/* Top-level members the seed format reads. */
enum member_name { M_ID, M_CORR, M_PAYLOAD, M_COUNT };

/* A top-level member's value as scan() found it. */
struct member {
	const unsigned char *start;	/* first byte; NULL: no such member */
	const unsigned char *end;	/* one past the last (a string's quote) */
	int escaped;			/* a string with a backslash in it */
};

/* Bytes that end a run of plain string contents: '"', '\\' and controls. */
static const unsigned char str_stop[256] = {
	[0x00] = 1, [0x01] = 1, [0x02] = 1, [0x03] = 1, [0x04] = 1, [0x05] = 1,
	[0x06] = 1, [0x07] = 1, [0x08] = 1, [0x09] = 1, [0x0a] = 1, [0x0b] = 1,
	[0x0c] = 1, [0x0d] = 1, [0x0e] = 1, [0x0f] = 1, [0x10] = 1, [0x11] = 1,
	[0x12] = 1, [0x13] = 1, [0x14] = 1, [0x15] = 1, [0x16] = 1, [0x17] = 1,
	[0x18] = 1, [0x19] = 1, [0x1a] = 1, [0x1b] = 1, [0x1c] = 1, [0x1d] = 1,
	[0x1e] = 1, [0x1f] = 1, ['"'] = 1, ['\\'] = 1,
};

static int
is_ws(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static int
is_digit(unsigned char c)
{
	return c >= '0' && c <= '9';
}

static int
is_hex(unsigned char c)
{
	return is_digit(c) || ((c | 0x20) >= 'a' && (c | 0x20) <= 'f');
}

static inline const unsigned char *
skip_ws(const unsigned char *p, const unsigned char *end)
{
	/* Compact JSON has none: one comparison for the common case. */
	while (p < end && *p <= ' ' && is_ws(*p))
		p++;
	return p;
}

#define BYTES_01 (UINT64_MAX / 255)	/* 0x0101010101010101 */

/*
 * The first byte at or after p that ends plain string contents ('"',
 * '\\' or a control character), or end. Most of a body is string
 * contents, so where bytes load little-endian they are tested 8 at a
 * time. (x - n..) & ~x & 0x80.. (n <= 0x80 in every byte) sets the top
 * bit of the lowest byte of x below n, and of no byte under it (bytes
 * above may be flagged by the borrow): so the lowest flag is the first
 * stop. x ^ 0x02.. maps '"' to 0x20 and keeps 0x00-0x1f below 0x20
 * (0x20 and 0x21 go to 0x22, 0x23), so one test with n = 0x21 finds
 * both quotes and control characters; x ^ 0x5c.. makes '\\' 0.
 * The bytes passed over are ORed into *hi (a few beyond the stop too),
 * so that a string's UTF-8 is checked only when it holds a byte >= 0x80.
 */
static inline const unsigned char *
plain_end(const unsigned char *p, const unsigned char *end, uint64_t *hi)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	while (end - p >= 8) {
		uint64_t w, q, b, hit;

		memcpy(&w, p, 8);
		*hi |= w;
		q = w ^ (BYTES_01 * 0x02);
		b = w ^ (BYTES_01 * '\\');
		hit = (((q - BYTES_01 * 0x21) & ~q) | ((b - BYTES_01) & ~b)) & (BYTES_01 * 0x80);
		if (hit != 0)
			return p + __builtin_ctzll(hit) / 8;
		p += 8;
	}
#endif
	while (p < end && !str_stop[*p]) {
		*hi |= *p;
		p++;
	}
	return p;
}

/*
 * Checks the run of UTF-8 sequences starting at p (*p >= 0x80) as
 * utf8_seq() does, inline: text in other scripts is mostly such runs.
 * Returns the first byte after the run (an ASCII byte, or end), or NULL
 * at the first ill-formed sequence.
 */
static ALWAYS_INLINE const unsigned char *
utf8_run(const unsigned char *p, const unsigned char *end)
{
	do {
		unsigned c = p[0], c1;

		if (c < 0xc2) {
			return NULL;	/* a continuation byte, or an overlong 0xc0, 0xc1 */
		} else if (c < 0xe0) {
			if (end - p < 2 || (p[1] & 0xc0) != 0x80)
				return NULL;
			p += 2;
		} else if (c < 0xf0) {
			if (end - p < 3)
				return NULL;
			c1 = p[1];
			if ((c1 & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
			    (c == 0xe0 && c1 < 0xa0) ||		/* overlong */
			    (c == 0xed && c1 > 0x9f))		/* surrogates */
				return NULL;
			p += 3;
		} else if (c < 0xf5) {
			if (end - p < 4)
				return NULL;
			c1 = p[1];
			if ((c1 & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 || (p[3] & 0xc0) != 0x80 ||
			    (c == 0xf0 && c1 < 0x90) ||		/* overlong */
			    (c == 0xf4 && c1 > 0x8f))		/* above U+10FFFF */
				return NULL;
			p += 4;
		} else {
			return NULL;
		}
	} while (p < end && *p >= 0x80);
	return p;
}

/* Whether p[0..end) is UTF-8; ASCII is passed over 8 bytes at a time. */
static int
utf8_valid(const unsigned char *p, const unsigned char *end)
{
	for (;;) {
		uint64_t w;

		while (end - p >= 8) {
			memcpy(&w, p, 8);
			if ((w & (BYTES_01 * 0x80)) != 0)
				break;
			p += 8;
		}
		while (p < end && *p < 0x80)
			p++;
		if (p == end)
			return 1;
		if ((p = utf8_run(p, end)) == NULL)
			return 0;
	}
}

/*
 * Scans a string's contents from p (just past its opening quote).
 * Returns its closing quote, or NULL if the string is unterminated or
 * holds a raw control character, a bad escape or bytes that are not
 * UTF-8 (then *bad_utf8 is set). *escaped tells whether it holds any
 * escape. Escaped surrogates are not paired here: json_unescape()
 * rejects a lone one where the string is used as text.
 */
static ALWAYS_INLINE const unsigned char *
scan_string(const unsigned char *p, const unsigned char *end, int *escaped, int *bad_utf8)
{
	const unsigned char *start = p;
	uint64_t hi = 0;

	*escaped = 0;
	for (;;) {
		p = plain_end(p, end, &hi);
		if (p == end || *p < 0x20)
			return NULL;
		if (*p == '"') {
			if ((hi & (BYTES_01 * 0x80)) != 0 && !utf8_valid(start, p)) {
				*bad_utf8 = 1;
				return NULL;
			}
			return p;
		}
		*escaped = 1;
		if (end - p < 2)
			return NULL;
		switch (p[1]) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
			p += 2;
			break;
		case 'u':
			if (end - p < 6 || !is_hex(p[2]) || !is_hex(p[3]) ||
			    !is_hex(p[4]) || !is_hex(p[5]))
				return NULL;
			p += 6;
			break;
		default:
			return NULL;
		}
	}
}

/* Scans a number from p (at a '-' or digit); one past it, or NULL. */
static ALWAYS_INLINE const unsigned char *
scan_number(const unsigned char *p, const unsigned char *end)
{
	if (*p == '-')
		p++;
	if (p == end)
		return NULL;
	if (*p == '0') {
		p++;
	} else if (*p >= '1' && *p <= '9') {
		do
			p++;
		while (p < end && is_digit(*p));
	} else {
		return NULL;
	}
	if (p < end && *p == '.') {
		if (++p == end || !is_digit(*p))
			return NULL;
		do
			p++;
		while (p < end && is_digit(*p));
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p == end || !is_digit(*p))
			return NULL;
		do
			p++;
		while (p < end && is_digit(*p));
	}
	return p;
}

/* Which seed member a top-level key names, if it is not seen yet; else -1. */
static int
member_of(const unsigned char *k, size_t n, int escaped, const struct member *m)
{
	char buf[32];
	int which;

	if (escaped) {
		long u = json_unescape((const char *)k, n, buf, sizeof(buf));

		if (u < 0)
			return -1;
		k = (const unsigned char *)buf;
		n = (size_t)u;
	}
	if (n == 8 && memcmp(k, "event_id", 8) == 0)
		which = M_ID;
	else if (n == 14 && memcmp(k, "correlation_id", 14) == 0)
		which = M_CORR;
	else if (n == 7 && memcmp(k, "payload", 7) == 0)
		which = M_PAYLOAD;
	else
		return -1;
	return m[which].start == NULL ? which : -1;
}

/*
 * What json_paths() tracks while scan() walks the body. Depth d counts
 * the open containers; a value at depth d sits in the d-th of them (the
 * top-level value at depth 0). Bit i of a mask stands for paths[i].
 */
struct path_scan {
	const struct route_path *const *paths;
	struct json_span *spans;
	uint64_t found;		/* paths whose value is recorded: first wins */
	uint64_t nseg[ROUTE_PATH_MAX_SEGMENTS + 1];	/* paths of that many segments */
	/*
	 * live[d]: paths that go into the open container at depth d (their
	 * first d-1 segments led there, they have at least d). Only a live
	 * container's members are compared, so a depth no path reaches
	 * costs one test per value; live[d] != 0 implies d <= 16.
	 */
	uint64_t live[EVENT_MAX_DEPTH + 1];
	uint64_t hit[EVENT_MAX_DEPTH + 1];	/* paths the value at depth d completes */
	const unsigned char *vstart[EVENT_MAX_DEPTH + 1];
	size_t idx[EVENT_MAX_DEPTH + 1];	/* next element of a live array at depth d */
};

/*
 * Whether the member name k[0..n) (as scanned, escaped if `escaped`)
 * is seg[0..seglen). An escaped name is compared as it unescapes; one
 * that cannot (a lone surrogate) matches nothing.
 */
static int
name_is(const unsigned char *k, size_t n, int escaped, const char *seg, size_t seglen)
{
	size_t i = 0, o = 0;

	if (!escaped)
		return n == seglen && memcmp(k, seg, n) == 0;
	while (i < n) {
		char u[4];
		size_t step = 6;
		long w, cp;

		if (k[i] != '\\') {
			if (o == seglen || (unsigned char)seg[o] != k[i])
				return 0;
			o++;
			i++;
			continue;
		}
		/* scan() checked the escape: k[i + 1] exists, \u has 4 hex digits. */
		if (k[i + 1] != 'u')
			step = 2;
		else if ((cp = hex4((const char *)k + i + 2)) >= 0xd800 && cp <= 0xdbff &&
		    n - i >= 12)
			step = 12;
		w = json_unescape((const char *)k + i, step, u, sizeof(u));
		if (w < 0 || (size_t)w > seglen - o || memcmp(seg + o, u, (size_t)w) != 0)
			return 0;
		o += (size_t)w;
		i += step;
	}
	return o == seglen;
}

/* The paths live at depth d whose segment d names the member k[0..n). */
static uint64_t
match_name(const struct path_scan *ps, unsigned d, const unsigned char *k, size_t n,
    int escaped)
{
	uint64_t m = ps->live[d] & ~ps->found, out = 0;

	while (m != 0) {
		unsigned i = (unsigned)__builtin_ctzll(m);
		const struct route_path *pa = ps->paths[i];

		m &= m - 1;
		if (name_is(k, n, escaped, pa->seg[d - 1], pa->seglen[d - 1]))
			out |= (uint64_t)1 << i;
	}
	return out;
}

/*
 * The paths live at depth d whose segment d is the array index idx in
 * decimal: digits only, no leading zero ("0" is index 0, "00" none).
 */
static uint64_t
match_index(const struct path_scan *ps, unsigned d, size_t idx)
{
	uint64_t m = ps->live[d] & ~ps->found, out = 0;

	while (m != 0) {
		unsigned i = (unsigned)__builtin_ctzll(m);
		const char *s = ps->paths[i]->seg[d - 1];
		size_t n = ps->paths[i]->seglen[d - 1], j;
		uint64_t v = 0;

		m &= m - 1;
		if (n == 0 || n > 19 || (s[0] == '0' && n > 1))
			continue;
		for (j = 0; j < n && is_digit((unsigned char)s[j]); j++)
			v = v * 10 + (uint64_t)(s[j] - '0');
		if (j == n && v == idx)
			out |= (uint64_t)1 << i;
	}
	return out;
}

/* The value at depth d has ended just before p: record it for its paths. */
static void
record_hits(struct path_scan *ps, unsigned d, const unsigned char *p, int escaped)
{
	const unsigned char *v = ps->vstart[d];
	uint64_t m = ps->hit[d];
	struct json_span sp = { (const char *)v, (size_t)(p - v), JSON_NUMBER, 0 };

	switch (*v) {
	case '"':
		sp.kind = JSON_STRING;
		sp.escaped = escaped;
		break;
	case '{': sp.kind = JSON_OBJECT; break;
	case '[': sp.kind = JSON_ARRAY; break;
	case 't': sp.kind = JSON_TRUE; break;
	case 'f': sp.kind = JSON_FALSE; break;
	case 'n': sp.kind = JSON_NULL; break;
	default: break;
	}
	ps->found |= m;
	ps->hit[d] = 0;
	while (m != 0) {
		ps->spans[__builtin_ctzll(m)] = sp;
		m &= m - 1;
	}
}

/*
 * Checks that s[0..len) is one JSON value (seed: one object) with
 * nothing but whitespace around it, strings in UTF-8 and nesting at
 * most EVENT_MAX_DEPTH.
 * seed (a constant: each caller gets its own copy): fills m[] with the
 * first value of each seed member of the top-level object. Otherwise:
 * fills ps->spans for the paths of ps. 0, or a JSON_ERR_* code.
 *
 * One pass, no recursion: `stack` holds the closing bracket each open
 * container expects. A value at depth d (inside d open containers) has
 * ended when `next` is reached at depth d after it.
 */
static ALWAYS_INLINE int
scan(const unsigned char *s, size_t len, struct member m[M_COUNT], struct path_scan *ps,
    const int seed)
{
	const unsigned char *p, *end = s + len, *vstart = NULL, *key;
	unsigned char stack[EVENT_MAX_DEPTH];
	unsigned depth = 0;
	int want = -1, escaped = 0, bad_utf8 = 0;
	uint64_t cand = 0, cont = 0;

	p = skip_ws(s, end);
	if (seed) {
		memset(m, 0, M_COUNT * sizeof(m[0]));
		if (p == end || *p != '{')
			return -1;
		stack[depth++] = '}';
		p++;
		goto object;
	}
	cand = ps->live[0];	/* the top-level value: every path starts there */
	ps->hit[0] = 0;

value:
	p = skip_ws(p, end);
	if (p == end)
		return -1;
	if (seed) {
		if (depth == 1)
			vstart = p;
	} else if (ps->live[depth] != 0) {
		if (depth > 0 && stack[depth - 1] == ']')
			cand = match_index(ps, depth, ps->idx[depth]++);
		ps->hit[depth] = cand & ps->nseg[depth];
		cont = cand & ~ps->nseg[depth];
		ps->vstart[depth] = p;
	} else {
		cont = 0;
	}
	switch (*p) {
	case '{':
		if (depth == EVENT_MAX_DEPTH)
			return JSON_ERR_DEPTH;
		stack[depth++] = '}';
		if (!seed) {
			ps->live[depth] = cont;
			ps->hit[depth] = 0;
		}
		p++;
		goto object;
	case '[':
		if (depth == EVENT_MAX_DEPTH)
			return JSON_ERR_DEPTH;
		stack[depth++] = ']';
		if (!seed) {
			ps->live[depth] = cont;
			ps->hit[depth] = 0;
			ps->idx[depth] = 0;
		}
		p = skip_ws(p + 1, end);
		if (p < end && *p == ']') {
			depth--;
			p++;
			goto next;
		}
		goto value;
	case '"':
		p = scan_string(p + 1, end, &escaped, &bad_utf8);
		if (p == NULL)
			return bad_utf8 ? JSON_ERR_UTF8 : JSON_ERR_SYNTAX;
		p++;
		goto next;
	case 't':
		if (end - p < 4 || memcmp(p, "true", 4) != 0)
			return -1;
		p += 4;
		goto next;
	case 'f':
		if (end - p < 5 || memcmp(p, "false", 5) != 0)
			return -1;
		p += 5;
		goto next;
	case 'n':
		if (end - p < 4 || memcmp(p, "null", 4) != 0)
			return -1;
		p += 4;
		goto next;
	default:
		if (*p != '-' && !is_digit(*p))
			return -1;
		p = scan_number(p, end);
		if (p == NULL)
			return -1;
		goto next;
	}

object:
	/* Just inside '{': the object closes at once, or a member follows. */
	p = skip_ws(p, end);
	if (p < end && *p == '}') {
		depth--;
		p++;
		goto next;
	}
member:
	if (p == end || *p != '"')
		return -1;
	key = p + 1;
	p = scan_string(key, end, &escaped, &bad_utf8);
	if (p == NULL)
		return bad_utf8 ? JSON_ERR_UTF8 : JSON_ERR_SYNTAX;
	if (seed) {
		if (depth == 1)
			want = member_of(key, (size_t)(p - key), escaped, m);
	} else if (ps->live[depth] != 0) {
		cand = match_name(ps, depth, key, (size_t)(p - key), escaped);
	}
	p = skip_ws(p + 1, end);
	if (p == end || *p != ':')
		return -1;
	p++;
	goto value;

next:
	/* A value ended just before p. */
	if (seed) {
		if (depth <= 1) {
			if (depth == 0)
				return skip_ws(p, end) == end ? 0 : -1;
			if (want >= 0) {
				m[want].start = vstart;
				m[want].end = p;
				m[want].escaped = *vstart == '"' && escaped;
				want = -1;
			}
		}
	} else {
		if (ps->hit[depth] != 0)
			record_hits(ps, depth, p, escaped);
		if (depth == 0)
			return skip_ws(p, end) == end ? 0 : -1;
	}
	p = skip_ws(p, end);
	if (p == end)
		return -1;
	if (*p == ',') {
		p++;
		if (stack[depth - 1] == '}') {
			p = skip_ws(p, end);
			goto member;
		}
		goto value;
	}
	if (*p != stack[depth - 1])
		return -1;
	depth--;
	p++;
	goto next;
}

/* The seed decoder's copy of scan(). */
static int
scan_body(const unsigned char *s, size_t len, struct member m[M_COUNT])
{
	return scan(s, len, m, NULL, 1);
}

int
json_paths(const void *body, size_t len, const struct route_path *const *paths,
    size_t npaths, struct json_span *spans)
{
	struct path_scan ps;	/* about 4 KiB; only what a scan reads is set */
	int rc;

	assert(npaths <= 64);
	if (npaths > 64) {
		errno = EINVAL;
		return -1;
	}
	ps.paths = paths;
	ps.spans = spans;
	ps.found = 0;
	memset(ps.nseg, 0, sizeof(ps.nseg));
	for (size_t i = 0; i < npaths; i++) {
		assert(paths[i]->nseg <= ROUTE_PATH_MAX_SEGMENTS);
		spans[i] = (struct json_span){ NULL, 0, JSON_ABSENT, 0 };
		if (paths[i]->nseg <= ROUTE_PATH_MAX_SEGMENTS)
			ps.nseg[paths[i]->nseg] |= (uint64_t)1 << i;
	}
	ps.live[0] = npaths == 64 ? UINT64_MAX : ((uint64_t)1 << npaths) - 1;
	if ((rc = scan(body, len, NULL, &ps, 0)) < 0) {
		for (size_t i = 0; i < npaths; i++)
			spans[i] = (struct json_span){ NULL, 0, JSON_ABSENT, 0 };
		return rc;
	}
	return 0;
}

/*
 * The contents of a string member, unescaped into dst (cap bytes): its
 * length, JSON_ERR_TOO_LONG if it does not fit, or -1 if it holds a
 * lone surrogate. Without a backslash the scanned bytes are already the
 * text.
 */
static long
member_text(const struct member *v, char *dst, size_t cap)
{
	const char *s = (const char *)v->start + 1;
	size_t n = (size_t)(v->end - v->start) - 2;

	if (v->escaped)
		return json_unescape(s, n, dst, cap);
	if (n > cap)
		return JSON_ERR_TOO_LONG;
	memcpy(dst, s, n);
	return (long)n;
}

enum dlq_reason
event_id_too_long(struct event *ev, size_t len)
{
	snprintf(ev->detail, sizeof(ev->detail), "event id of %zu bytes: at most %d", len,
	    EVENT_ID_MAX);
	return DLQ_event_id_too_long;
}

static enum dlq_reason
decode_seed(const char *body, size_t len, struct event *ev)
{
	struct member m[M_COUNT];
	const struct member *id = &m[M_ID], *corr = &m[M_CORR], *payload = &m[M_PAYLOAD];
	long u;
	int rc;

	if ((rc = scan_body((const unsigned char *)body, len, m)) < 0)
		return json_err_reason(rc, ev->detail);

	if (id->start == NULL || *id->start != '"')
		return DLQ_missing_event_id;
	u = member_text(id, ev->id, EVENT_ID_MAX);
	if (u == JSON_ERR_TOO_LONG) {
		ev->id[0] = '\0';
		return event_id_too_long(ev, (size_t)(id->end - id->start) - 2);
	}
	/* The id is also a C string (logs, Redis keys): no empty, no NUL. */
	if (u <= 0 || (id->escaped && memchr(ev->id, '\0', (size_t)u) != NULL)) {
		ev->id[0] = '\0';
		return DLQ_missing_event_id;
	}
	ev->id[u] = '\0';
	ev->id_len = (size_t)u;

	if (corr->start != NULL && *corr->start != 'n') {
		if (*corr->start != '"')
			return DLQ_invalid_correlation_id;
		u = member_text(corr, ev->correlation, EVENT_CORRELATION_MAX);
		if (u < 0)
			return DLQ_invalid_correlation_id;
		ev->correlation_len = (size_t)u;
		ev->hdr[ev->nhdr].name = "correlation_id";
		ev->hdr[ev->nhdr].name_len = sizeof("correlation_id") - 1;
		ev->hdr[ev->nhdr].value = ev->correlation;
		ev->hdr[ev->nhdr].len = ev->correlation_len;
		ev->nhdr++;
	}

	if (payload->start == NULL)
		return DLQ_missing_payload;
	ev->value = payload->start;
	ev->value_len = (size_t)(payload->end - payload->start);
	ev->key = ev->id;
	ev->key_len = ev->id_len;
	return DLQ_NONE;
}

enum dlq_reason
event_decode(struct event_decoder *d, const struct route *r,
    const void *body, size_t len, struct event *ev)
{
	enum dlq_reason why;

	assert(d->max_bytes != 0);
	ev->id[0] = '\0';
	ev->id_len = 0;
	ev->key = ev->value = NULL;
	ev->key_len = ev->value_len = 0;
	ev->hdr = ev->seed_hdr;
	ev->nhdr = 0;
	ev->topic = NULL;
	ev->timestamp_ms = 0;
	ev->bad_traceparent = 0;
	ev->correlation_len = 0;
	ev->detail[0] = '\0';

	if (len > r->max_message_bytes || len > d->max_bytes)
		return DLQ_too_large;
	switch (r->format) {
	case ROUTE_FMT_SEED_JSON:
		why = decode_seed(body, len, ev);
		break;
	case ROUTE_FMT_MAPPED:
	default:
		assert(!"unknown route format");
		why = DLQ_invalid_json;
		break;
	}
	if (why != DLQ_NONE) {
		/*
		 * Leave no value or header behind a rejection; the id stays
		 * when it was decoded, for the dead-letter log line.
		 */
		ev->nhdr = 0;
		ev->correlation_len = 0;
		ev->key = ev->value = NULL;
		ev->key_len = ev->value_len = 0;
	}
	return why;
}
