/*
 * log_repeat: a failure that repeats is logged at warn once per distinct
 * message, then at most every LOG_REPEAT_MS with the count of repeats;
 * the repeats in between go to debug only.
 */
#include <stdio.h>
#include <string.h>

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
