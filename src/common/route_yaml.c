/*
 * route_yaml: libyaml's event stream folded into the tree of
 * route_yaml.h. The tree owns copies of the scalars; libyaml's parser
 * and events live only inside ynode_parse.
 *
 * Before changing: every node is attached to its parent as soon as it is
 * made, so that freeing the root frees everything however parsing ends;
 * and the nesting bound keeps ynode_free's recursion shallow.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "common/route_yaml.h"

static struct ynode *
node_new(enum ynode_type type, const yaml_mark_t *m)
{
	struct ynode *n = calloc(1, sizeof(*n));

	if (n != NULL) {
		n->type = type;
		n->line = (unsigned)m->line + 1;
		n->col = (unsigned)m->column + 1;
	}
	return n;
}

static int
node_append(struct ynode *parent, struct ynode *kid)
{
	if (parent->n == parent->cap) {
		size_t cap = parent->cap == 0 ? 8 : parent->cap * 2;
		struct ynode **v = realloc(parent->kid, cap * sizeof(*v));

		if (v == NULL)
			return -1;
		parent->kid = v;
		parent->cap = cap;
	}
	parent->kid[parent->n++] = kid;
	return 0;
}

void
ynode_free(struct ynode *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->n; i++)
		ynode_free(n->kid[i]);
	free(n->kid);
	free(n->text);
	free(n);
}

int
ynode_is_null(const struct ynode *n)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL" };

	if (n->type != YN_SCALAR || !n->plain)
		return 0;
	for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (strcmp(n->text, nulls[i]) == 0 && n->len == strlen(nulls[i]))
			return 1;
	return 0;
}

const char *
ynode_what(const struct ynode *n)
{
	if (n->type == YN_SEQ)
		return "a sequence";
	if (n->type == YN_MAP)
		return "a mapping";
	return ynode_is_null(n) ? "null" : "a string";
}

/* Line and column (1-based, in characters) of byte `off` of buf. */
static void
offset_pos(const unsigned char *buf, size_t len, size_t off, unsigned *line, unsigned *col)
{
	*line = 1;
	*col = 1;
	if (off > len)
		off = len;
	for (size_t i = 0; i < off; i++) {
		if (buf[i] == '\n') {
			(*line)++;
			*col = 1;
		} else if ((buf[i] & 0xc0) != 0x80) {
			(*col)++;
		}
	}
}

/* The one error of a failed yaml_parser_parse. */
static void
syntax_error(const char *name, const yaml_parser_t *p, const void *buf, size_t len, FILE *errs)
{
	unsigned line, col;

	switch (p->error) {
	case YAML_READER_ERROR:
		offset_pos(buf, len, p->problem_offset, &line, &col);
		fprintf(errs, "%s:%u:%u: %s", name, line, col, p->problem);
		if (p->problem_value != -1)
			fprintf(errs, " (0x%02X)", (unsigned)p->problem_value);
		fputc('\n', errs);
		break;
	case YAML_SCANNER_ERROR:
	case YAML_PARSER_ERROR:
		fprintf(errs, "%s:%u:%u: %s", name, (unsigned)p->problem_mark.line + 1,
		    (unsigned)p->problem_mark.column + 1,
		    p->problem != NULL ? p->problem : "syntax error");
		if (p->context != NULL)
			fprintf(errs, " (%s at line %u, column %u)", p->context,
			    (unsigned)p->context_mark.line + 1, (unsigned)p->context_mark.column + 1);
		if (p->problem_mark.index < len &&
		    ((const char *)buf)[p->problem_mark.index] == '\t')
			fputs(": a tab, and YAML indents with spaces only", errs);
		fputc('\n', errs);
		break;
	case YAML_MEMORY_ERROR:
	default:
		fprintf(errs, "%s: out of memory reading YAML\n", name);
		break;
	}
}

int
ynode_parse(const char *name, const void *buf, size_t len, FILE *errs, struct ynode **root)
{
	struct ynode *open[YNODE_MAX_DEPTH];
	size_t depth = 0;
	int ndocs = 0, rc = -1;
	yaml_parser_t p;
	yaml_event_t ev;

	*root = NULL;
	if (!yaml_parser_initialize(&p)) {
		fprintf(errs, "%s: out of memory reading YAML\n", name);
		return -1;
	}
	yaml_parser_set_input_string(&p, buf, len);
	for (;;) {
		const yaml_mark_t *m = &ev.start_mark;
		struct ynode *n = NULL;

		if (!yaml_parser_parse(&p, &ev)) {
			syntax_error(name, &p, buf, len, errs);
			goto out;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			yaml_event_delete(&ev);
			rc = 0;
			goto out;
		case YAML_DOCUMENT_START_EVENT:
			if (ndocs++ == 0)
				break;
			fprintf(errs, "%s:%u:%u: a second YAML document: a route file holds one\n",
			    name, (unsigned)m->line + 1, (unsigned)m->column + 1);
			goto fail;
		case YAML_ALIAS_EVENT:
			fprintf(errs, "%s:%u:%u: alias *%s: aliases are not supported, write the "
			    "value out\n", name, (unsigned)m->line + 1, (unsigned)m->column + 1,
			    (const char *)ev.data.alias.anchor);
			goto fail;
		case YAML_SCALAR_EVENT:
			n = node_new(YN_SCALAR, m);
			if (n == NULL)
				goto nomem;
			n->len = ev.data.scalar.length;
			n->text = malloc(n->len + 1);
			if (n->text == NULL) {
				free(n);
				goto nomem;
			}
			memcpy(n->text, ev.data.scalar.value, n->len);
			n->text[n->len] = '\0';
			n->plain = ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
			    ev.data.scalar.tag == NULL;
			break;
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			if (depth == YNODE_MAX_DEPTH) {
				fprintf(errs, "%s:%u:%u: nested deeper than %d levels\n", name,
				    (unsigned)m->line + 1, (unsigned)m->column + 1,
				    YNODE_MAX_DEPTH);
				goto fail;
			}
			n = node_new(ev.type == YAML_SEQUENCE_START_EVENT ? YN_SEQ : YN_MAP, m);
			if (n == NULL)
				goto nomem;
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			depth--;
			break;
		default:
			break;
		}
		if (n != NULL) {
			if (depth == 0 && *root == NULL) {
				*root = n;
			} else if (depth == 0 || node_append(open[depth - 1], n) < 0) {
				/* depth 0 twice cannot happen: one document, one root. */
				ynode_free(n);
				goto nomem;
			}
			if (n->type != YN_SCALAR)
				open[depth++] = n;
		}
		yaml_event_delete(&ev);
	}
nomem:
	fprintf(errs, "%s: out of memory reading YAML\n", name);
fail:
	yaml_event_delete(&ev);
out:
	yaml_parser_delete(&p);
	if (rc != 0) {
		ynode_free(*root);
		*root = NULL;
	}
	return rc;
}
