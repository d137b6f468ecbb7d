/*
 * Unit tests of event decoding (seed format), json_unescape, json_paths
 * and the implicit route. The cases are tables: a body and what must come out
 * of it, byte for byte, or the dead-letter reason it must get.
 */
#include "autoconf.h"
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/event.h"
#include "common/route.h"

#define MAX_BYTES 65536

/* Bytes as a printable C-like string, for failure messages. */
static const char *
show(char *buf, size_t cap, const void *p, size_t n)
{
	const unsigned char *s = p;
	size_t o = 0;

	if (p == NULL)
		return "(null)";
	for (size_t i = 0; i < n && o + 8 < cap; i++) {
		if (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\\')
			buf[o++] = (char)s[i];
		else
			o += (size_t)snprintf(buf + o, cap - o, "\\x%02x", s[i]);
	}
	if (o + 8 >= cap && cap > 4)
		o = cap - 4, memcpy(buf + o, "...", 3), o += 3;
	buf[o] = '\0';
	return buf;
}

static struct route
test_route(size_t max)
{
	struct route r = {
		.name = "test", .queue = "q", .topic = "t", .dlq = "q.dlq",
		.max_message_bytes = max, .format = ROUTE_FMT_SEED_JSON,
	};
	return r;
}

static int
same(const void *a, size_t alen, const char *b)
{
	return alen == strlen(b) && memcmp(a, b, alen) == 0;
}

struct ok_case {
	const char *name;
	const char *body;
	const char *id;		/* also the key */
	const char *value;
	const char *corr;	/* NULL: no correlation_id header */
};

static const struct ok_case ok_cases[] = {
	{ "object payload",
	  "{\"event_id\":\"e1\",\"correlation_id\":\"c1\",\"payload\":{\"a\":1}}",
	  "e1", "{\"a\":1}", "c1" },
	{ "string payload keeps quotes and escapes",
	  "{\"event_id\":\"e2\",\"payload\":\"hi \\\"x\\\" \\u00e9\"}",
	  "e2", "\"hi \\\"x\\\" \\u00e9\"", NULL },
	{ "number payload",
	  "{\"event_id\":\"e3\",\"payload\":-12.5e+3}", "e3", "-12.5e+3", NULL },
	{ "zero payload", "{\"event_id\":\"e\",\"payload\":0}", "e", "0", NULL },
	{ "array payload",
	  "{\"event_id\":\"e\",\"payload\":[1, \"two\", {\"three\":[]}, null, true]}",
	  "e", "[1, \"two\", {\"three\":[]}, null, true]", NULL },
	{ "null payload", "{\"event_id\":\"e\",\"payload\":null}", "e", "null", NULL },
	{ "true payload", "{\"event_id\":\"e\",\"payload\":true}", "e", "true", NULL },
	{ "false payload", "{\"event_id\":\"e\",\"payload\":false}", "e", "false", NULL },
	{ "empty object payload", "{\"event_id\":\"e\",\"payload\":{}}", "e", "{}", NULL },
	{ "empty array payload", "{\"event_id\":\"e\",\"payload\":[ ]}", "e", "[ ]", NULL },
	{ "brackets inside strings",
	  "{\"event_id\":\"e\",\"payload\":\"}]{[\\\"\"}", "e", "\"}]{[\\\"\"", NULL },
	{ "whitespace everywhere",
	  " \t\r\n{ \"payload\" : { \"x\" : [ 1 , 2 ] } ,\n\"event_id\" : \"e\" ,"
	  " \"correlation_id\"\t:\t\"c\" } \n\r\t",
	  "e", "{ \"x\" : [ 1 , 2 ] }", "c" },
	{ "escapes in the id",
	  "{\"event_id\":\"a\\\"b\\\\c\\/d\\u00e9\\ud83d\\ude00\\n\",\"payload\":0}",
	  "a\"b\\c/d\xc3\xa9\xf0\x9f\x98\x80\n", "0", NULL },
	{ "escapes in the correlation id",
	  "{\"event_id\":\"e\",\"correlation_id\":\"x\\ty\\u20ac\",\"payload\":0}",
	  "e", "0", "x\ty\xe2\x82\xac" },
	{ "raw UTF-8 kept",
	  "{\"event_id\":\"\xc3\xa9\",\"payload\":\"\xc3\xbc\"}",
	  "\xc3\xa9", "\"\xc3\xbc\"", NULL },
	{ "nested event_id ignored",
	  "{\"payload\":{\"event_id\":\"inner\",\"payload\":2},\"event_id\":\"outer\"}",
	  "outer", "{\"event_id\":\"inner\",\"payload\":2}", NULL },
	{ "nested correlation_id ignored",
	  "{\"event_id\":\"e\",\"payload\":[{\"correlation_id\":5}]}",
	  "e", "[{\"correlation_id\":5}]", NULL },
	{ "null correlation_id: no header",
	  "{\"event_id\":\"e\",\"correlation_id\":null,\"payload\":1}", "e", "1", NULL },
	{ "empty correlation_id: empty header",
	  "{\"event_id\":\"e\",\"correlation_id\":\"\",\"payload\":1}", "e", "1", "" },
	{ "duplicate keys: first wins",
	  "{\"event_id\":\"first\",\"payload\":1,\"event_id\":\"second\","
	  "\"payload\":2,\"correlation_id\":\"c1\",\"correlation_id\":7}",
	  "first", "1", "c1" },
	{ "escaped member name",
	  "{\"event\\u005fid\":\"e\",\"pay\\u006coad\":1}", "e", "1", NULL },
	{ "other members ignored",
	  "{\"v\":2,\"event_id\":\"e\",\"extra\":{\"deep\":[1,2,{\"x\":null}]},\"payload\":1.5}",
	  "e", "1.5", NULL },
	{ "numbers of every shape",
	  "{\"event_id\":\"e\",\"payload\":[0,-0,1,-1,10,0.5,-0.25,1e3,1E-3,2.5e+10]}",
	  "e", "[0,-0,1,-1,10,0.5,-0.25,1e3,1E-3,2.5e+10]", NULL },
	{ "more numbers",
	  "{\"event_id\":\"e\",\"payload\":[-0,1e5,1E+05,0e0,-0.0e-0,0.000,1e999,"
	  "123456789012345678901234567890]}",
	  "e", "[-0,1e5,1E+05,0e0,-0.0e-0,0.000,1e999,123456789012345678901234567890]", NULL },
	{ "number ends the payload", "{\"event_id\":\"e\",\"payload\":-0}", "e", "-0", NULL },
	{ "exponent ends the payload", "{\"event_id\":\"e\",\"payload\":1e5 }", "e", "1e5", NULL },
	{ "every escape in the payload",
	  "{\"event_id\":\"e\",\"payload\":\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00aF\\uFFFF\"}",
	  "e", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00aF\\uFFFF\"", NULL },
	/* Surrogates are paired only where a string is read as text. */
	{ "lone surrogates in the payload kept",
	  "{\"event_id\":\"e\",\"payload\":\"\\ud800 \\udc00\"}",
	  "e", "\"\\ud800 \\udc00\"", NULL },
	{ "lone surrogate in another member's name",
	  "{\"\\ud800\":1,\"event_id\":\"e\",\"payload\":2}", "e", "2", NULL },
	{ "escaped name too long to be a seed member",
	  "{\"\\u0065vent_id_and_then_some_more_bytes\":\"x\",\"event_id\":\"e\",\"payload\":1}",
	  "e", "1", NULL },
	{ "empty member name", "{\"\":1,\"event_id\":\"e\",\"payload\":2}", "e", "2", NULL },
	/* DEL and UTF-8 pass as they are (test utf8_strings: what is not UTF-8). */
	{ "DEL and UTF-8 in strings",
	  "{\"event_id\":\"a\x7f\xc3\xa9\",\"payload\":\"\xe2\x82\xac\xf0\x9f\x98\x80\"}",
	  "a\x7f\xc3\xa9", "\"\xe2\x82\xac\xf0\x9f\x98\x80\"", NULL },
	{ "nested empty containers",
	  "{\"event_id\":\"e\",\"payload\":[[],{},[{}],{\"a\":[]}]}",
	  "e", "[[],{},[{}],{\"a\":[]}]", NULL },
	{ "payload of one string in an array", "{\"payload\":[\"\"],\"event_id\":\"e\"}",
	  "e", "[\"\"]", NULL },
};

Test(event, valid_bodies)
{
	struct event_decoder d;
	struct route r = test_route(MAX_BYTES);
	struct event ev;
	char b1[512], b2[512];

	cr_assert(event_decoder_init(&d, MAX_BYTES) == 0);
	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		const struct ok_case *c = &ok_cases[i];
		enum dlq_reason why = event_decode(&d, &r, c->body, strlen(c->body), &ev);

		cr_expect(why == DLQ_NONE, "%s: got reason %s, want none",
		    c->name, dlq_reason_name(why));
		if (why != DLQ_NONE)
			continue;
		cr_expect(same(ev.id, ev.id_len, c->id) && ev.id[ev.id_len] == '\0',
		    "%s: id: got \"%s\", want \"%s\"", c->name,
		    show(b1, sizeof(b1), ev.id, ev.id_len), show(b2, sizeof(b2), c->id, strlen(c->id)));
		cr_expect(same(ev.key, ev.key_len, c->id),
		    "%s: key: got \"%s\", want \"%s\"", c->name,
		    show(b1, sizeof(b1), ev.key, ev.key_len), show(b2, sizeof(b2), c->id, strlen(c->id)));
		cr_expect(same(ev.value, ev.value_len, c->value),
		    "%s: value: got \"%s\", want \"%s\"", c->name,
		    show(b1, sizeof(b1), ev.value, ev.value_len),
		    show(b2, sizeof(b2), c->value, strlen(c->value)));
		if (ev.value != NULL)
			cr_expect((const char *)ev.value >= c->body &&
			    (const char *)ev.value + ev.value_len <= c->body + strlen(c->body),
			    "%s: value does not point into the body", c->name);
		if (c->corr == NULL) {
			cr_expect(ev.nhdr == 0, "%s: headers: got %zu, want 0", c->name, ev.nhdr);
			continue;
		}
		cr_expect(ev.nhdr == 1, "%s: headers: got %zu, want 1", c->name, ev.nhdr);
		if (ev.nhdr != 1)
			continue;
		cr_expect(strcmp(ev.hdr[0].name, "correlation_id") == 0,
		    "%s: header name: got %s, want correlation_id", c->name, ev.hdr[0].name);
		cr_expect(same(ev.hdr[0].value, ev.hdr[0].len, c->corr),
		    "%s: correlation: got \"%s\", want \"%s\"", c->name,
		    show(b1, sizeof(b1), ev.hdr[0].value, ev.hdr[0].len),
		    show(b2, sizeof(b2), c->corr, strlen(c->corr)));
	}
	event_decoder_free(&d);
}

struct bad_case {
	const char *name;
	const char *body;
	size_t len;		/* 0: strlen(body) */
	enum dlq_reason want;
};

#define EP "\"event_id\":\"e\",\"payload\":"

static const struct bad_case bad_cases[] = {
	/* Not one JSON object. */
	{ "empty body", "", 0, DLQ_invalid_json },
	{ "only whitespace", " \n\t ", 0, DLQ_invalid_json },
	{ "null", "null", 0, DLQ_invalid_json },
	{ "array", "[{\"event_id\":\"e\",\"payload\":1}]", 0, DLQ_invalid_json },
	{ "string", "\"event_id\"", 0, DLQ_invalid_json },
	{ "number", "12", 0, DLQ_invalid_json },
	{ "truncated", "{" EP "1", 0, DLQ_invalid_json },
	{ "truncated in string", "{\"event_id\":\"e", 0, DLQ_invalid_json },
	{ "only an open brace", "{", 0, DLQ_invalid_json },
	{ "extra close", "{" EP "1}}", 0, DLQ_invalid_json },
	{ "trailing garbage", "{" EP "1} x", 0, DLQ_invalid_json },
	{ "trailing number", "{" EP "1} 1 ", 0, DLQ_invalid_json },
	{ "trailing object", "{" EP "1}{}", 0, DLQ_invalid_json },
	{ "trailing comma after object", "{" EP "1},", 0, DLQ_invalid_json },
	{ "trailing NUL", "{" EP "1}\0", 30, DLQ_invalid_json },
	{ "NUL inside", "{" EP "1\0}", 30, DLQ_invalid_json },
	{ "NUL inside a string", "{\"event_id\":\"e\0\",\"payload\":1}", 29, DLQ_invalid_json },
	{ "trailing comma in object", "{" EP "1,}", 0, DLQ_invalid_json },
	{ "trailing comma in array", "{" EP "[1,]}", 0, DLQ_invalid_json },
	{ "leading comma in array", "{" EP "[,1]}", 0, DLQ_invalid_json },
	{ "double comma in array", "{" EP "[1,,2]}", 0, DLQ_invalid_json },
	{ "double comma in object", "{\"event_id\":\"e\",,\"payload\":1}", 0, DLQ_invalid_json },
	{ "missing comma in object", "{\"event_id\":\"e\" \"payload\":1}", 0, DLQ_invalid_json },
	{ "missing comma after value", "{\"payload\":1 \"event_id\":\"e\"}", 0, DLQ_invalid_json },
	{ "missing comma after container", "{\"payload\":[1] \"event_id\":\"e\"}", 0, DLQ_invalid_json },
	{ "missing comma in array", "{" EP "[1 2]}", 0, DLQ_invalid_json },
	{ "missing colon", "{\"event_id\" \"e\",\"payload\":1}", 0, DLQ_invalid_json },
	{ "double colon", "{\"event_id\"::\"e\",\"payload\":1}", 0, DLQ_invalid_json },
	{ "colon after value", "{" EP "1:2}", 0, DLQ_invalid_json },
	{ "colon in array", "{" EP "[\"a\":1]}", 0, DLQ_invalid_json },
	{ "colon after container", "{\"payload\":{\"a\":1}:2,\"event_id\":\"e\"}", 0, DLQ_invalid_json },
	{ "key without value", "{\"event_id\":\"e\",\"payload\":1,\"k\"}", 0, DLQ_invalid_json },
	{ "key with empty value", "{\"event_id\":\"e\",\"payload\":}", 0, DLQ_invalid_json },
	{ "colon without key", "{:1," EP "1}", 0, DLQ_invalid_json },
	{ "number as key", "{1:2," EP "1}", 0, DLQ_invalid_json },
	{ "object as key", "{{}:2," EP "1}", 0, DLQ_invalid_json },
	{ "unquoted key", "{event_id:\"e\",\"payload\":1}", 0, DLQ_invalid_json },
	{ "single quotes", "{'event_id':'e','payload':1}", 0, DLQ_invalid_json },
	{ "mismatched brackets", "{" EP "[1}}", 0, DLQ_invalid_json },
	{ "mismatched brackets 2", "{" EP "{\"a\":1]}", 0, DLQ_invalid_json },
	{ "bad literal tru", "{" EP "tru}", 0, DLQ_invalid_json },
	{ "bad literal nul", "{" EP "nul}", 0, DLQ_invalid_json },
	{ "bad literal truex", "{" EP "truex}", 0, DLQ_invalid_json },
	{ "bad literal True", "{" EP "True}", 0, DLQ_invalid_json },
	{ "bad number 1.2.3", "{" EP "1.2.3}", 0, DLQ_invalid_json },
	{ "bad number 01", "{" EP "01}", 0, DLQ_invalid_json },
	{ "bad number -", "{" EP "-}", 0, DLQ_invalid_json },
	{ "bad number 1.", "{" EP "1.}", 0, DLQ_invalid_json },
	{ "bad number .5", "{" EP ".5}", 0, DLQ_invalid_json },
	{ "bad number 1e", "{" EP "1e}", 0, DLQ_invalid_json },
	{ "bad number 1e+", "{" EP "1e+}", 0, DLQ_invalid_json },
	{ "bad number +1", "{" EP "+1}", 0, DLQ_invalid_json },
	{ "bad number 0x10", "{" EP "0x10}", 0, DLQ_invalid_json },
	{ "bad number --1", "{" EP "--1}", 0, DLQ_invalid_json },
	{ "NaN", "{" EP "NaN}", 0, DLQ_invalid_json },
	{ "raw control char in id", "{\"event_id\":\"e\x01\",\"payload\":1}", 0, DLQ_invalid_json },
	{ "raw newline in payload", "{" EP "\"a\nb\"}", 0, DLQ_invalid_json },
	{ "raw tab in key", "{\"a\tb\":1," EP "1}", 0, DLQ_invalid_json },
	{ "invalid escape", "{" EP "\"\\x\"}", 0, DLQ_invalid_json },
	{ "short unicode escape", "{" EP "\"\\u12\"}", 0, DLQ_invalid_json },
	{ "non-hex unicode escape", "{" EP "\"\\u12G4\"}", 0, DLQ_invalid_json },
	{ "byte 0xff outside strings", "{" EP "1\xff}", 0, DLQ_invalid_json },
	{ "form feed is not whitespace", "{" EP "1}\f", 0, DLQ_invalid_json },
	{ "primitive running into a string", "{" EP "t:\"x\"}", 0, DLQ_invalid_json },
	{ "primitive swallowing brackets", "{" EP "[t\"[[ , 1]}", 0, DLQ_invalid_json },
	{ "stray closers after the object", "{" EP "1} :\"a\":\"a\"}}", 0, DLQ_invalid_json },
	{ "string chain", "{" EP "[\"a\":\"b\":\"c\"]}", 0, DLQ_invalid_json },
	{ "bad number -01", "{" EP "-01}", 0, DLQ_invalid_json },
	{ "bad number 00", "{" EP "00}", 0, DLQ_invalid_json },
	{ "bad number -.5", "{" EP "-.5}", 0, DLQ_invalid_json },
	{ "bad number 1.e5", "{" EP "1.e5}", 0, DLQ_invalid_json },
	{ "bad number 1e5.5", "{" EP "1e5.5}", 0, DLQ_invalid_json },
	{ "bad number 1e+-5", "{" EP "1e+-5}", 0, DLQ_invalid_json },
	{ "bad number 1E", "{" EP "[1E]}", 0, DLQ_invalid_json },
	{ "bad number Infinity", "{" EP "-Infinity}", 0, DLQ_invalid_json },
	{ "bad number 1_000", "{" EP "1_000}", 0, DLQ_invalid_json },
	{ "number cut by the end", "{" EP "12", 0, DLQ_invalid_json },
	{ "literal cut by the end", "{" EP "tru", 0, DLQ_invalid_json },
	{ "literal without its close", "{" EP "null", 0, DLQ_invalid_json },
	{ "bad literal fals", "{" EP "[fals]}", 0, DLQ_invalid_json },
	{ "bad literal nulll", "{" EP "nulll}", 0, DLQ_invalid_json },
	{ "leading comma in object", "{," EP "1}", 0, DLQ_invalid_json },
	{ "only a comma in object", "{,}", 0, DLQ_invalid_json },
	{ "only a comma in array", "{" EP "[,]}", 0, DLQ_invalid_json },
	{ "trailing comma in nested object", "{" EP "{\"a\":1,}}", 0, DLQ_invalid_json },
	{ "comma before a closer after a container", "{" EP "[[1],]}", 0, DLQ_invalid_json },
	{ "member without a name", "{" EP "{:1}}", 0, DLQ_invalid_json },
	{ "value in object without a name", "{" EP "{1}}", 0, DLQ_invalid_json },
	{ "two top-level objects", "{" EP "1} {}", 0, DLQ_invalid_json },
	{ "whitespace then garbage", "{" EP "1} \n\t x", 0, DLQ_invalid_json },
	{ "backslash at the end", "{\"event_id\":\"e\\", 0, DLQ_invalid_json },
	{ "escape cut by the end", "{\"event_id\":\"\\u12", 0, DLQ_invalid_json },
	{ "escape \\a", "{" EP "\"\\a\"}", 0, DLQ_invalid_json },
	{ "escape \\U", "{" EP "\"\\U0041\"}", 0, DLQ_invalid_json },
	{ "escape \\u with 3 digits", "{" EP "\"\\u004\"}", 0, DLQ_invalid_json },
	{ "escaped NUL byte", "{" EP "\"\\\0\"}", 32, DLQ_invalid_json },
	{ "raw 0x1f in a string", "{" EP "\"\x1f\"}", 0, DLQ_invalid_json },
	{ "vertical tab is not whitespace", "{\v" EP "1}", 0, DLQ_invalid_json },
	{ "no-break space is not whitespace", "{" EP "\xa0" "1}", 0, DLQ_invalid_json },
	{ "DEL outside strings", "{" EP "1\x7f}", 0, DLQ_invalid_json },
	{ "invalid JSON wins over a missing event_id", "{\"payload\":1,}", 0, DLQ_invalid_json },
	/* event_id */
	{ "no event_id", "{\"payload\":1}", 0, DLQ_missing_event_id },
	{ "only nested event_id", "{\"payload\":{\"event_id\":\"inner\"}}", 0, DLQ_missing_event_id },
	{ "event_id number", "{\"event_id\":12,\"payload\":1}", 0, DLQ_missing_event_id },
	{ "event_id null", "{\"event_id\":null,\"payload\":1}", 0, DLQ_missing_event_id },
	{ "event_id object", "{\"event_id\":{\"v\":\"e\"},\"payload\":1}", 0, DLQ_missing_event_id },
	{ "event_id array", "{\"event_id\":[\"e\"],\"payload\":1}", 0, DLQ_missing_event_id },
	{ "event_id empty", "{\"event_id\":\"\",\"payload\":1}", 0, DLQ_missing_event_id },
	{ "event_id with NUL", "{\"event_id\":\"a\\u0000b\",\"payload\":1}", 0, DLQ_missing_event_id },
	{ "event_id lone high surrogate", "{\"event_id\":\"\\ud800\",\"payload\":1}", 0, DLQ_missing_event_id },
	{ "event_id lone low surrogate", "{\"event_id\":\"\\udc00x\",\"payload\":1}", 0, DLQ_missing_event_id },
	{ "event_id wrong case", "{\"Event_Id\":\"e\",\"payload\":1}", 0, DLQ_missing_event_id },
	{ "event_id and payload missing", "{}", 0, DLQ_missing_event_id },
	/* correlation_id */
	{ "correlation_id number", "{\"event_id\":\"e\",\"correlation_id\":5,\"payload\":1}", 0, DLQ_invalid_correlation_id },
	{ "correlation_id true", "{\"event_id\":\"e\",\"correlation_id\":true,\"payload\":1}", 0, DLQ_invalid_correlation_id },
	{ "correlation_id object", "{\"event_id\":\"e\",\"correlation_id\":{},\"payload\":1}", 0, DLQ_invalid_correlation_id },
	{ "correlation_id array", "{\"event_id\":\"e\",\"correlation_id\":[\"c\"],\"payload\":1}", 0, DLQ_invalid_correlation_id },
	{ "correlation_id lone surrogate", "{\"event_id\":\"e\",\"correlation_id\":\"\\ud83d\",\"payload\":1}", 0, DLQ_invalid_correlation_id },
	{ "correlation checked before payload", "{\"event_id\":\"e\",\"correlation_id\":1}", 0, DLQ_invalid_correlation_id },
	/* payload */
	{ "no payload", "{\"event_id\":\"e\"}", 0, DLQ_missing_payload },
	{ "no payload, correlation", "{\"event_id\":\"e\",\"correlation_id\":\"c\"}", 0, DLQ_missing_payload },
	{ "only nested payload", "{\"event_id\":\"e\",\"data\":{\"payload\":1}}", 0, DLQ_missing_payload },
	{ "payload as a value, not a key", "{\"event_id\":\"e\",\"x\":\"payload\"}", 0, DLQ_missing_payload },
};

Test(event, poison_bodies)
{
	struct event_decoder d;
	struct route r = test_route(MAX_BYTES);
	struct event ev;
	char b1[512];

	cr_assert(event_decoder_init(&d, MAX_BYTES) == 0);
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		size_t len = c->len != 0 ? c->len : strlen(c->body);
		enum dlq_reason why = event_decode(&d, &r, c->body, len, &ev);

		cr_expect(why == c->want, "%s: \"%s\": got %s, want %s", c->name,
		    show(b1, sizeof(b1), c->body, len), dlq_reason_name(why),
		    dlq_reason_name(c->want));
		cr_expect(ev.nhdr == 0 && ev.value == NULL,
		    "%s: got %zu headers and a value after a rejection, want none", c->name, ev.nhdr);
	}
	event_decoder_free(&d);
}

Test(event, too_large_is_checked_before_parsing)
{
	struct event_decoder d;
	struct route r = test_route(64);
	struct event ev;
	char body[128];
	enum dlq_reason why;
	int n;

	cr_assert(event_decoder_init(&d, 64) == 0);
	/* Exactly at the limit: relayed. */
	n = snprintf(body, sizeof(body), "{\"event_id\":\"e\",\"payload\":\"%035d\"}", 0);
	cr_assert(n == 64, "body: got %d bytes, want 64", n);
	why = event_decode(&d, &r, body, (size_t)n, &ev);
	cr_expect(why == DLQ_NONE, "64 bytes: got %s, want none", dlq_reason_name(why));
	/* One byte over: too large, even though it is also invalid JSON. */
	memset(body, '{', 65);
	why = event_decode(&d, &r, body, 65, &ev);
	cr_expect(why == DLQ_too_large, "65 bytes: got %s, want too_large", dlq_reason_name(why));
	event_decoder_free(&d);
}

/* {"event_id":"<id of n x>","correlation_id":"<m x>","payload":1} */
static size_t
make_ids(char *buf, size_t cap, size_t n, size_t m)
{
	size_t o = (size_t)snprintf(buf, cap, "{\"event_id\":\"");

	memset(buf + o, 'x', n);
	o += n;
	o += (size_t)snprintf(buf + o, cap - o, "\",\"correlation_id\":\"");
	memset(buf + o, 'y', m);
	o += m;
	o += (size_t)snprintf(buf + o, cap - o, "\",\"payload\":1}");
	return o;
}

Test(event, id_and_correlation_limits)
{
	static const struct {
		size_t id, corr;
		enum dlq_reason want;
	} cases[] = {
		{ 1, 0, DLQ_NONE },
		{ EVENT_ID_MAX, EVENT_CORRELATION_MAX, DLQ_NONE },
		{ EVENT_ID_MAX + 1, 1, DLQ_event_id_too_long },
		{ 1, EVENT_CORRELATION_MAX + 1, DLQ_invalid_correlation_id },
		{ 4 * EVENT_ID_MAX, 4 * EVENT_CORRELATION_MAX, DLQ_event_id_too_long },
	};
	struct event_decoder d;
	struct route r = test_route(MAX_BYTES);
	struct event ev;
	static char body[8192];

	cr_assert(event_decoder_init(&d, MAX_BYTES) == 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len = make_ids(body, sizeof(body), cases[i].id, cases[i].corr);
		enum dlq_reason why = event_decode(&d, &r, body, len, &ev);

		cr_expect(why == cases[i].want, "id %zu, correlation %zu bytes: got %s, want %s",
		    cases[i].id, cases[i].corr, dlq_reason_name(why), dlq_reason_name(cases[i].want));
		if (why == DLQ_NONE) {
			cr_expect(ev.id_len == cases[i].id, "id length: got %zu, want %zu",
			    ev.id_len, cases[i].id);
			cr_expect(ev.nhdr == 1 && ev.hdr[0].len == cases[i].corr,
			    "correlation length: got %zu, want %zu",
			    ev.nhdr ? ev.hdr[0].len : 0, cases[i].corr);
		}
	}
	/* An id that only fits once unescaped (\u0041 is 6 bytes, "A" one). */
	{
		size_t o = (size_t)snprintf(body, sizeof(body), "{\"event_id\":\"");
		enum dlq_reason why;

		for (int k = 0; k < EVENT_ID_MAX; k++)
			o += (size_t)snprintf(body + o, sizeof(body) - o, "\\u0041");
		o += (size_t)snprintf(body + o, sizeof(body) - o, "\",\"payload\":1}");
		why = event_decode(&d, &r, body, o, &ev);
		cr_expect(why == DLQ_NONE && ev.id_len == EVENT_ID_MAX,
		    "escaped id of %d chars: got %s (%zu bytes), want none (%d bytes)",
		    EVENT_ID_MAX, dlq_reason_name(why), ev.id_len, EVENT_ID_MAX);
	}
	event_decoder_free(&d);
}

/* {"event_id":"e","payload":<depth x [>"x"<depth x ]>} into a new buffer. */
static char *
make_nested(size_t depth, const char *open, const char *close, size_t *len)
{
	size_t cap = depth * (strlen(open) + strlen(close)) + 64, o;
	char *b = malloc(cap);

	cr_assert(b != NULL);
	o = (size_t)snprintf(b, cap, "{\"event_id\":\"e\",\"payload\":");
	for (size_t i = 0; i < depth; i++)
		o += (size_t)snprintf(b + o, cap - o, "%s", open);
	o += (size_t)snprintf(b + o, cap - o, "\"x\"");
	for (size_t i = 0; i < depth; i++)
		o += (size_t)snprintf(b + o, cap - o, "%s", close);
	o += (size_t)snprintf(b + o, cap - o, "}");
	*len = o;
	return b;
}

Test(event, deep_nesting)
{
	static const struct {
		size_t depth;
		const char *open, *close;
		enum dlq_reason want;
	} cases[] = {
		{ 100, "[", "]", DLQ_NONE },
		{ 100, "{\"k\":", "}", DLQ_NONE },
		{ 126, "[", "]", DLQ_NONE },		/* 127 levels with the top object */
		{ 127, "[", "]", DLQ_NONE },
		{ 128, "[", "]", DLQ_json_too_deep },
		{ 100000, "[", "]", DLQ_json_too_deep },
		{ 100000, "{\"k\":", "}", DLQ_json_too_deep },
		{ 127, "{\"k\":", "}", DLQ_NONE },
		{ 128, "{\"k\":", "}", DLQ_json_too_deep },
		{ 63, "[{\"k\":", "}]", DLQ_NONE },		/* 127 levels */
		{ 64, "[{\"k\":", "}]", DLQ_json_too_deep },	/* 129 levels */
		{ 127, "[ ", " ]", DLQ_NONE },
		{ 128, "[ ", " ]", DLQ_json_too_deep },
	};
	struct event_decoder d;
	struct route r = test_route(4 * 1024 * 1024);
	struct event ev;

	cr_assert(event_decoder_init(&d, 4 * 1024 * 1024) == 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t len;
		char *b = make_nested(cases[i].depth, cases[i].open, cases[i].close, &len);
		enum dlq_reason why = event_decode(&d, &r, b, len, &ev);

		cr_expect(why == cases[i].want, "depth %zu of %s: got %s, want %s",
		    cases[i].depth, cases[i].open, dlq_reason_name(why),
		    dlq_reason_name(cases[i].want));
		if (why == DLQ_NONE)
			cr_expect(ev.value_len == len - 27,
			    "depth %zu: value length: got %zu, want %zu",
			    cases[i].depth, ev.value_len, len - 27);
		free(b);
	}
	/* Brackets inside strings do not count as nesting. */
	{
		char big[400];
		size_t len = (size_t)snprintf(big, sizeof(big),
		    "{\"event_id\":\"e\",\"payload\":\"%0300d\"}", 0);

		memset(big + 27, '[', 300);
		cr_expect(event_decode(&d, &r, big, len, &ev) == DLQ_NONE,
		    "300 [ inside a string: got a rejection, want none");
	}
	/* An empty innermost container is a level too. */
	for (size_t depth = 126; depth <= 128; depth++) {
		char b[320];
		size_t o = (size_t)snprintf(b, sizeof(b), "{\"event_id\":\"e\",\"payload\":");
		enum dlq_reason why, want = depth < 128 ? DLQ_NONE : DLQ_json_too_deep;

		memset(b + o, '[', depth);
		memset(b + o + depth, ']', depth);
		o += 2 * depth;
		b[o++] = '}';
		why = event_decode(&d, &r, b, o, &ev);
		cr_expect(why == want, "%zu empty [: got %s, want %s", depth,
		    dlq_reason_name(why), dlq_reason_name(want));
	}
	event_decoder_free(&d);
}

/*
 * Bodies that once made decoding quadratic (jsmn walked its token chain
 * at closing brackets): each took minutes at 1 MiB. The timeout is the
 * assertion.
 */
Test(event, adversarial_bodies_stay_linear, .timeout = 20)
{
	const size_t max = 1024 * 1024;
	char *b = malloc(max);
	struct event_decoder d;
	struct route r = test_route(max);
	struct event ev;
	enum dlq_reason why;
	size_t o, k;

	cr_assert(b != NULL);
	cr_assert(event_decoder_init(&d, max) == 0);

	/* A primitive that hides a quote from a naive scan, then deep nesting. */
	o = (size_t)snprintf(b, max, "{\"event_id\":\"e\",\"payload\":[t:\" ,");
	k = (max - o - 8) / 2;
	memset(b + o, '[', k);
	memset(b + o + k, ']', k);
	o += 2 * k;
	o += (size_t)snprintf(b + o, max - o, " \"]}");
	why = event_decode(&d, &r, b, o, &ev);
	cr_expect(why == DLQ_invalid_json, "hidden deep nesting: got %s, want invalid_json",
	    dlq_reason_name(why));

	/* After the object: a chain of strings, then stray closing braces. */
	o = (size_t)snprintf(b, max, "{\"event_id\":\"e\",\"payload\":1} :");
	while (o < max / 2)
		o += (size_t)snprintf(b + o, max - o, "\"a\":");
	b[o++] = '1';
	memset(b + o, '}', max - o);
	why = event_decode(&d, &r, b, max, &ev);
	cr_expect(why == DLQ_invalid_json, "closers after the object: got %s, want invalid_json",
	    dlq_reason_name(why));

	/* Allowed depth repeated over the whole body: slow-ish, but bounded. */
	o = (size_t)snprintf(b, max, "{\"event_id\":\"e\",\"payload\":[");
	while (o + 2 * 126 + 8 < max) {
		memset(b + o, '[', 126);
		memset(b + o + 126, ']', 126);
		o += 252;
		b[o++] = ',';
	}
	o += (size_t)snprintf(b + o, max - o, "1]}");
	why = event_decode(&d, &r, b, o, &ev);
	cr_expect(why == DLQ_NONE, "repeated depth 127: got %s, want none", dlq_reason_name(why));

	event_decoder_free(&d);
	free(b);
}

Test(event, big_body_at_the_decoder_bound)
{
	const size_t n = 100000;	/* array elements */
	size_t cap = 2 * n + 64, len, o;
	char *b = malloc(cap);
	struct event_decoder d;
	struct route r;
	struct event ev;
	enum dlq_reason why;

	cr_assert(b != NULL);
	o = (size_t)snprintf(b, cap, "{\"event_id\":\"big\",\"payload\":[");
	for (size_t i = 0; i < n; i++) {
		b[o++] = '7';
		b[o++] = i + 1 < n ? ',' : ']';
	}
	b[o++] = '}';
	len = o;

	/* The decoder's bound is exactly this body's size. */
	r = test_route(len);
	cr_assert(event_decoder_init(&d, len) == 0);
	why = event_decode(&d, &r, b, len, &ev);
	cr_expect(why == DLQ_NONE, "big body: got %s, want none", dlq_reason_name(why));
	cr_expect(ev.value_len == 2 * n + 1, "value length: got %zu, want %zu",
	    ev.value_len, 2 * n + 1);
	cr_expect(ev.value == b + 28, "value offset: got %td, want 28",
	    (const char *)ev.value - b);

	/* The same decoder, a small body, then the big one again. */
	{
		const char *small = "{\"event_id\":\"s\",\"payload\":[1,2]}";

		why = event_decode(&d, &r, small, strlen(small), &ev);
		cr_expect(why == DLQ_NONE, "small body: got %s, want none", dlq_reason_name(why));
		why = event_decode(&d, &r, b, len, &ev);
		cr_expect(why == DLQ_NONE, "big body again: got %s, want none", dlq_reason_name(why));
	}
	free(b);
	event_decoder_free(&d);
	cr_expect(d.max_bytes == 0, "after free: got max_bytes %zu, want 0", d.max_bytes);
}

/*
 * Strings (member names too) must be UTF-8 (RFC 3629): every sequence
 * class at every offset of a string scanned 8 bytes at a time, and the
 * ill-formed ones (overlong, surrogates, above U+10FFFF, cut short, a
 * lone continuation byte) refused as invalid_utf8 with a detail.
 */
Test(event, utf8_strings)
{
	static const struct {
		const char *seq;
		enum dlq_reason want;
	} cases[] = {
		{ "\xc3\xa9", DLQ_NONE },			/* U+00E9 */
		{ "\xc2\x80", DLQ_NONE },			/* U+0080, the first of two bytes */
		{ "\xdf\xbf", DLQ_NONE },			/* U+07FF */
		{ "\xe0\xa0\x80", DLQ_NONE },		/* U+0800 */
		{ "\xe2\x82\xac", DLQ_NONE },		/* U+20AC */
		{ "\xed\x9f\xbf", DLQ_NONE },		/* U+D7FF */
		{ "\xee\x80\x80", DLQ_NONE },		/* U+E000 */
		{ "\xef\xbf\xbf", DLQ_NONE },		/* U+FFFF */
		{ "\xf0\x90\x80\x80", DLQ_NONE },		/* U+10000 */
		{ "\xf0\x9f\x98\x80", DLQ_NONE },		/* U+1F600 */
		{ "\xf4\x8f\xbf\xbf", DLQ_NONE },		/* U+10FFFF */
		{ "\x80", DLQ_invalid_utf8 },		/* lone continuation */
		{ "\xbf", DLQ_invalid_utf8 },
		{ "\xc0\xaf", DLQ_invalid_utf8 },		/* overlong '/' */
		{ "\xc1\xbf", DLQ_invalid_utf8 },
		{ "\xe0\x80\xaf", DLQ_invalid_utf8 },	/* overlong */
		{ "\xe0\x9f\xbf", DLQ_invalid_utf8 },
		{ "\xed\xa0\x80", DLQ_invalid_utf8 },	/* U+D800, a surrogate */
		{ "\xed\xbf\xbf", DLQ_invalid_utf8 },	/* U+DFFF */
		{ "\xf0\x80\x80\xaf", DLQ_invalid_utf8 },	/* overlong */
		{ "\xf4\x90\x80\x80", DLQ_invalid_utf8 },	/* U+110000 */
		{ "\xf5\x80\x80\x80", DLQ_invalid_utf8 },
		{ "\xff", DLQ_invalid_utf8 },
		{ "\xc3", DLQ_invalid_utf8 },		/* cut short by the quote */
		{ "\xe2\x82", DLQ_invalid_utf8 },
		{ "\xf0\x9f\x98", DLQ_invalid_utf8 },
		{ "\xc3\x41", DLQ_invalid_utf8 },		/* not a continuation */
		{ "\xe2\x28\xa1", DLQ_invalid_utf8 },
	};
	struct event_decoder d;
	struct route r = test_route(MAX_BYTES);
	struct event ev;
	char body[160], b1[512];

	cr_assert(event_decoder_init(&d, MAX_BYTES) == 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = strlen(cases[i].seq);

		for (size_t k = 0; k + n <= 20; k++) {
			/* The id, a member name, a string in an array. */
			static const char *const pre[] = {
				"{\"event_id\":\"", "{\"event_id\":\"e\",\"payload\":{\"",
				"{\"event_id\":\"e\",\"payload\":[\"",
			};
			static const char *const post[] = {
				"\",\"payload\":1}", "\":[\"x\"]}}", "\"]}",
			};
			char text[24];

			memset(text, 'a', 20);
			memcpy(text + k, cases[i].seq, n);
			text[20] = '\0';
			for (size_t f = 0; f < 3; f++) {
				size_t o = (size_t)snprintf(body, sizeof(body), "%s%s%s", pre[f], text,
				    post[f]);
				enum dlq_reason why = event_decode(&d, &r, body, o, &ev);
				struct json_span sp;
				int rc = json_paths(body, o, NULL, 0, &sp);

				cr_expect(why == cases[i].want, "\"%s\": got %s, want %s",
				    show(b1, sizeof(b1), body, o), dlq_reason_name(why),
				    dlq_reason_name(cases[i].want));
				cr_expect((rc == 0) == (cases[i].want == DLQ_NONE) &&
				    (rc == 0 || rc == JSON_ERR_UTF8),
				    "json_paths \"%s\": got %d", show(b1, sizeof(b1), body, o), rc);
				if (why == DLQ_invalid_utf8)
					cr_expect(strstr(ev.detail, "UTF-8") != NULL,
					    "detail: got \"%s\"", ev.detail);
				else
					cr_expect(ev.detail[0] == '\0', "detail: got \"%s\"", ev.detail);
			}
		}
	}
	event_decoder_free(&d);
}

/*
 * Strings are scanned several bytes at a time: put every byte value at
 * every offset of a string (the id, read as text, and the payload, which
 * ends the body) and check it is found exactly where it is.
 */
Test(event, every_byte_at_every_offset_in_a_string)
{
	struct event_decoder d;
	struct route r = test_route(MAX_BYTES);
	struct event ev;
	char body[128], b1[256];

	cr_assert(event_decoder_init(&d, MAX_BYTES) == 0);
	for (unsigned c = 0; c < 256; c++) {
		for (size_t k = 0; k < 18; k++) {
			char text[18];
			/*
			 * A control byte ends nothing, '"' ends the string, '\\'
			 * escapes 'a'; no byte >= 0x80 is UTF-8 alone.
			 */
			enum dlq_reason want = c < 0x20 || c == '"' || c == '\\' ?
			    DLQ_invalid_json : c >= 0x80 ? DLQ_invalid_utf8 : DLQ_NONE;
			enum dlq_reason why;
			size_t o;

			memset(text, 'a', sizeof(text));
			text[k] = (char)c;

			o = (size_t)snprintf(body, sizeof(body), "{\"event_id\":\"");
			memcpy(body + o, text, sizeof(text));
			o += sizeof(text);
			o += (size_t)snprintf(body + o, sizeof(body) - o, "\",\"payload\":1}");
			why = event_decode(&d, &r, body, o, &ev);
			cr_expect(why == want, "byte 0x%02x at %zu of the id: \"%s\": got %s, want %s",
			    c, k, show(b1, sizeof(b1), body, o), dlq_reason_name(why),
			    dlq_reason_name(want));
			if (why == DLQ_NONE)
				cr_expect(ev.id_len == sizeof(text) &&
				    memcmp(ev.id, text, sizeof(text)) == 0,
				    "byte 0x%02x at %zu of the id: got \"%s\"", c, k,
				    show(b1, sizeof(b1), ev.id, ev.id_len));

			o = (size_t)snprintf(body, sizeof(body), "{\"event_id\":\"e\",\"payload\":\"");
			memcpy(body + o, text, sizeof(text));
			o += sizeof(text);
			body[o++] = '"';
			body[o++] = '}';
			why = event_decode(&d, &r, body, o, &ev);
			cr_expect(why == want, "byte 0x%02x at %zu of the payload: \"%s\": got %s, want %s",
			    c, k, show(b1, sizeof(b1), body, o), dlq_reason_name(why),
			    dlq_reason_name(want));
			if (why == DLQ_NONE)
				cr_expect(ev.value_len == sizeof(text) + 2 &&
				    memcmp((const char *)ev.value + 1, text, sizeof(text)) == 0,
				    "byte 0x%02x at %zu of the payload: got \"%s\"", c, k,
				    show(b1, sizeof(b1), ev.value, ev.value_len));
		}
	}
	/* An escape at every offset of the id: 19 bytes, 18 once unescaped. */
	for (size_t k = 0; k < 18; k++) {
		char want[19];
		size_t o = (size_t)snprintf(body, sizeof(body), "{\"event_id\":\"");
		enum dlq_reason why;

		memset(body + o, 'a', 19);
		memcpy(body + o + k, "\\n", 2);
		o += 19;
		o += (size_t)snprintf(body + o, sizeof(body) - o, "\",\"payload\":1}");
		memset(want, 'a', 18);
		want[k] = '\n';
		want[18] = '\0';
		why = event_decode(&d, &r, body, o, &ev);
		cr_expect(why == DLQ_NONE && strcmp(ev.id, want) == 0,
		    "escape at %zu: \"%s\": got %s \"%s\"", k, show(b1, 128, body, o),
		    dlq_reason_name(why), show(b1 + 128, 128, ev.id, ev.id_len));
	}
	event_decoder_free(&d);
}

Test(event, decoder_bound_smaller_than_route)
{
	/* A route allowing more than the decoder was sized for: too large. */
	struct event_decoder d;
	struct route r = test_route(MAX_BYTES);
	struct event ev;
	char body[1024];
	size_t o = (size_t)snprintf(body, sizeof(body), "{\"event_id\":\"e\",\"payload\":[");
	enum dlq_reason why;

	for (int i = 0; i < 300; i++)
		o += (size_t)snprintf(body + o, sizeof(body) - o, "%s1", i ? "," : "");
	o += (size_t)snprintf(body + o, sizeof(body) - o, "]}");
	cr_assert(event_decoder_init(&d, 64) == 0);
	why = event_decode(&d, &r, body, o, &ev);
	cr_expect(why == DLQ_too_large, "got %s, want too_large", dlq_reason_name(why));
	event_decoder_free(&d);
}

Test(event, decoder_init_bounds)
{
	struct event_decoder d;

	cr_expect(event_decoder_init(&d, 0) == -1, "max 0: got success, want -1");
	cr_expect(event_decoder_init(&d, (size_t)1 << 40) == -1, "max 2^40: got success, want -1");
	cr_expect(event_decoder_init(&d, 1048576) == 0, "max 1 MiB: got -1, want 0");
	cr_expect(d.max_bytes == 1048576, "max_bytes: got %zu, want 1048576", d.max_bytes);
	event_decoder_free(&d);
}

struct unescape_case {
	const char *name;
	const char *src;
	size_t cap;
	long want_len;		/* -1: rejected */
	const char *want;
};

static const struct unescape_case unescape_cases[] = {
	{ "empty", "", 16, 0, "" },
	{ "plain", "abc", 16, 3, "abc" },
	{ "exact fit", "abc", 3, 3, "abc" },
	{ "one short", "abcd", 3, JSON_ERR_TOO_LONG, NULL },
	{ "simple escapes", "\\\"\\\\\\/\\b\\f\\n\\r\\t", 16, 8, "\"\\/\b\f\n\r\t" },
	{ "ascii", "\\u0041z", 16, 2, "Az" },
	{ "two bytes", "\\u00e9", 16, 2, "\xc3\xa9" },
	{ "two bytes upper", "\\u00E9", 16, 2, "\xc3\xa9" },
	{ "max two bytes", "\\u07ff", 16, 2, "\xdf\xbf" },
	{ "three bytes", "\\u20ac", 16, 3, "\xe2\x82\xac" },
	{ "max three bytes", "\\uffff", 16, 3, "\xef\xbf\xbf" },
	{ "surrogate pair", "\\ud83d\\ude00", 16, 4, "\xf0\x9f\x98\x80" },
	{ "surrogate pair upper", "\\uD83D\\uDE00", 16, 4, "\xf0\x9f\x98\x80" },
	{ "lowest pair", "\\ud800\\udc00", 16, 4, "\xf0\x90\x80\x80" },
	{ "highest pair", "\\udbff\\udfff", 16, 4, "\xf4\x8f\xbf\xbf" },
	{ "NUL", "a\\u0000b", 16, 3, "a\0b" },
	{ "raw UTF-8", "\xc3\xa9", 16, 2, "\xc3\xa9" },
	{ "escape does not fit", "\\u20ac", 2, JSON_ERR_TOO_LONG, NULL },
	{ "pair does not fit", "\\ud83d\\ude00", 3, JSON_ERR_TOO_LONG, NULL },
	{ "invalid escape", "\\x", 16, -1, NULL },
	{ "escaped single quote", "\\'", 16, -1, NULL },
	{ "backslash at end", "ab\\", 16, -1, NULL },
	{ "short \\u", "\\u12", 16, -1, NULL },
	{ "non-hex \\u", "\\u12g4", 16, -1, NULL },
	{ "lone high surrogate", "\\ud800", 16, -1, NULL },
	{ "high then text", "\\ud800xxxxxx", 16, -1, NULL },
	{ "high then non-surrogate", "\\ud800\\u0041", 16, -1, NULL },
	{ "two highs", "\\ud800\\ud800", 16, -1, NULL },
	{ "lone low surrogate", "\\udc00", 16, -1, NULL },
	{ "low then high", "\\udc00\\ud800", 16, -1, NULL },
	{ "raw control char", "a\x01", 16, -1, NULL },
	{ "raw newline", "a\nb", 16, -1, NULL },
	{ "raw quote", "a\"b", 16, -1, NULL },
};

Test(event, json_unescape)
{
	char out[64], b1[128], b2[128];

	for (size_t i = 0; i < sizeof(unescape_cases) / sizeof(unescape_cases[0]); i++) {
		const struct unescape_case *c = &unescape_cases[i];
		long n = json_unescape(c->src, strlen(c->src), out, c->cap);

		cr_expect(n == c->want_len, "%s: length: got %ld, want %ld", c->name, n, c->want_len);
		if (n >= 0 && n == c->want_len)
			cr_expect(memcmp(out, c->want, (size_t)n) == 0, "%s: got \"%s\", want \"%s\"",
			    c->name, show(b1, sizeof(b1), out, (size_t)n),
			    show(b2, sizeof(b2), c->want, (size_t)c->want_len));
	}
}

/* ---- json_paths ---- */

/* A route_path from "a.b.0" (segments point into its own copy of the text). */
static void
path_init(struct route_path *p, const char *text)
{
	char *s;

	memset(p, 0, sizeof(*p));
	p->text = strdup(text);
	cr_assert(p->text != NULL);
	if (*text == '\0')
		return;		/* no segment: the top-level value */
	for (s = p->text;; s++) {
		char *dot = strchr(s, '.');
		size_t n = dot != NULL ? (size_t)(dot - s) : strlen(s);

		cr_assert(p->nseg < ROUTE_PATH_MAX_SEGMENTS, "path %s: too many segments", text);
		p->seg[p->nseg] = s;
		p->seglen[p->nseg++] = n;
		if (dot == NULL)
			break;
		s = dot;
	}
}

static const char *
kind_name(enum json_kind k)
{
	static const char *const names[] = {
		"absent", "string", "number", "object", "array", "true", "false", "null",
	};
	return (unsigned)k < sizeof(names) / sizeof(names[0]) ? names[k] : "?";
}

struct path_case {
	const char *name;
	const char *body;
	const char *path;
	const char *want;	/* the span's bytes; NULL: absent */
	enum json_kind kind;
	long off;		/* where the span starts; -1: the first occurrence of want */
	int escaped;
};

static const struct path_case path_cases[] = {
	{ "top-level member", "{\"a\":1,\"b\":2}", "b", "2", JSON_NUMBER, -1, 0 },
	{ "nested member", "{\"a\":{\"b\":{\"c\":true}}}", "a.b.c", "true", JSON_TRUE, -1, 0 },
	{ "nested object span", "{\"a\":{\"b\":{\"c\":true}},\"z\":0}", "a.b", "{\"c\":true}",
	  JSON_OBJECT, -1, 0 },
	{ "span without whitespace around", "{ \"a\" : [ 1 , 2 ] , \"b\":0 }", "a", "[ 1 , 2 ]",
	  JSON_ARRAY, -1, 0 },
	{ "array index 0", "{\"a\":[10,[20,21],{\"x\":\"y\"}]}", "a.0", "10", JSON_NUMBER, -1, 0 },
	{ "array in array", "{\"a\":[10,[20,21],{\"x\":\"y\"}]}", "a.1.1", "21", JSON_NUMBER, -1, 0 },
	{ "object in array, string keeps quotes", "{\"a\":[10,[20,21],{\"x\":\"y\"}]}", "a.2.x",
	  "\"y\"", JSON_STRING, -1, 0 },
	{ "index past the end", "{\"a\":[10,[20,21]]}", "a.2", NULL, JSON_ABSENT, 0, 0 },
	{ "index with a leading zero", "{\"a\":[10,11]}", "a.01", NULL, JSON_ABSENT, 0, 0 },
	{ "index 00", "{\"a\":[10,11]}", "a.00", NULL, JSON_ABSENT, 0, 0 },
	{ "negative index", "{\"a\":[10,11]}", "a.-1", NULL, JSON_ABSENT, 0, 0 },
	{ "index 10", "[0,1,2,3,4,5,6,7,8,9,\"ten\",11]", "10", "\"ten\"", JSON_STRING, -1, 0 },
	{ "huge index", "[0,1]", "18446744073709551616", NULL, JSON_ABSENT, 0, 0 },
	{ "digits also name a member", "{\"a\":{\"0\":\"m\"}}", "a.0", "\"m\"", JSON_STRING, -1, 0 },
	{ "top-level array", "[1,{\"k\":[null]}]", "1.k.0", "null", JSON_NULL, -1, 0 },
	{ "top-level scalar has no members", "\"a\"", "a", NULL, JSON_ABSENT, 0, 0 },
	{ "the whole value", " {\"a\":1} ", "", "{\"a\":1}", JSON_OBJECT, 1, 0 },
	{ "member of a scalar", "{\"a\":\"str\"}", "a.b", NULL, JSON_ABSENT, 0, 0 },
	{ "index into a string", "{\"a\":\"str\"}", "a.0", NULL, JSON_ABSENT, 0, 0 },
	{ "index into an object", "{\"a\":{\"x\":1}}", "a.0", NULL, JSON_ABSENT, 0, 0 },
	{ "member of an array", "{\"a\":[{\"b\":1}]}", "a.b", NULL, JSON_ABSENT, 0, 0 },
	{ "deeper than the body", "{\"a\":{\"b\":{}}}", "a.b.c.d", NULL, JSON_ABSENT, 0, 0 },
	{ "false", "{\"a\":false}", "a", "false", JSON_FALSE, -1, 0 },
	{ "negative number", "{\"a\":-1.5e+3}", "a", "-1.5e+3", JSON_NUMBER, -1, 0 },
	{ "empty array", "{\"a\":[]}", "a", "[]", JSON_ARRAY, -1, 0 },
	{ "empty array has no index 0", "{\"a\":[]}", "a.0", NULL, JSON_ABSENT, 0, 0 },
	{ "escaped string value", "{\"a\":\"x\\ny\"}", "a", "\"x\\ny\"", JSON_STRING, -1, 1 },
	{ "first occurrence wins", "{\"a\":1,\"a\":2}", "a", "1", JSON_NUMBER, -1, 0 },
	{ "first occurrence wins, nested", "{\"a\":{\"b\":1},\"a\":{\"b\":2}}", "a.b", "1",
	  JSON_NUMBER, -1, 0 },
	{ "first value in document order", "{\"a\":{\"x\":0},\"a\":{\"b\":2}}", "a.b", "2",
	  JSON_NUMBER, -1, 0 },
	{ "same name deeper does not count", "{\"x\":{\"a\":1},\"a\":2}", "a", "2", JSON_NUMBER,
	  17, 0 },
	{ "escaped member name", "{\"a\\u0062\":1}", "ab", "1", JSON_NUMBER, -1, 0 },
	{ "escaped name, all escapes", "{\"\\u0061\\u0062\":[7]}", "ab.0", "7", JSON_NUMBER, -1, 0 },
	{ "escaped quote in a name", "{\"a\\\"b\":3}", "a\"b", "3", JSON_NUMBER, -1, 0 },
	{ "escaped two-byte name", "{\"\\u00e9\":4}", "\xc3\xa9", "4", JSON_NUMBER, -1, 0 },
	{ "raw two-byte name", "{\"\xc3\xa9\":4}", "\xc3\xa9", "4", JSON_NUMBER, -1, 0 },
	{ "surrogate pair name", "{\"\\ud83d\\ude00\":5}", "\xf0\x9f\x98\x80", "5", JSON_NUMBER,
	  -1, 0 },
	{ "lone surrogate name matches nothing", "{\"\\ud83d\":5}", "\xed\xa0\xbd", NULL,
	  JSON_ABSENT, 0, 0 },
	{ "escaped name longer than the segment", "{\"ab\\u0063\":1}", "ab", NULL, JSON_ABSENT, 0, 0 },
	{ "escaped name shorter than the segment", "{\"a\\u0062\":1}", "abc", NULL, JSON_ABSENT,
	  0, 0 },
	{ "escaped slash", "{\"a\\/b\":6}", "a/b", "6", JSON_NUMBER, -1, 0 },
	{ "names are case-sensitive", "{\"A\":1}", "a", NULL, JSON_ABSENT, 0, 0 },
	{ "empty name", "{\"\":{\"\":8}}", ".", "8", JSON_NUMBER, -1, 0 },
};

Test(json_paths, one_path_at_a_time)
{
	char b1[256], b2[256];

	for (size_t i = 0; i < sizeof(path_cases) / sizeof(path_cases[0]); i++) {
		const struct path_case *c = &path_cases[i];
		struct route_path p;
		const struct route_path *pp = &p;
		struct json_span sp;
		int rc;

		path_init(&p, c->path);
		rc = json_paths(c->body, strlen(c->body), &pp, 1, &sp);
		cr_expect(rc == 0, "%s: got %d, want 0", c->name, rc);
		cr_expect(sp.kind == c->kind, "%s: kind: got %s, want %s", c->name,
		    kind_name(sp.kind), kind_name(c->kind));
		if (c->want == NULL) {
			cr_expect(sp.start == NULL && sp.len == 0, "%s: got a span, want none", c->name);
		} else {
			long off = c->off >= 0 ? c->off : (long)(strstr(c->body, c->want) - c->body);

			cr_expect(same(sp.start, sp.len, c->want), "%s: got \"%s\", want \"%s\"", c->name,
			    show(b1, sizeof(b1), sp.start, sp.len),
			    show(b2, sizeof(b2), c->want, strlen(c->want)));
			cr_expect(sp.start == c->body + off, "%s: offset: got %td, want %ld", c->name,
			    sp.start - c->body, off);
			cr_expect(sp.escaped == c->escaped, "%s: escaped: got %d, want %d", c->name,
			    sp.escaped, c->escaped);
		}
		free(p.text);
	}
}

/* Any value at the top level is JSON; the seed-only rejections are not errors here. */
Test(json_paths, grammar)
{
	static const char *const seed_only[] = { "null", "array", "string", "number" };
	static const struct {
		const char *body;
		int want;
	} more[] = {
		{ "1", 0 }, { " -0.5e-3 ", 0 }, { "[]", 0 }, { "\"x\"", 0 }, { "true", 0 },
		{ "false", 0 }, { "null", 0 }, { "{}", 0 }, { "[[],{}]", 0 },
		{ "", -1 }, { " ", -1 }, { "1 2", -1 }, { "[1,]", -1 }, { "{} {}", -1 },
		{ "[", -1 }, { "]", -1 }, { "\"", -1 }, { "tru", -1 }, { "01", -1 },
		{ "[1}", -1 }, { "{\"a\"}", -1 }, { "nul", -1 }, { "-", -1 }, { "[\"\\x\"]", -1 },
	};
	struct route_path p;
	const struct route_path *pp = &p;
	struct json_span sp;
	char b1[512];

	path_init(&p, "event_id");
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *c = &bad_cases[i];
		size_t len = c->len != 0 ? c->len : strlen(c->body);
		int want = c->want == DLQ_invalid_json ? -1 : 0, rc;

		for (size_t k = 0; k < sizeof(seed_only) / sizeof(seed_only[0]); k++)
			if (strcmp(c->name, seed_only[k]) == 0)
				want = 0;
		rc = json_paths(c->body, len, &pp, 1, &sp);
		cr_expect(rc == want, "%s: \"%s\": got %d, want %d", c->name,
		    show(b1, sizeof(b1), c->body, len), rc, want);
		if (rc < 0)
			cr_expect(sp.kind == JSON_ABSENT && sp.start == NULL,
			    "%s: got a span after a rejection, want none", c->name);
	}
	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		const char *b = ok_cases[i].body;

		cr_expect(json_paths(b, strlen(b), &pp, 1, &sp) == 0, "%s: got -1, want 0",
		    ok_cases[i].name);
	}
	for (size_t i = 0; i < sizeof(more) / sizeof(more[0]); i++) {
		int rc = json_paths(more[i].body, strlen(more[i].body), NULL, 0, NULL);

		cr_expect(rc == more[i].want, "\"%s\": got %d, want %d", more[i].body, rc,
		    more[i].want);
	}
	free(p.text);
}

/* The three seed paths find exactly what the seed decoder finds. */
Test(json_paths, agrees_with_the_seed_decoder)
{
	struct event_decoder d;
	struct route r = test_route(MAX_BYTES);
	struct route_path p[3];
	const struct route_path *pp[3] = { &p[0], &p[1], &p[2] };
	struct json_span sp[3];
	struct event ev;
	char u[EVENT_ID_MAX];

	path_init(&p[0], "event_id");
	path_init(&p[1], "correlation_id");
	path_init(&p[2], "payload");
	cr_assert(event_decoder_init(&d, MAX_BYTES) == 0);
	for (size_t i = 0; i < sizeof(ok_cases) / sizeof(ok_cases[0]); i++) {
		const struct ok_case *c = &ok_cases[i];
		long n;

		cr_assert(event_decode(&d, &r, c->body, strlen(c->body), &ev) == DLQ_NONE);
		cr_assert(json_paths(c->body, strlen(c->body), pp, 3, sp) == 0, "%s", c->name);
		cr_expect(sp[2].start == ev.value && sp[2].len == ev.value_len,
		    "%s: payload span differs from the decoder's value", c->name);
		cr_expect(sp[0].kind == JSON_STRING, "%s: event_id kind %s", c->name,
		    kind_name(sp[0].kind));
		n = json_unescape(sp[0].start + 1, sp[0].len - 2, u, sizeof(u));
		cr_expect(n == (long)ev.id_len && memcmp(u, ev.id, ev.id_len) == 0,
		    "%s: event_id span does not unescape to the id", c->name);
		cr_expect((c->corr != NULL) == (sp[1].kind == JSON_STRING),
		    "%s: correlation_id: got kind %s", c->name, kind_name(sp[1].kind));
	}
	event_decoder_free(&d);
	for (int i = 0; i < 3; i++)
		free(p[i].text);
}

Test(json_paths, depth_bound)
{
	static const struct {
		size_t depth;
		int want;
	} cases[] = { { 1, 0 }, { 127, 0 }, { 128, 0 }, { 129, JSON_ERR_DEPTH },
		{ 100000, JSON_ERR_DEPTH } };
	struct route_path p;
	const struct route_path *pp = &p;
	struct json_span sp;

	/* 16 segments "0.0.0...": the deepest path a route may have. */
	path_init(&p, "0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		size_t n = cases[i].depth, len = 2 * n + 1;
		char *b = malloc(len);
		int rc;

		cr_assert(b != NULL);
		memset(b, '[', n);
		b[n] = '7';
		memset(b + n + 1, ']', n);
		rc = json_paths(b, len, &pp, 1, &sp);
		cr_expect(rc == cases[i].want, "%zu nested arrays: got %d, want %d", n, rc,
		    cases[i].want);
		if (rc == 0 && n >= 17)
			cr_expect(sp.kind == JSON_ARRAY && sp.start == b + 16 && sp.len == 2 * (n - 16) + 1,
			    "%zu nested arrays: 16 indices deep: got %s at %td (%zu bytes)", n,
			    kind_name(sp.kind), sp.start - b, sp.len);
		if (rc == 0 && n == 1)
			cr_expect(sp.kind == JSON_ABSENT, "1 array: got %s, want absent",
			    kind_name(sp.kind));
		free(b);
	}
	free(p.text);
}

Test(json_paths, sixty_four_paths)
{
	char body[4096], name[64][8], want[64][16];
	struct route_path p[64];
	const struct route_path *pp[64];
	struct json_span sp[64];
	size_t o = 0;

	/* {"k0":0,"k1":"s1",...}, and paths k0..k62 plus one nested in k63. */
	o += (size_t)snprintf(body + o, sizeof(body) - o, "{");
	for (int i = 0; i < 64; i++) {
		snprintf(name[i], sizeof(name[i]), "k%d", i);
		if (i == 63)
			snprintf(want[i], sizeof(want[i]), "[%d]", i);
		else if (i % 2)
			snprintf(want[i], sizeof(want[i]), "\"s%d\"", i);
		else
			snprintf(want[i], sizeof(want[i]), "%d", i);
		o += (size_t)snprintf(body + o, sizeof(body) - o, "%s\"%s\":{\"x\":%s}",
		    i ? "," : "", name[i], want[i]);
	}
	o += (size_t)snprintf(body + o, sizeof(body) - o, "}");
	for (int i = 0; i < 64; i++) {
		char path[16];

		snprintf(path, sizeof(path), "%s.x", name[i]);
		path_init(&p[i], path);
		pp[i] = &p[i];
	}
	/* The last path twice: both get the span. */
	pp[62] = &p[63];
	cr_assert(json_paths(body, o, pp, 64, sp) == 0);
	for (int i = 0; i < 64; i++) {
		int k = i == 62 ? 63 : i;
		char b1[64];

		cr_expect(same(sp[i].start, sp[i].len, want[k]), "path %d: got \"%s\", want \"%s\"",
		    i, show(b1, sizeof(b1), sp[i].start, sp[i].len), want[k]);
	}
	for (int i = 0; i < 64; i++)
		free(p[i].text);
}

Test(route, implicit)
{
	static const struct {
		const char *queue, *dlq, *topic;
		int declare;
		const char *want_dlq;
	} cases[] = {
		{ "events", "", "topic-a", 1, "events.dlq" },
		{ "orders", "orders-dead", "topic-b", 0, "orders-dead" },
		{ "q", NULL, "t", 1, "q.dlq" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct er_config cfg;
		struct route r;

		memset(&cfg, 0, sizeof(cfg));
		cfg.amqp_queue = (char *)cases[i].queue;
		cfg.amqp_dlq = (char *)cases[i].dlq;
		cfg.kafka_topic = (char *)cases[i].topic;
		cfg.amqp_declare = cases[i].declare;
		cfg.max_message_bytes = 4096;
		cr_assert(route_implicit(&r, &cfg) == 0, "case %zu: got -1, want 0", i);
		cr_expect(strcmp(r.name, "default") == 0, "name: got %s, want default", r.name);
		cr_expect(strcmp(r.queue, cases[i].queue) == 0, "queue: got %s, want %s",
		    r.queue, cases[i].queue);
		cr_expect(r.queue != cfg.amqp_queue, "queue: got the config's pointer, want a copy");
		cr_expect(strcmp(r.topic, cases[i].topic) == 0, "topic: got %s, want %s",
		    r.topic, cases[i].topic);
		cr_expect(strcmp(r.dlq, cases[i].want_dlq) == 0, "dlq: got %s, want %s",
		    r.dlq, cases[i].want_dlq);
		cr_expect(r.declare == cases[i].declare, "declare: got %d, want %d",
		    r.declare, cases[i].declare);
		cr_expect(r.max_message_bytes == 4096, "max_message_bytes: got %zu, want 4096",
		    r.max_message_bytes);
		cr_expect(r.format == ROUTE_FMT_SEED_JSON, "format: got %d, want seed", (int)r.format);
		route_free(&r);
		cr_expect(r.name == NULL && r.dlq == NULL, "after route_free: got pointers, want NULL");
	}
}
