/*
 * field_spec: AMQP field values (header-table entries) written as text,
 * for er-send (which reads them) and er-get -v (which prints them the
 * same way, so that what comes back can be compared with what was sent).
 *
 *   T:VALUE   one of t (true/false), b B s u I i l L (integers of that
 *             kind: i8 u8 i16 u16 i32 u32 i64 u64), f d (float, double;
 *             nan, inf, -inf allowed), T (timestamp, seconds), S (string),
 *             x (byte array); S and x values use esc.h's escapes
 *   D:N:V     decimal: V (u32) with N (u8) decimals, D:2:12345 = 123.45
 *   V         void
 *   F:{k=VALUE,k2=VALUE}   table
 *   A:[VALUE,VALUE]        array
 *
 * Inside F and A, ',' '}' ']' '=' in a string or name are written with a
 * backslash (\, or \x2c). The letters are rabbitmq-c's (and the AMQP
 * 0-9-1 errata's, which RabbitMQ follows).
 */
#ifndef ER_TOOLS_FIELD_SPEC_H
#define ER_TOOLS_FIELD_SPEC_H

#include <stdio.h>

#include <amqp.h>

/*
 * Parses s (a whole VALUE) into *v. Memory is taken from a pool that
 * field_spec_free_all releases. 0, or -1 with a message in err.
 */
int field_spec_parse(const char *s, amqp_field_value_t *v, char *err, size_t errsz);

/* Parses "NAME=VALUE" into a table entry (NAME with esc.h's escapes). */
int field_spec_parse_entry(const char *s, amqp_table_entry_t *e, char *err, size_t errsz);

/* Prints v in the syntax above (what field_spec_parse reads back). */
void field_spec_print(FILE *f, const amqp_field_value_t *v);

void field_spec_free_all(void);

#endif
