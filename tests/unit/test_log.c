/*
 * log: log_repeat (a failure that repeats is logged at warn once per
 * distinct message, then at most every LOG_REPEAT_MS with the count of
 * repeats; the repeats in between go to debug only); the text and JSON
 * line formats (escaping, cutting); the file target and its reopen.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <criterion/criterion.h>
#include <criterion/redirect.h>

#include "common/log.h"

/* The lines written to stderr, concatenated without their time prefix. */
static void
read_lines(char *out, size_t outsz)
{
	FILE *f = cr_get_redirected_stderr();
	char line[1024];
	size_t n = 0;

	fflush(stderr);
	out[0] = '\0';
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *p = strstr(line, "] ");

		p = p != NULL ? p + 2 : line;
		n += (size_t)snprintf(out + n, outsz - n, "%s", p);
		if (n >= outsz)
			break;
	}
}

Test(log, repeat_is_warned_once_then_every_minute, .init = cr_redirect_stderr)
{
	struct log_repeat r = { 0 };
	char got[4096];

	log_open(LOG_TO_STDERR, LOG_LVL_INFO);
	log_repeat(&r, 1000, "connect %s: refused", "a");	/* first: warn */
	log_repeat(&r, 2000, "connect %s: refused", "a");	/* repeat: debug */
	log_repeat(&r, 30000, "connect %s: refused", "a");	/* repeat: debug */
	log_repeat(&r, 61000, "connect %s: refused", "a");	/* a minute on: warn, 2 repeats */
	log_repeat(&r, 62000, "connect %s: vhost not found", "a");	/* new text: warn */
	log_repeat(&r, 63000, "connect %s: vhost not found", "a");	/* debug */
	log_repeat_reset(&r);					/* connected */
	log_repeat(&r, 64000, "connect %s: vhost not found", "a");	/* warn again */
	read_lines(got, sizeof(got));
	cr_expect_str_eq(got,
	    "warn: connect a: refused\n"
	    "warn: connect a: refused (2 more times since the last report)\n"
	    "warn: connect a: vhost not found\n"
	    "warn: connect a: vhost not found\n",
	    "got:\n%s", got);
}

/* ---- log_format_line ---- */

static const struct log_line line_base = {
	.time = { 1796183981, 6789000 },	/* 2026-12-02T03:59:41.006Z */
	.level = LOG_LVL_INFO,
	.process = "worker 1",
	.pid = 8439,
	.msg = "",
};

#define JSON_HEAD(level, process) \
	"{\"time\":\"2026-12-02T03:59:41.006Z\",\"level\":\"" level "\",\"process\":\"" \
	process "\",\"pid\":8439,\"msg\":\""

static const struct {
	const char *name;
	enum log_level level;
	const char *process, *msg, *want;
} json_cases[] = {
	{ "plain", LOG_LVL_INFO, "worker 1", "started: queue events -> topic t",
	  JSON_HEAD("info", "worker 1") "started: queue events -> topic t\"}\n" },
	{ "empty", LOG_LVL_DEBUG, "master", "", JSON_HEAD("debug", "master") "\"}\n" },
	{ "levels: error", LOG_LVL_ERROR, "master", "x", JSON_HEAD("error", "master") "x\"}\n" },
	{ "levels: warn", LOG_LVL_WARN, "master", "x", JSON_HEAD("warn", "master") "x\"}\n" },
	{ "quotes", LOG_LVL_INFO, "worker 1", "event \"ev-1\": done",
	  JSON_HEAD("info", "worker 1") "event \\\"ev-1\\\": done\"}\n" },
	{ "backslashes", LOG_LVL_INFO, "worker 1", "C:\\dir\\ and \\\\",
	  JSON_HEAD("info", "worker 1") "C:\\\\dir\\\\ and \\\\\\\\\"}\n" },
	{ "newline, tab, cr", LOG_LVL_INFO, "worker 1", "a\nb\tc\rd",
	  JSON_HEAD("info", "worker 1") "a\\u000ab\\u0009c\\u000dd\"}\n" },
	{ "other control bytes", LOG_LVL_INFO, "worker 1", "\x01\x1b[1m\x1f",
	  JSON_HEAD("info", "worker 1") "\\u0001\\u001b[1m\\u001f\"}\n" },
	{ "DEL and slash as they are", LOG_LVL_INFO, "worker 1", "a/b\x7f",
	  JSON_HEAD("info", "worker 1") "a/b\x7f\"}\n" },
	{ "UTF-8 passed through", LOG_LVL_INFO, "worker 1", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	  JSON_HEAD("info", "worker 1") "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}\n" },
	{ "invalid UTF-8 passed through", LOG_LVL_INFO, "worker 1", "\xff\xc3(",
	  JSON_HEAD("info", "worker 1") "\xff\xc3(\"}\n" },
	{ "process escaped too", LOG_LVL_INFO, "w\"1", "x", JSON_HEAD("info", "w\\\"1") "x\"}\n" },
};

Test(log, json_lines)
{
	for (size_t i = 0; i < sizeof(json_cases) / sizeof(json_cases[0]); i++) {
		struct log_line l = line_base;
		char got[1024];
		size_t n;

		l.level = json_cases[i].level;
		l.process = json_cases[i].process;
		l.msg = json_cases[i].msg;
		n = log_format_line(got, sizeof(got), LOG_FMT_JSON, &l);
		cr_expect_str_eq(got, json_cases[i].want, "%s: got\n%s\nwant\n%s", json_cases[i].name,
		    got, json_cases[i].want);
		cr_expect(n == strlen(got), "%s: length: got %zu, want %zu", json_cases[i].name, n,
		    strlen(got));
	}
}

Test(log, text_line)
{
	struct log_line l = line_base;
	const char *want = "2026-12-02T03:59:41.006Z worker 1[8439] warn: a \"b\"\n";
	char got[256];

	l.level = LOG_LVL_WARN;
	l.msg = "a \"b\"";
	log_format_line(got, sizeof(got), LOG_FMT_TEXT, &l);
	cr_expect_str_eq(got, want, "got\n%s\nwant\n%s", got, want);
}

/* A message cannot forge a second text line: control bytes are written \xNN. */
Test(log, text_line_control_bytes)
{
	struct log_line l = line_base;
	const char *want = "2026-12-02T03:59:41.006Z worker 1[8439] info: poison message ev\\x0a"
	    "2026-12-02 x\\x1b[1m\\x7f caf\xc3\xa9\n";
	char got[256];

	l.msg = "poison message ev\n2026-12-02 x\x1b[1m\x7f caf\xc3\xa9";
	log_format_line(got, sizeof(got), LOG_FMT_TEXT, &l);
	cr_expect_str_eq(got, want, "got\n%s\nwant\n%s", got, want);
}

/*
 * A message too long for the buffer is cut, never inside an escape or a
 * UTF-8 character, and the line still closes: `want` is the message part
 * of a 128-byte line (the head is 89 bytes, the tail 4: 35 are left).
 */
static const struct {
	const char *name, *msg, *want;
} cut_cases[] = {
	{ "ascii", "012345678901234567890123456789012345678901234567890123456789",
	  "01234567890123456789012345678901234" },
	{ "escape not split", "0123456789012345678901234567890\n",
	  "0123456789012345678901234567890" },
	{ "escape that fits", "01234567890123456789012345678\nx",
	  "01234567890123456789012345678\\u000a" },
	{ "quote not split", "0123456789012345678901234567890123\"",
	  "0123456789012345678901234567890123" },
	{ "2-byte char not split", "0123456789012345678901234567890123\xc3\xa9",
	  "0123456789012345678901234567890123" },
	{ "3-byte char not split", "012345678901234567890123456789012\xe2\x82\xac",
	  "012345678901234567890123456789012" },
	{ "4-byte char not split", "01234567890123456789012345678901\xf0\x9f\x98\x80",
	  "01234567890123456789012345678901" },
	{ "whole char kept", "012345678901234567890123456789012\xc3\xa9" "xx",
	  "012345678901234567890123456789012\xc3\xa9" },
};

Test(log, json_line_cut_stays_valid)
{
	for (size_t i = 0; i < sizeof(cut_cases) / sizeof(cut_cases[0]); i++) {
		struct log_line l = line_base;
		char got[128], want[256];
		size_t n;

		l.msg = cut_cases[i].msg;
		n = log_format_line(got, sizeof(got), LOG_FMT_JSON, &l);
		snprintf(want, sizeof(want), "%s%s\"}\n", JSON_HEAD("info", "worker 1"),
		    cut_cases[i].want);
		cr_expect_str_eq(got, want, "%s: got\n%s\nwant\n%s", cut_cases[i].name, got, want);
		cr_expect(n < sizeof(got) && n == strlen(got), "%s: length: got %zu, want %zu < %zu",
		    cut_cases[i].name, n, strlen(got), sizeof(got));
	}
}

/* ---- the file target ---- */

static char dir[64];

static void
make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/test_log.XXXXXX");
	cr_assert(mkdtemp(dir) != NULL, "mkdtemp: %s", strerror(errno));
}

static void
remove_dir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	cr_expect(system(cmd) == 0);
}

static char *
slurp(const char *path)
{
	static char buf[8192];
	FILE *f = fopen(path, "r");
	size_t n;

	cr_assert(f != NULL, "fopen %s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

/* The messages of the JSON lines in `s`, one per line. */
static void
messages(const char *s, char *out, size_t outsz)
{
	size_t n = 0;

	out[0] = '\0';
	for (const char *p = strstr(s, "\"msg\":\""); p != NULL; p = strstr(p, "\"msg\":\"")) {
		const char *end = strstr(p, "\"}\n");

		p += 7;
		cr_assert(end != NULL, "unterminated line in %s", s);
		n += (size_t)snprintf(out + n, outsz - n, "%.*s\n", (int)(end - p), p);
	}
}

Test(log, file_is_reopened_after_a_rename, .init = make_dir, .fini = remove_dir)
{
	char path[128], old[160], got[1024], want[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/relay.log", dir);
	snprintf(old, sizeof(old), "%s.1", path);
	log_set_format(LOG_FMT_JSON);
	cr_assert(log_start(path, 1) == 0, "log_start %s: got -1", path);
	cr_assert(stat(path, &st) == 0 && (st.st_mode & 0777) == (0640 & ~umask(022)),
	    "mode: got %o, want 0640 less the umask", st.st_mode & 0777);
	log_info("before");
	cr_assert(rename(path, old) == 0);
	log_info("after the rename");
	cr_expect(log_reopen() == 0, "log_reopen: got -1, want 0");
	log_info("after the reopen");
	messages(slurp(old), got, sizeof(got));
	cr_expect_str_eq(got, "before\nafter the rename\n", "old file: got\n%s", got);
	messages(slurp(path), got, sizeof(got));
	snprintf(want, sizeof(want), "log file %s reopened\nafter the reopen\n", path);
	cr_expect_str_eq(got, want, "new file: got\n%s\nwant\n%s", got, want);
}

/* A reopen that fails keeps the old file and says so there and on stderr. */
Test(log, failed_reopen_keeps_the_old_file, .init = make_dir, .fini = remove_dir)
{
	char sub[96], moved[96], path[192], got[1024], want[512];
	FILE *err;

	cr_redirect_stderr();
	snprintf(sub, sizeof(sub), "%s/sub", dir);
	snprintf(path, sizeof(path), "%s/relay.log", sub);
	snprintf(moved, sizeof(moved), "%s/moved", dir);
	cr_assert(mkdir(sub, 0700) == 0);
	log_set_format(LOG_FMT_JSON);
	cr_assert(log_start(path, 1) == 0, "log_start %s: got -1", path);
	cr_assert(rename(sub, moved) == 0);	/* the directory is gone: open fails */
	cr_expect(log_reopen() == -1, "log_reopen: got 0, want -1");
	log_info("still here");
	snprintf(want, sizeof(want), "log file %s: cannot reopen: No such file or directory; "
	    "still writing to the old file", path);
	snprintf(path, sizeof(path), "%s/relay.log", moved);
	messages(slurp(path), got, sizeof(got));
	cr_expect(strstr(got, want) == got && strstr(got, "\nstill here\n") != NULL,
	    "old file: got\n%s\nwant\n%s\nstill here", got, want);
	fflush(stderr);
	err = cr_get_redirected_stderr();
	cr_assert(fgets(got, sizeof(got), err) != NULL, "stderr: got nothing");
	cr_expect(strstr(got, want) != NULL, "stderr: got\n%s\nwant it to contain\n%s", got, want);
}

Test(log, bad_target)
{
	static const char *const bad[] = { "relay.log", "./relay.log", "file", "Stderr", " /x" };
	enum log_target t;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect(log_target_parse(bad[i], LOG_TO_STDERR, &t) == -1,
		    "\"%s\": got 0, want -1", bad[i]);
	cr_expect(log_target_parse("", LOG_TO_SYSLOG, &t) == 0 && t == LOG_TO_SYSLOG,
	    "\"\": got %d, want the default", (int)t);
	cr_expect(log_target_parse("/var/log/r.log", LOG_TO_SYSLOG, &t) == 0 && t == LOG_TO_FILE,
	    "absolute path: got %d, want LOG_TO_FILE", (int)t);
}
