/*
 * redact: which values are secrets, and how they are shown (redact.h).
 *
 * Owns nothing. The one thing to know before changing it: masking too
 * much is the safe mistake; a rule loosened here shows a secret in every
 * log, `-t` output and HTTP reply at once.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "common/redact.h"

/* Whether s[0..len) contains `word`, ignoring case. */
static int
contains(const char *s, size_t len, const char *word)
{
	size_t n = strlen(word);

	for (size_t i = 0; i + n <= len; i++)
		if (strncasecmp(s + i, word, n) == 0)
			return 1;
	return 0;
}

static int
ends_with(const char *s, size_t len, const char *word)
{
	size_t n = strlen(word);

	return len >= n && strncasecmp(s + len - n, word, n) == 0;
}

int
redact_setting(const char *path)
{
	const char *dot = strrchr(path, '.');
	const char *name = dot != NULL ? dot + 1 : path;
	size_t len = strlen(name);

	/* "password" and "NAME_password" */
	return (len >= 8 && strcmp(name + len - 8, "password") == 0 &&
	    (len == 8 || name[len - 9] == '_')) || strcmp(path, "tracing.headers") == 0;
}

int
redact_property(const char *name, size_t len)
{
	if (ends_with(name, len, "_file"))
		return 0;
	return contains(name, len, "password") || contains(name, len, "secret") ||
	    ends_with(name, len, ".pem") || ends_with(name, len, "_key") ||
	    (len == strlen("sasl.oauthbearer.config") &&
	    strncasecmp(name, "sasl.oauthbearer.config", len) == 0);
}

void
redact_url(const char *s, size_t len, char *out, size_t outsz)
{
	const char *auth = NULL, *end, *at = NULL, *colon = NULL;

	if (outsz == 0)
		return;
	for (size_t i = 0; i + 3 <= len; i++) {
		if (memcmp(s + i, "://", 3) == 0) {
			auth = s + i + 3;
			break;
		}
	}
	if (auth == NULL)
		auth = s;
	/*
	 * The last '@' anywhere, not only in the authority: a password
	 * holding an unencoded '/', '?' or '#' ends the authority early, and
	 * masking too much is the safe mistake.
	 */
	end = s + len;
	for (const char *p = auth; p < end; p++)
		if (*p == '@')
			at = p;
	if (at != NULL)
		colon = memchr(auth, ':', (size_t)(at - auth));
	if (colon == NULL)
		snprintf(out, outsz, "%.*s", (int)len, s);
	else
		snprintf(out, outsz, "%.*s%s%.*s", (int)(colon + 1 - s), s, REDACTED,
		    (int)(s + len - at), at);
}

void
redact_pair(const char *pair, char *out, size_t outsz)
{
	const char *eq = strchr(pair, '=');

	if (outsz == 0)
		return;
	if (eq == NULL)	/* not name=value: nothing tells what it is */
		snprintf(out, outsz, "%s", redact_property(pair, strlen(pair)) ? REDACTED : pair);
	else if (redact_property(pair, (size_t)(eq - pair)))
		snprintf(out, outsz, "%.*s%s", (int)(eq + 1 - pair), pair, REDACTED);
	else
		snprintf(out, outsz, "%s", pair);
}
