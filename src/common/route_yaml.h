/*
 * route_yaml: one YAML document read with libyaml into a small tree
 * whose every node knows where it starts (for file:line:column errors).
 * Only what route files need: scalars, sequences and mappings. Aliases
 * are refused (a route file has no use for them, and refusing them
 * keeps a small file from standing for a huge tree); anchors and tags
 * are ignored, except that a tagged scalar is not plain.
 */
#ifndef ER_ROUTE_YAML_H
#define ER_ROUTE_YAML_H

#include <stddef.h>
#include <stdio.h>

/* Deepest nesting of sequences and mappings accepted. */
#define YNODE_MAX_DEPTH 32

enum ynode_type { YN_SCALAR, YN_SEQ, YN_MAP };

struct ynode {
	enum ynode_type type;
	unsigned line, col;	/* 1-based, where the node starts */
	/* YN_SCALAR: the value, NUL-terminated; it may hold NULs ("\0"). */
	char *text;
	size_t len;
	int plain;		/* YN_SCALAR: plain style (unquoted) and no tag */
	/* YN_SEQ: the n elements; YN_MAP: n keys and values, alternating. */
	struct ynode **kid;
	size_t n, cap;
};

/*
 * Parses the first document of buf[0..len). Returns its root (NULL for
 * a stream without a document) and 0, or -1 after writing one error
 * ("name:line:column: problem") to `errs`: a syntax error, an alias, a
 * second document, nesting deeper than YNODE_MAX_DEPTH, no memory.
 */
int ynode_parse(const char *name, const void *buf, size_t len, FILE *errs, struct ynode **root);
void ynode_free(struct ynode *n);

/* A plain scalar YAML reads as null: empty, ~, null, Null, NULL. */
int ynode_is_null(const struct ynode *n);

/* "a string", "a sequence", "a mapping" or "null", for messages. */
const char *ynode_what(const struct ynode *n);

#endif
