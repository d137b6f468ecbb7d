/*
 * config_value: the checks of single setting values, shared by every
 * source (default, file, environment). Private to config.c and
 * config_value.c; config_split_addr() is public, in config.h.
 */
#ifndef ER_CONFIG_VALUE_H
#define ER_CONFIG_VALUE_H

#include <stddef.h>

/* Plain decimal with an optional '-': no blanks, '+', hex or overflow. 0 or -1. */
int config_parse_decimal(const char *s, long *out);
/* true/false, yes/no, on/off, 1/0 (any case). 0 or -1. */
int config_parse_bool(const char *s, int *out);
/* A comma-separated list of amqp:// or amqps:// URLs (amqp_url.h); 0, or -1 with msg. */
int config_check_urls(const char *s, char *msg, size_t msgsz);
/*
 * An address written with a scheme ("redis://", "rediss://", "http://"):
 * -1 with a message that names the scheme, never the rest (which may hold
 * a password). 0 for anything else.
 */
int config_check_scheme(const char *s, char *msg, size_t msgsz);
/* A comma-separated list of host:port ("" allowed); 0, or -1 and msg. */
int config_check_addrs(const char *s, char *msg, size_t msgsz);
/* "name=value" with a non-empty name; 0 or -1. */
int config_check_pair(const char *s, size_t len);

/*
 * CHOICE settings list their alternatives in the default, "a|b|c"; the
 * first is the default.
 */
int config_choice_index(const char *alts, const char *s);	/* or -1 */
void config_choice_list(const char *alts, char *buf, size_t bufsz);	/* "a, b or c" */
const char *config_choice_first(const char *alts, char *buf, size_t bufsz);

#endif
