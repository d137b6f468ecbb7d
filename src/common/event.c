/*
 * event: turns one delivery body into an event (id, Kafka key, value,
 * headers) for its route, or names the reason it must be dead-lettered.
 *
 * Owns the decoder's jsmn token array: it starts small, grows by
 * doubling when jsmn runs out (up to a bound derived from
 * max_message_bytes) and is reused, so a worker in steady state never
 * allocates per message. The id and correlation id are unescaped into
 * the event's own buffers; the value points into the body, byte-exact.
 *
 * The one thing to know: jsmn is a tokenizer, not a validator. Even in
 * strict mode it accepts missing or doubled separators, trailing
 * commas, bad literals ("tru", "1.2.3") and raw control characters in
 * strings, and it stops at a NUL byte. check_tree() therefore checks
 * the token tree and every byte between tokens against the JSON
 * grammar; do not trust a token's shape anywhere before it has run.
 * jsmn's cost per closing bracket grows with the token depth, so
 * scan_object() caps nesting at EVENT_MAX_DEPTH and cuts the body at
 * the end of the top-level object before jsmn sees it; that keeps
 * decoding O(bytes * EVENT_MAX_DEPTH) for any input.
 *
 * Seed format: a duplicated top-level member keeps its first value.
 */
#include "autoconf.h"

#define JSMN_STATIC
#define JSMN_STRICT
#define JSMN_PARENT_LINKS	/* else each ',' rescans all tokens: O(n^2) */
#include <jsmn.h>

#include <assert.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/event.h"
#include "common/log.h"

/*
 * Deepest object/array nesting accepted. jsmn walks up from the last
 * token at each closing bracket, so parsing costs O(bytes * depth).
 */
#define EVENT_MAX_DEPTH 128
#define EVENT_INITIAL_TOKENS 128u

static int
is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int
event_decoder_init(struct event_decoder *d, size_t max_message_bytes)
{
	size_t max;

	memset(d, 0, sizeof(*d));
	/* jsmn keeps offsets in int. */
	if (max_message_bytes == 0 || max_message_bytes > (size_t)INT_MAX - 4) {
		log_error("event: max_message_bytes %zu out of range", max_message_bytes);
		errno = EINVAL;
		return -1;
	}
	/*
	 * Every token but the last takes at least two bytes (itself and a
	 * separator or bracket), so a body of n bytes has at most n/2 + 1.
	 */
	max = max_message_bytes / 2 + 2;
	d->max_tokens = (unsigned)max;
	d->ntokens = d->max_tokens < EVENT_INITIAL_TOKENS ? d->max_tokens : EVENT_INITIAL_TOKENS;
	d->tokens = calloc(d->ntokens, sizeof(jsmntok_t));
	if (d->tokens == NULL) {
		log_error("event: cannot allocate %u tokens: %s", d->ntokens, strerror(errno));
		d->ntokens = 0;
		return -1;
	}
	return 0;
}

void
event_decoder_free(struct event_decoder *d)
{
	free(d->tokens);
	memset(d, 0, sizeof(*d));
}

/* Doubles the token array, up to max_tokens. 0, or -1 at the bound. */
static int
grow_tokens(struct event_decoder *d)
{
	unsigned n;
	void *p;

	if (d->ntokens >= d->max_tokens)
		return -1;
	n = d->ntokens > d->max_tokens / 2 ? d->max_tokens : d->ntokens * 2;
	p = realloc(d->tokens, (size_t)n * sizeof(jsmntok_t));
	if (p == NULL) {
		log_error("event: cannot grow token array to %u: %s", n, strerror(errno));
		return -1;
	}
	d->tokens = p;
	d->ntokens = n;
	return 0;
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
		return -1;
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
				return -1;
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
				return -1;
			continue;
		default:
			return -1;
		}
		if (n == cap)
			return -1;
		dst[n++] = (char)c;
		i += 2;
	}
	return (long)n;
}

/*
 * Finds the end of the object that starts at s[start] == '{' and
 * rejects nesting deeper than EVENT_MAX_DEPTH, before jsmn runs: jsmn
 * must never see more than one object (past a closed top-level token it
 * accepts stray closing brackets, each walking the whole token chain)
 * nor deep nesting. So this lexes exactly as jsmn does in strict mode:
 * a string runs to the next unescaped quote, and anything that is not
 * whitespace, a quote or ",:{}[]" starts a primitive that runs to the
 * next whitespace, ',', ']' or '}' (in `t:"[[` there is no string and
 * no bracket). Validity is left to jsmn and check_tree().
 */
static int
scan_object(const char *s, size_t len, size_t start, size_t *end)
{
	unsigned depth = 0;
	size_t i = start;

	while (i < len) {
		switch (s[i]) {
		case '"':
			for (i++; i < len && s[i] != '"'; i++)
				if (s[i] == '\\')
					i++;
			i++;
			break;
		case '{':
		case '[':
			if (++depth > EVENT_MAX_DEPTH)
				return -1;
			i++;
			break;
		case '}':
		case ']':
			i++;
			if (--depth == 0) {
				*end = i;
				return 0;
			}
			break;
		case ' ': case '\t': case '\n': case '\r': case ',': case ':':
			i++;
			break;
		default:
			while (i < len && !is_ws(s[i]) && s[i] != ',' && s[i] != ']' && s[i] != '}')
				i++;
			break;
		}
	}
	return -1;
}

/* A JSON number or literal, exactly (RFC 8259 section 6). */
static int
valid_primitive(const char *s, size_t n)
{
	size_t i = 0;

	if ((n == 4 && memcmp(s, "true", 4) == 0) ||
	    (n == 5 && memcmp(s, "false", 5) == 0) ||
	    (n == 4 && memcmp(s, "null", 4) == 0))
		return 1;
	if (i < n && s[i] == '-')
		i++;
	if (i < n && s[i] == '0') {
		i++;
	} else if (i < n && s[i] >= '1' && s[i] <= '9') {
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	} else {
		return 0;
	}
	if (i < n && s[i] == '.') {
		size_t f = ++i;

		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == f)
			return 0;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		size_t e;

		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		e = i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		if (i == e)
			return 0;
	}
	return i == n;
}

/* First and one-past-last byte of a token, quotes included. */
static size_t
raw_start(const jsmntok_t *t)
{
	return (size_t)t->start - (t->type == JSMN_STRING);
}

static size_t
raw_end(const jsmntok_t *t)
{
	return (size_t)t->end + (t->type == JSMN_STRING);
}

/* Where the text after a token's own bytes starts: inside a container. */
static size_t
head_end(const jsmntok_t *t)
{
	if (t->type == JSMN_OBJECT || t->type == JSMN_ARRAY)
		return (size_t)t->start + 1;
	return raw_end(t);
}

static size_t
skip_ws(const char *s, size_t pos, size_t end)
{
	while (pos < end && is_ws(s[pos]))
		pos++;
	return pos;
}

/*
 * Moves *pos from the end of token `from` up to (not including) its
 * ancestor `to`, consuming the closing bracket of every container it
 * leaves. Each token is left once over a whole walk, so this is O(n)
 * in total. -1 if anything but whitespace is found on the way.
 */
static int
close_up(const char *s, const jsmntok_t *t, int from, int to, size_t *pos, size_t end)
{
	for (int c = from; c != to; c = t[c].parent) {
		if (c < 0)
			return -1;
		if (t[c].type == JSMN_OBJECT || t[c].type == JSMN_ARRAY) {
			*pos = skip_ws(s, *pos, end);
			if (*pos != (size_t)t[c].end - 1)
				return -1;
			*pos = (size_t)t[c].end;
		}
	}
	return 0;
}

/*
 * Checks that tokens t[0..n) over s[0..end) form exactly one JSON value
 * with nothing but whitespace around it: keys are strings with one
 * value each, scalars have no children, literals and numbers are
 * well-formed, strings hold no raw control characters, and the bytes
 * between tokens are exactly whitespace and the separators the grammar
 * asks for.
 */
static int
check_tree(const char *s, size_t end, const jsmntok_t *t, int n)
{
	size_t pos;

	if (n < 1 || t[0].parent != -1)
		return -1;
	pos = skip_ws(s, 0, end);
	if (pos != raw_start(&t[0]))
		return -1;
	for (int i = 0; i < n; i++) {
		int p = t[i].parent;
		int is_key = p >= 0 && t[p].type == JSMN_OBJECT;

		if (t[i].start < 0 || t[i].end < t[i].start || (size_t)t[i].end > end)
			return -1;
		if (i > 0 && (p < 0 || p >= i))
			return -1;	/* a second top-level value */
		switch (t[i].type) {
		case JSMN_STRING:
			if (t[i].size != (is_key ? 1 : 0))
				return -1;
			for (int k = t[i].start; k < t[i].end; k++)
				if ((unsigned char)s[k] < 0x20)
					return -1;
			break;
		case JSMN_PRIMITIVE:
			if (is_key || t[i].size != 0 ||
			    !valid_primitive(s + t[i].start, (size_t)(t[i].end - t[i].start)))
				return -1;
			break;
		case JSMN_OBJECT:
		case JSMN_ARRAY:
			if (is_key)
				return -1;
			break;
		default:
			return -1;
		}
		if (i > 0) {
			char sep;

			/* Leave the previous token, then expect the separator. */
			if (i - 1 == p) {
				sep = t[p].type == JSMN_STRING ? ':' : 0;
				pos = head_end(&t[p]);
			} else {
				/*
				 * A container just before i that is not its
				 * parent is empty: start inside its brackets.
				 */
				sep = ',';
				pos = head_end(&t[i - 1]);
				if (close_up(s, t, i - 1, p, &pos, end) < 0)
					return -1;
			}
			pos = skip_ws(s, pos, end);
			if (sep != 0) {
				if (pos >= end || s[pos] != sep)
					return -1;
				pos = skip_ws(s, pos + 1, end);
			}
			if (pos != raw_start(&t[i]))
				return -1;
		}
	}
	/* Close everything still open, then only whitespace may follow. */
	pos = head_end(&t[n - 1]);
	if (close_up(s, t, n - 1, -1, &pos, end) < 0)
		return -1;
	return skip_ws(s, pos, end) == end ? 0 : -1;
}

/*
 * Tokenizes body[0..len) into d->tokens, growing them as needed.
 * Returns the token count, or a negative dlq_reason.
 */
static int
tokenize(struct event_decoder *d, const char *body, size_t len)
{
	jsmn_parser p;
	int r;

	jsmn_init(&p);
	for (;;) {
		/* jsmn leaves its state resumable after JSMN_ERROR_NOMEM. */
		r = jsmn_parse(&p, body, len, d->tokens, d->ntokens);
		if (r != JSMN_ERROR_NOMEM)
			break;
		if (grow_tokens(d) < 0)
			return -(int)DLQ_too_large;
	}
	return r < 0 ? -(int)DLQ_invalid_json : r;
}

/* The string token t names `key` (escapes in the name allowed). */
static int
key_is(const char *body, const jsmntok_t *t, const char *key)
{
	const char *s = body + t->start;
	size_t n = (size_t)(t->end - t->start), klen = strlen(key);
	char buf[32];
	long u;

	if (memchr(s, '\\', n) == NULL)
		return n == klen && memcmp(s, key, n) == 0;
	u = json_unescape(s, n, buf, sizeof(buf));
	return u >= 0 && (size_t)u == klen && memcmp(buf, key, klen) == 0;
}

static enum dlq_reason
decode_seed(struct event_decoder *d, const char *body, size_t len, struct event *ev)
{
	const jsmntok_t *t, *id = NULL, *corr = NULL, *payload = NULL;
	size_t start = skip_ws(body, 0, len), end;
	long u;
	int n;

	if (start == len || body[start] != '{' || scan_object(body, len, start, &end) < 0 ||
	    skip_ws(body, end, len) != len)
		return DLQ_invalid_json;
	n = tokenize(d, body, end);
	if (n < 0)
		return (enum dlq_reason)-n;
	t = d->tokens;
	if (check_tree(body, end, t, n) < 0 || t[0].type != JSMN_OBJECT)
		return DLQ_invalid_json;

	/* Keys of the top-level object are the tokens whose parent is 0. */
	for (int i = 1; i < n; i++) {
		if (t[i].parent != 0)
			continue;
		if (id == NULL && key_is(body, &t[i], "event_id"))
			id = &t[i + 1];
		else if (corr == NULL && key_is(body, &t[i], "correlation_id"))
			corr = &t[i + 1];
		else if (payload == NULL && key_is(body, &t[i], "payload"))
			payload = &t[i + 1];
	}

	if (id == NULL || id->type != JSMN_STRING)
		return DLQ_missing_event_id;
	u = json_unescape(body + id->start, (size_t)(id->end - id->start), ev->id, EVENT_ID_MAX);
	/* The id is also a C string (logs, Redis keys): no empty, no NUL. */
	if (u <= 0 || memchr(ev->id, '\0', (size_t)u) != NULL) {
		ev->id[0] = '\0';
		return DLQ_missing_event_id;
	}
	ev->id[u] = '\0';
	ev->id_len = (size_t)u;

	if (corr != NULL && !(corr->type == JSMN_PRIMITIVE && body[corr->start] == 'n')) {
		if (corr->type != JSMN_STRING)
			return DLQ_invalid_correlation_id;
		u = json_unescape(body + corr->start, (size_t)(corr->end - corr->start),
		    ev->correlation, EVENT_CORRELATION_MAX);
		if (u < 0)
			return DLQ_invalid_correlation_id;
		ev->correlation_len = (size_t)u;
		ev->hdr[ev->nhdr].name = "correlation_id";
		ev->hdr[ev->nhdr].value = ev->correlation;
		ev->hdr[ev->nhdr].len = ev->correlation_len;
		ev->nhdr++;
	}

	if (payload == NULL)
		return DLQ_missing_payload;
	ev->value = body + raw_start(payload);
	ev->value_len = raw_end(payload) - raw_start(payload);
	ev->key = ev->id;
	ev->key_len = ev->id_len;
	return DLQ_NONE;
}

enum dlq_reason
event_decode(struct event_decoder *d, const struct route *r,
    const void *body, size_t len, struct event *ev)
{
	enum dlq_reason why;

	assert(d->tokens != NULL);
	ev->id[0] = '\0';
	ev->id_len = 0;
	ev->key = ev->value = NULL;
	ev->key_len = ev->value_len = 0;
	ev->nhdr = 0;
	ev->correlation_len = 0;

	if (len > r->max_message_bytes || len > (size_t)INT_MAX)
		return DLQ_too_large;
	switch (r->format) {
	case ROUTE_FMT_SEED_JSON:
		why = decode_seed(d, body, len, ev);
		break;
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
