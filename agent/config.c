// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The agent's configuration file (config.h). Three passes over the bytes, and nothing is returned
 * until all three agree:
 *
 * 1. A walk over libyaml's events records the line of every key and sequence entry under its path
 *    ("media[1].rate"), and rejects what libcyaml would take silently or without a line: syntax
 *    errors, aliases, keys that are not scalars, NUL bytes in a scalar, more than one document.
 * 2. libcyaml loads the document against a strict schema in which every leaf is a string. Its
 *    error log (one message, then a backtrace of "in mapping field 'media'" / "in sequence entry
 *    '2'" frames) is captured and turned back into a path, whose line comes from the walk; the
 *    lines libcyaml prints itself are those of nearby events, not of the offending key.
 * 3. The strings are parsed with units.h and the whole is checked (limits, duplicates, scope),
 *    into a config allocated here; libcyaml's data is freed either way. fleet.password_file is
 *    read here too, so that a missing password is an error with a line, not a failure later.
 *
 * Every error is one line, "FILE:LINE: FIELD: problem", with user input quoted and escaped.
 */
#define _GNU_SOURCE /* vasprintf, explicit_bzero */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cyaml/cyaml.h>
#include <yaml.h>

#include "cruise.h"
#include "config.h"

#define NSEC_PER_SEC 1000000000ULL

#define CONFIG_MAX_BYTES (1 << 20)
#define DEFAULT_MAX_WAIT NSEC_PER_SEC
#define PIN_DIR_MAX	 200 /* the loader adds "/links/<program>" within 256 bytes */
#define WALK_MAX_DEPTH	 16  /* the schema needs 4 */
#define CYLOG_MAX_FRAMES 16
#define QUOTE_MAX	 64

/* What libcyaml loads: every leaf a string, parsed afterwards with units.h. */
struct raw_target {
	char *name;
	char **addresses;
	unsigned int n_addresses;
	char **ports;
	unsigned int n_ports;
};

struct raw_medium {
	char *name;
	char *rate;
	char *burst;
	char *max_wait;
	char *max_conns;
	char *refuse_errno;
	char *dry_run;
	char **cgroups;
	unsigned int n_cgroups;
	struct raw_pods *pods;
	char *fleet;
	char *fallback_rate;
};

/* pods: {matchLabels: {...}}: the labels are read from the document itself (collect_labels),
 * since a libcyaml schema names every key in advance. */
struct raw_pods {
	char unused;
};

struct raw_fleet {
	char *redis;
	char *node;
	char *key_prefix;
	char *refresh;
	char *lease;
	char *forget_after;
	char *password_file;
	char *username;
	char *expected_nodes;
};

struct raw_config {
	char *scope;
	char *pin_dir;
	char *metrics;
	struct raw_target *targets;
	unsigned int n_targets;
	struct raw_medium *media;
	unsigned int n_media;
	struct raw_fleet *fleet;
};

#define REQ CYAML_FLAG_POINTER
#define OPT (CYAML_FLAG_POINTER | CYAML_FLAG_OPTIONAL)
#define STR_FIELD(key, flags, type, member)                                                        \
	CYAML_FIELD_STRING_PTR(key, flags, type, member, 0, CYAML_UNLIMITED)
/* Limits on list lengths are checked afterwards, where a line can be given. */
#define LIST_FIELD(key, type, member, entry)                                                       \
	CYAML_FIELD_SEQUENCE_COUNT(key, REQ, type, member, n_##member, entry, 0, CYAML_UNLIMITED)

static const cyaml_schema_value_t string_entry = {
	CYAML_VALUE_STRING(CYAML_FLAG_POINTER, char, 0, CYAML_UNLIMITED),
};

static const cyaml_schema_field_t target_fields[] = {
	STR_FIELD("name", REQ, struct raw_target, name),
	LIST_FIELD("addresses", struct raw_target, addresses, &string_entry),
	LIST_FIELD("ports", struct raw_target, ports, &string_entry),
	CYAML_FIELD_END,
};

static const cyaml_schema_value_t target_entry = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_target, target_fields),
};

static const cyaml_schema_field_t pods_fields[] = {
	CYAML_FIELD_IGNORE("matchLabels", CYAML_FLAG_DEFAULT),
	CYAML_FIELD_END,
};

static const cyaml_schema_field_t medium_fields[] = {
	STR_FIELD("name", REQ, struct raw_medium, name),
	STR_FIELD("rate", REQ, struct raw_medium, rate),
	STR_FIELD("burst", OPT, struct raw_medium, burst),
	STR_FIELD("max_wait", OPT, struct raw_medium, max_wait),
	STR_FIELD("max_conns", OPT, struct raw_medium, max_conns),
	STR_FIELD("refuse_errno", OPT, struct raw_medium, refuse_errno),
	STR_FIELD("dry_run", OPT, struct raw_medium, dry_run),
	CYAML_FIELD_SEQUENCE_COUNT("cgroups", OPT, struct raw_medium, cgroups, n_cgroups,
				   &string_entry, 0, CYAML_UNLIMITED),
	CYAML_FIELD_MAPPING_PTR("pods", OPT, struct raw_medium, pods, pods_fields),
	STR_FIELD("fleet", OPT, struct raw_medium, fleet),
	STR_FIELD("fallback_rate", OPT, struct raw_medium, fallback_rate),
	CYAML_FIELD_END,
};

static const cyaml_schema_value_t medium_entry = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_DEFAULT, struct raw_medium, medium_fields),
};

static const cyaml_schema_field_t fleet_fields[] = {
	STR_FIELD("redis", REQ, struct raw_fleet, redis),
	STR_FIELD("node", OPT, struct raw_fleet, node),
	STR_FIELD("key_prefix", OPT, struct raw_fleet, key_prefix),
	STR_FIELD("refresh", OPT, struct raw_fleet, refresh),
	STR_FIELD("lease", OPT, struct raw_fleet, lease),
	STR_FIELD("forget_after", OPT, struct raw_fleet, forget_after),
	STR_FIELD("password_file", OPT, struct raw_fleet, password_file),
	STR_FIELD("username", OPT, struct raw_fleet, username),
	STR_FIELD("expected_nodes", OPT, struct raw_fleet, expected_nodes),
	CYAML_FIELD_END,
};

static const cyaml_schema_field_t top_fields[] = {
	STR_FIELD("scope", OPT, struct raw_config, scope),
	STR_FIELD("pin_dir", OPT, struct raw_config, pin_dir),
	STR_FIELD("metrics", OPT, struct raw_config, metrics),
	LIST_FIELD("targets", struct raw_config, targets, &target_entry),
	LIST_FIELD("media", struct raw_config, media, &medium_entry),
	CYAML_FIELD_MAPPING_PTR("fleet", OPT, struct raw_config, fleet, fleet_fields),
	CYAML_FIELD_END,
};

static const cyaml_schema_value_t top_schema = {
	CYAML_VALUE_MAPPING(CYAML_FLAG_POINTER, struct raw_config, top_fields),
};

/* The line of a key or sequence entry, by path: "scope", "media[1]", "media[1].cgroups[0]". */
struct spot {
	char *path;
	unsigned int line;
};

struct ctx {
	const char *name;
	const char *data; /* the whole input, for collect_labels */
	size_t len;
	char *err;
	size_t errlen;
	struct spot *spots;
	size_t n_spots, cap_spots;
};

/* A growing string, for the walk's current path. */
struct strbuf {
	char *s;
	size_t len, cap;
};

static int sb_printf(struct strbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int sb_printf(struct strbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return -EINVAL;
	if (b->len + n + 1 > b->cap) {
		size_t cap = (b->len + n + 1) * 2;
		char *s = realloc(b->s, cap);

		if (!s)
			return -ENOMEM;
		b->s = s;
		b->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += n;
	return 0;
}

static void sb_truncate(struct strbuf *b, size_t len)
{
	b->len = len;
	if (b->s)
		b->s[len] = '\0';
}

/* s escaped for a message (\xNN for anything but printable ASCII, '"' and '\\'), cut. */
static const char *quote(const char *s, char *buf, size_t len)
{
	size_t q = 0, i;

	for (i = 0; s[i] && i < QUOTE_MAX && q + 8 < len; i++) {
		unsigned char ch = s[i];

		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
			buf[q++] = ch;
		else
			q += snprintf(buf + q, len - q, "\\x%02x", ch);
	}
	if (s[i])
		q += snprintf(buf + q, len - q, "...");
	buf[q] = '\0';
	return buf;
}

#define QBUF (QUOTE_MAX * 4 + 8)

static int fail_line(struct ctx *c, const char *field, unsigned int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

/* "NAME:LINE: FIELD: problem"; anything that could break the line becomes a '?'. */
static int fail_line(struct ctx *c, const char *field, unsigned int line, const char *fmt, ...)
{
	va_list ap;
	size_t n, i;

	if (!c->err || !c->errlen)
		return -EINVAL;
	snprintf(c->err, c->errlen, "%s:%u: %s: ", c->name, line, field);
	n = strlen(c->err);
	va_start(ap, fmt);
	vsnprintf(c->err + n, c->errlen - n, fmt, ap);
	va_end(ap);
	for (i = 0; c->err[i]; i++)
		if ((unsigned char)c->err[i] < 0x20 || c->err[i] == 0x7f)
			c->err[i] = '?';
	return -EINVAL;
}

static int spot_add(struct ctx *c, const char *path, unsigned int line)
{
	if (c->n_spots == c->cap_spots) {
		size_t cap = c->cap_spots ? c->cap_spots * 2 : 64;
		struct spot *v = realloc(c->spots, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		c->spots = v;
		c->cap_spots = cap;
	}
	c->spots[c->n_spots].path = strdup(path);
	if (!c->spots[c->n_spots].path)
		return -ENOMEM;
	c->spots[c->n_spots++].line = line;
	return 0;
}

static void spots_free(struct ctx *c)
{
	size_t i;

	for (i = 0; i < c->n_spots; i++)
		free(c->spots[i].path);
	free(c->spots);
	c->spots = NULL;
	c->n_spots = c->cap_spots = 0;
}

/*
 * The line of the nth (from 0) occurrence of path, or of any, or else of its nearest recorded
 * parent ("media[1].cgroups" missing: the line of media[1]); 1 when nothing is known.
 */
static unsigned int line_of_nth(const struct ctx *c, const char *path, unsigned int nth)
{
	size_t len = strlen(path), i;

	for (;;) {
		unsigned int seen = 0, last = 0;

		for (i = 0; i < c->n_spots; i++) {
			if (strlen(c->spots[i].path) != len || strncmp(c->spots[i].path, path, len))
				continue;
			if (seen++ == nth)
				return c->spots[i].line;
			last = c->spots[i].line;
		}
		if (seen)
			return last;
		if (!len)
			return 1;
		/* drop the last component: ".key" or "[n]" */
		while (len && path[len - 1] != '.' && path[len - 1] != '[')
			len--;
		if (len)
			len--;
	}
}

static unsigned int line_of(const struct ctx *c, const char *path)
{
	return line_of_nth(c, path, 0);
}

static bool has_spot(const struct ctx *c, const char *path)
{
	for (size_t i = 0; i < c->n_spots; i++)
		if (!strcmp(c->spots[i].path, path))
			return true;
	return false;
}

/* The root has no name of its own: messages about it name the whole config. */
static const char *field_name(const char *path)
{
	return *path ? path : "config";
}

static const char *event_kind(yaml_event_type_t t)
{
	switch (t) {
	case YAML_MAPPING_START_EVENT:
		return "a mapping";
	case YAML_SEQUENCE_START_EVENT:
		return "a list";
	default:
		return "a single value";
	}
}

static int syntax_error(struct ctx *c, const yaml_parser_t *p, const char *data, size_t len)
{
	unsigned int line;
	size_t i;

	if (p->error == YAML_MEMORY_ERROR)
		return -ENOMEM;
	if (p->error == YAML_READER_ERROR) {
		/* bad encoding: libyaml gives an offset, not a mark */
		line = 1;
		for (i = 0; i < p->problem_offset && i < len; i++)
			line += data[i] == '\n';
		return fail_line(c, "yaml", line, "%s at byte %zu",
				 p->problem ? p->problem : "cannot read", p->problem_offset);
	}
	line = p->problem_mark.line + 1;
	if (p->context)
		return fail_line(c, "yaml", line, "%s (%s at line %zu)",
				 p->problem ? p->problem : "syntax error", p->context,
				 p->context_mark.line + 1);
	return fail_line(c, "yaml", line, "%s", p->problem ? p->problem : "syntax error");
}

struct walk_frame {
	bool mapping;
	bool want_key;
	unsigned long index; /* sequence: the next entry's */
	size_t base;	     /* length of this node's path */
};

struct walk {
	struct walk_frame fr[WALK_MAX_DEPTH];
	unsigned int depth;
	struct strbuf path;
};

/* A scalar, mapping or sequence starts: record where, and descend. */
static int walk_node(struct ctx *c, struct walk *w, const yaml_event_t *ev)
{
	struct walk_frame *top = w->depth ? &w->fr[w->depth - 1] : NULL;
	unsigned int line = ev->start_mark.line + 1;
	char q[QBUF];
	int ret;

	bool nul = ev->type == YAML_SCALAR_EVENT &&
		   strlen((const char *)ev->data.scalar.value) != ev->data.scalar.length;

	if (top && top->mapping && top->want_key) {
		sb_truncate(&w->path, top->base);
		if (ev->type != YAML_SCALAR_EVENT)
			return fail_line(c, field_name(w->path.s), line,
					 "a key must be a single value, not %s",
					 event_kind(ev->type));
		if (nul)
			goto nul;
		ret = sb_printf(&w->path, "%s%s", top->base ? "." : "",
				(const char *)ev->data.scalar.value);
		if (!ret)
			ret = spot_add(c, w->path.s, line);
		top->want_key = false;
		return ret;
	}
	if (top && !top->mapping) {
		sb_truncate(&w->path, top->base);
		ret = sb_printf(&w->path, "[%lu]", top->index++);
		if (ret)
			return ret;
	}
	/* a mapping's value goes under its key's spot; entries and the root get their own */
	if (!top || !top->mapping) {
		ret = spot_add(c, w->path.s, line);
		if (ret)
			return ret;
	}
	if (ev->type == YAML_SCALAR_EVENT) {
		if (nul)
			goto nul;
		if (top && top->mapping)
			top->want_key = true;
		return 0;
	}
	if (w->depth == WALK_MAX_DEPTH)
		return fail_line(c, field_name(w->path.s), line, "nested too deeply");
	w->fr[w->depth++] = (struct walk_frame){
		.mapping = ev->type == YAML_MAPPING_START_EVENT,
		.want_key = true,
		.base = w->path.len,
	};
	return 0;
nul:
	/* libcyaml takes C strings: "1/s\0junk" would load as "1/s" */
	return fail_line(c, field_name(w->path.s), line, "a NUL character after \"%s\"",
			 quote((const char *)ev->data.scalar.value, q, sizeof(q)));
}

/* Pass 1: syntax, and the line of every path. */
static int walk(struct ctx *c, const char *data, size_t len)
{
	struct walk w = { .depth = 0 };
	unsigned int docs = 0;
	yaml_parser_t p;
	yaml_event_t ev;
	bool done = false;
	int ret = 0;

	ret = sb_printf(&w.path, "%s", "");
	if (ret)
		return ret;
	if (!yaml_parser_initialize(&p)) {
		free(w.path.s);
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
	while (!done && !ret) {
		unsigned int line;

		if (!yaml_parser_parse(&p, &ev)) {
			ret = syntax_error(c, &p, data, len);
			break;
		}
		line = ev.start_mark.line + 1;
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				ret = fail_line(c, "yaml", line,
						"a second document; the config is one document");
			break;
		case YAML_ALIAS_EVENT:
			ret = fail_line(c, field_name(w.path.s), line,
					"aliases (*%s) are not supported",
					(const char *)ev.data.alias.anchor);
			break;
		case YAML_SCALAR_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			ret = walk_node(c, &w, &ev);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (w.depth)
				w.depth--;
			if (w.depth && w.fr[w.depth - 1].mapping)
				w.fr[w.depth - 1].want_key = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	free(w.path.s);
	return ret;
}

/* libcyaml's log of a failed load: the message, and the backtrace, innermost frame first. */
struct cylog {
	char *msg;
	bool backtrace;
	bool overflow;
	unsigned int n;
	struct {
		bool entry; /* else a mapping (with a field or not) */
		bool field;
		char key[32];
		unsigned long index; /* from 0 */
	} fr[CYLOG_MAX_FRAMES];
};

static void cylog_fn(cyaml_log_t level, void *ctx, const char *fmt, va_list args)
{
	struct cylog *l = ctx;
	const char *s;
	char *line;
	size_t len;

	(void)level;
	if (vasprintf(&line, fmt, args) < 0)
		return;
	len = strlen(line);
	while (len && line[len - 1] == '\n')
		line[--len] = '\0';
	s = line;
	if (!strncmp(s, "Load: ", 6))
		s += 6;
	while (*s == ' ')
		s++;
	if (!strcmp(s, "Backtrace:")) {
		l->backtrace = true;
	} else if (l->backtrace) {
		const char *k;

		if (l->n == CYLOG_MAX_FRAMES) {
			l->overflow = true;
		} else if (!strncmp(s, "in mapping field '", 18)) {
			k = s + 18;
			len = strcspn(k, "'");
			if (len >= sizeof(l->fr[0].key))
				len = sizeof(l->fr[0].key) - 1;
			memcpy(l->fr[l->n].key, k, len);
			l->fr[l->n].key[len] = '\0';
			l->fr[l->n].entry = false;
			l->fr[l->n++].field = true;
		} else if (!strncmp(s, "in sequence entry '", 19)) {
			/* libcyaml 1.3 counts entries from 1 */
			unsigned long i = strtoul(s + 19, NULL, 10);

			l->fr[l->n].entry = true;
			l->fr[l->n++].index = i ? i - 1 : 0;
		} else if (!strncmp(s, "in mapping", 10)) {
			l->fr[l->n].entry = false;
			l->fr[l->n++].field = false;
		}
	} else if (!l->msg) {
		l->msg = strdup(s);
	}
	free(line);
}

/* The path of the backtrace's frames, outermost first, without the innermost skip frames. */
static int cylog_path(const struct cylog *l, unsigned int skip, struct strbuf *b)
{
	unsigned int i;
	int ret = sb_printf(b, "%s", "");

	for (i = l->n; !ret && i > skip; i--) {
		if (l->fr[i - 1].entry)
			ret = sb_printf(b, "[%lu]", l->fr[i - 1].index);
		else if (l->fr[i - 1].field)
			ret = sb_printf(b, "%s%s", b->len ? "." : "", l->fr[i - 1].key);
	}
	return ret;
}

/* The keys a mapping at path takes, for an unknown key's message. */
static void known_keys(const char *path, char *buf, size_t len)
{
	const cyaml_schema_field_t *f = NULL;
	size_t n = 0;

	if (!*path)
		f = top_fields;
	else if (!strncmp(path, "targets[", 8) && !strchr(path, '.'))
		f = target_fields;
	else if (!strncmp(path, "media[", 6) && !strchr(path, '.'))
		f = medium_fields;
	else if (!strncmp(path, "media[", 6) && strchr(path, '.') &&
		 !strcmp(strchr(path, '.'), ".pods"))
		f = pods_fields;
	else if (!strcmp(path, "fleet"))
		f = fleet_fields;
	buf[0] = '\0';
	for (; f && f->key && n < len; f++)
		n += snprintf(buf + n, len - n, "%s%s", n ? ", " : "; expected one of ", f->key);
}

static const char *expected_kind(const char *s)
{
	if (!strncmp(s, "SEQUENCE", 8))
		return "a list";
	if (!strncmp(s, "MAPPING", 7))
		return "a mapping";
	if (!strncmp(s, "STRING", 6))
		return "a single value";
	return s;
}

static const char *event_name_kind(const char *s)
{
	if (!strncmp(s, "SEQUENCE_START", 14))
		return "a list";
	if (!strncmp(s, "MAPPING_START", 13))
		return "a mapping";
	if (!strncmp(s, "SCALAR", 6))
		return "a single value";
	return s;
}

/* Turn libcyaml's error into "FILE:LINE: FIELD: problem". */
static int cyaml_error(struct ctx *c, cyaml_err_t e, const struct cylog *l)
{
	const char *msg = l->msg ? l->msg : "";
	struct strbuf path = { NULL, 0, 0 };
	char q[QBUF], keys[160];
	const char *arg;
	int ret;

	if (e == CYAML_ERR_OOM)
		return -ENOMEM;
	/* an innermost "in mapping field" is the field last seen, not the one at fault */
	if ((arg = strstr(msg, "Unexpected key: ")) || (arg = strstr(msg, "Missing required ")) ||
	    (arg = strstr(msg, "already seen: ")))
		ret = cylog_path(l, l->n && !l->fr[0].entry ? 1 : 0, &path);
	else
		ret = cylog_path(l, 0, &path);
	if (ret)
		goto out;

	if ((arg = strstr(msg, "Unexpected key: "))) {
		unsigned int line;

		arg += 16;
		known_keys(path.s, keys, sizeof(keys));
		/* the unknown key's own line: look it up by its path, print it escaped */
		ret = sb_printf(&path, "%s%s", path.len ? "." : "", arg);
		if (ret)
			goto out;
		line = line_of(c, path.s);
		sb_truncate(&path, path.len - strlen(arg));
		ret = sb_printf(&path, "%s", quote(arg, q, sizeof(q)));
		if (!ret)
			ret = fail_line(c, path.s, line, "unknown key%s", keys);
	} else if ((arg = strstr(msg, "Missing required mapping field: "))) {
		arg += 32;
		ret = sb_printf(&path, "%s%s", path.len ? "." : "", arg);
		if (!ret)
			ret = fail_line(c, path.s, line_of(c, path.s), "missing (required)");
	} else if ((arg = strstr(msg, "already seen: "))) {
		arg += 14;
		ret = sb_printf(&path, "%s%s", path.len ? "." : "", arg);
		if (!ret)
			ret = fail_line(c, path.s, line_of_nth(c, path.s, 1),
					"given twice (first at line %u)", line_of(c, path.s));
	} else if ((arg = strstr(msg, "Expecting ")) && strstr(msg, ", got event: ")) {
		ret = fail_line(c, field_name(path.s), line_of(c, path.s), "expected %s, found %s",
				expected_kind(arg + 10),
				event_name_kind(strstr(msg, ", got event: ") + 13));
	} else {
		ret = fail_line(c, field_name(path.s), line_of(c, path.s), "%s%s%s",
				cyaml_strerror(e), *msg ? ": " : "", msg);
	}
out:
	free(path.s);
	return ret;
}

/* Pass 3: from strings to values, everything checked. */

static char *xstrdup(const char *s, int *ret)
{
	char *d = strdup(s);

	if (!d)
		*ret = -ENOMEM;
	return d;
}

static int check_name(struct ctx *c, const char *path, const char *s)
{
	char q[QBUF];
	size_t i;

	if (!*s)
		return fail_line(c, path, line_of(c, path), "empty");
	if (strlen(s) >= CRUISE_NAME_LEN)
		return fail_line(c, path, line_of(c, path), "\"%s\" is longer than %d characters",
				 quote(s, q, sizeof(q)), CRUISE_NAME_LEN - 1);
	for (i = 0; s[i]; i++) {
		char ch = s[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '_' || ch == '.' || ch == '-'))
			return fail_line(
				c, path, line_of(c, path),
				"\"%s\": only letters, digits, '_', '.' and '-' are allowed",
				quote(s, q, sizeof(q)));
	}
	return 0;
}

/*
 * A cgroup path relative to the cgroup2 mount, as /proc/PID/cgroup shows it: one leading '/', no
 * trailing or doubled '/' ("workers//push/" is "/workers/push"; "/" is the root). "." and ".."
 * would leave the mount or name a cgroup twice, and are refused.
 */
static int norm_cgroup(struct ctx *c, const char *path, const char *s, char **out)
{
	char q[QBUF], *d, *o;
	const char *p = s;

	if (!*s)
		return fail_line(c, path, line_of(c, path), "empty; \"/\" is the root cgroup");
	d = malloc(strlen(s) + 2);
	if (!d)
		return -ENOMEM;
	o = d;
	while (*p) {
		size_t n;

		while (*p == '/')
			p++;
		n = strcspn(p, "/");
		if (!n)
			break;
		if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
			free(d);
			return fail_line(
				c, path, line_of(c, path),
				"\"%s\": \".\" and \"..\" are not allowed in a cgroup path",
				quote(s, q, sizeof(q)));
		}
		*o++ = '/';
		memcpy(o, p, n);
		o += n;
		p += n;
	}
	if (o == d)
		*o++ = '/';
	*o = '\0';
	*out = d;
	return 0;
}

static int parse_pin_dir(struct ctx *c, const char *s, char **out)
{
	const char *path = "pin_dir";
	char q[QBUF];
	int ret;

	if (s[0] != '/')
		return fail_line(c, path, line_of(c, path), "\"%s\": expected an absolute path",
				 quote(s, q, sizeof(q)));
	if (strlen(s) > PIN_DIR_MAX)
		return fail_line(c, path, line_of(c, path), "longer than %d characters",
				 PIN_DIR_MAX);
	/* the same rules as a cgroup path: one spelling per directory */
	ret = norm_cgroup(c, path, s, out);
	if (ret)
		return ret;
	if (!strcmp(*out, "/")) {
		free(*out);
		*out = NULL;
		return fail_line(c, path, line_of(c, path),
				 "\"/\": expected a directory of its own on a bpffs");
	}
	return 0;
}

/* "" (off), "127.0.0.1:9464", "0.0.0.0:9464", "[::1]:9464": an IP address, then a port. */
static int check_metrics(struct ctx *c, const char *s)
{
	const char *path = "metrics", *orig = s, *colon = strrchr(s, ':');
	unsigned char addr[16];
	char q[QBUF], host[INET6_ADDRSTRLEN];
	size_t hlen;
	__u64 port;
	int family = AF_INET;

	if (!*s)
		return 0;
	if (!colon)
		goto bad;
	hlen = colon - s;
	if (s[0] == '[') {
		if (hlen < 2 || s[hlen - 1] != ']')
			goto bad;
		s++;
		hlen -= 2;
		family = AF_INET6;
	}
	if (hlen >= sizeof(host))
		goto bad;
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (inet_pton(family, host, addr) != 1)
		goto bad;
	if (cruise_parse_count(colon + 1, 65535, &port, NULL, 0) || !port)
		goto bad;
	return 0;
bad:
	return fail_line(c, path, line_of(c, path),
			 "bad listen address \"%s\": expected IP:PORT (\"127.0.0.1:9464\", "
			 "\"[::1]:9464\"), or \"\" for no metrics",
			 quote(orig, q, sizeof(q)));
}

static int parse_scope(struct ctx *c, const char *s, char **out)
{
	return norm_cgroup(c, "scope", s, out);
}

/* fleet: limits; the agent's lease logic (fleet.c) relies on them */
#define FLEET_REFRESH_MIN_NS (10 * 1000000ULL)
#define FLEET_REFRESH_MAX_NS (60 * NSEC_PER_SEC)
#define FLEET_LEASE_MAX_NS   (600 * NSEC_PER_SEC)
#define FLEET_NODES_MAX	     100000
#define FLEET_NODE_MAX	     63
#define FLEET_PREFIX_MAX     64
#define FLEET_USER_MAX	     128
#define REDIS_FORMS                                                                                \
	"expected HOST:PORT, HOST a DNS name, an IPv4 address or [IPv6] (\"redis:6379\", "         \
	"\"[fd00::5]:6379\"), or a unix socket path (\"/run/redis/redis.sock\")"

static bool chars_ok(const char *s, const char *extra)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(extra, *s))
			return false;
	return true;
}

/*
 * An IPv4 address, or a DNS name: labels of 1 to 63 letters, digits and '-' (not at either end),
 * 253 characters in all. A numeric last label is refused, so that "10.0.0.256" is not looked up.
 */
static bool redis_host_ok(const char *s, size_t n)
{
	unsigned char addr[4];
	char host[254];
	size_t i, start = 0;
	bool numeric = true;

	if (!n || n >= sizeof(host))
		return false;
	memcpy(host, s, n);
	host[n] = '\0';
	if (inet_pton(AF_INET, host, addr) == 1)
		return true;
	for (i = 0; i <= n; i++) {
		if (i == n || host[i] == '.') {
			if (i == start || i - start > 63 || host[start] == '-' ||
			    host[i - 1] == '-')
				return false;
			if (i < n)
				numeric = true;
			start = i + 1;
			continue;
		}
		if (!isalnum((unsigned char)host[i]) && host[i] != '-')
			return false;
		if (!isdigit((unsigned char)host[i]))
			numeric = false;
	}
	return !numeric;
}

static int check_redis(struct ctx *c, const char *s)
{
	const char *path = "fleet.redis", *port, *rb;
	unsigned int line = line_of(c, path);
	struct sockaddr_un sa;
	unsigned char addr[16];
	char q[QBUF], q2[QBUF], host[INET6_ADDRSTRLEN];
	__u64 v;

	if (!*s)
		return fail_line(c, path, line, "empty; " REDIS_FORMS);
	if (s[0] == '/') {
		if (strlen(s) >= sizeof(sa.sun_path))
			return fail_line(c, path, line,
					 "\"%s\": longer than %zu characters, the most for a unix "
					 "socket path",
					 quote(s, q, sizeof(q)), sizeof(sa.sun_path) - 1);
		return 0;
	}
	if (s[0] == '[') {
		/* "[v6]:port": the address's colons are not the port's */
		rb = strchr(s, ']');
		if (!rb || (size_t)(rb - s - 1) >= sizeof(host))
			goto bad_host;
		memcpy(host, s + 1, rb - s - 1);
		host[rb - s - 1] = '\0';
		if (inet_pton(AF_INET6, host, addr) != 1)
			goto bad_host;
		if (!rb[1])
			goto no_port;
		if (rb[1] != ':')
			goto bad_host;
		port = rb + 2;
	} else {
		port = strrchr(s, ':');
		if (!port)
			goto no_port;
		if (!redis_host_ok(s, port - s))
			goto bad_host;
		port++;
	}
	if (cruise_parse_count(port, 65535, &v, NULL, 0) || !v)
		return fail_line(c, path, line, "\"%s\": bad port \"%s\": expected 1 to 65535",
				 quote(s, q, sizeof(q)), quote(port, q2, sizeof(q2)));
	return 0;
no_port:
	return fail_line(c, path, line, "\"%s\": no port; " REDIS_FORMS, quote(s, q, sizeof(q)));
bad_host:
	return fail_line(c, path, line, "\"%s\": bad host; " REDIS_FORMS, quote(s, q, sizeof(q)));
}

/* NULL when s can name a node in the fleet (it goes into Redis keys and metrics), else why not. */
static const char *node_problem(const char *s)
{
	if (!*s)
		return "empty";
	if (strlen(s) > FLEET_NODE_MAX)
		return "longer than 63 characters";
	if (!chars_ok(s, "._-"))
		return "only letters, digits, '.', '_' and '-' are allowed";
	return NULL;
}

/* No node configured: $NODE_NAME (the downward API on Kubernetes), else the host name. */
static int default_node(struct ctx *c, char **out)
{
	const char *path = "fleet.node", *env = getenv("NODE_NAME"), *why;
	char host[256], q[QBUF];
	int ret = 0;

	if (env && *env) {
		if ((why = node_problem(env)))
			return fail_line(c, path, line_of(c, path),
					 "not given, and $NODE_NAME \"%s\" cannot be the default: "
					 "%s; set node",
					 quote(env, q, sizeof(q)), why);
		*out = xstrdup(env, &ret);
		return ret;
	}
	if (gethostname(host, sizeof(host)))
		return fail_line(c, path, line_of(c, path),
				 "not given, no $NODE_NAME, and no host name (%s); set node",
				 strerror(errno));
	host[sizeof(host) - 1] = '\0';
	if ((why = node_problem(host)))
		return fail_line(c, path, line_of(c, path),
				 "not given, no $NODE_NAME, and the host name \"%s\" cannot be the "
				 "default: %s; set node",
				 quote(host, q, sizeof(q)), why);
	*out = xstrdup(host, &ret);
	return ret;
}

/* fleet.KEY, a duration within [min, max], or def when not given. */
static int fleet_duration(struct ctx *c, const char *key, const char *s, __u64 def, __u64 min,
			  __u64 max, __u64 *out)
{
	char path[32], uerr[384], q[QBUF], lim[32];

	*out = def;
	if (!s)
		return 0;
	snprintf(path, sizeof(path), "fleet.%s", key);
	if (cruise_parse_duration(s, out, uerr, sizeof(uerr)))
		return fail_line(c, path, line_of(c, path), "%s", uerr);
	if (*out < min) {
		cruise_format_duration(min, lim, sizeof(lim));
		return fail_line(c, path, line_of(c, path), "\"%s\" is below the minimum, %s",
				 quote(s, q, sizeof(q)), lim);
	}
	if (*out > max) {
		cruise_format_duration(max, lim, sizeof(lim));
		return fail_line(c, path, line_of(c, path), "\"%s\" is above the maximum, %s",
				 quote(s, q, sizeof(q)), lim);
	}
	return 0;
}

/* The password, from password_file (units.h: the first line, a regular file only). */
static int read_password(struct ctx *c, const char *file, char **out)
{
	const char *path = "fleet.password_file";
	char q[QBUF], why[QBUF + 96];
	int ret = cruise_read_secret(file, quote(file, q, sizeof(q)), out, why, sizeof(why));

	if (ret == -ENOMEM)
		return ret;
	return ret ? fail_line(c, path, line_of(c, path), "%s", why) : 0;
}

static int parse_fleet(struct ctx *c, const struct raw_fleet *r, struct cruise_cfg_fleet *f)
{
	char uerr[384], q[QBUF], d[32];
	const char *path, *why;
	__u64 v;
	int ret;

	ret = check_redis(c, r->redis);
	if (ret)
		return ret;
	f->redis = xstrdup(r->redis, &ret);
	if (ret)
		return ret;

	if (r->node) {
		path = "fleet.node";
		if ((why = node_problem(r->node)))
			return fail_line(c, path, line_of(c, path), "\"%s\": %s",
					 quote(r->node, q, sizeof(q)), why);
		f->node = xstrdup(r->node, &ret);
	} else {
		ret = default_node(c, &f->node);
	}
	if (ret)
		return ret;

	/* keys are "{prefix:medium}": braces would move them to another Redis Cluster slot */
	path = "fleet.key_prefix";
	if (r->key_prefix && (!*r->key_prefix || strlen(r->key_prefix) > FLEET_PREFIX_MAX ||
			      !chars_ok(r->key_prefix, "._:-")))
		return fail_line(c, path, line_of(c, path),
				 "\"%s\": expected 1 to %d letters, digits, '.', '_', ':' and '-'",
				 quote(r->key_prefix, q, sizeof(q)), FLEET_PREFIX_MAX);
	f->key_prefix = xstrdup(r->key_prefix ? r->key_prefix : CRUISE_FLEET_DEFAULT_PREFIX, &ret);
	if (ret)
		return ret;

	ret = fleet_duration(c, "refresh", r->refresh, CRUISE_FLEET_DEFAULT_REFRESH_NS,
			     FLEET_REFRESH_MIN_NS, FLEET_REFRESH_MAX_NS, &f->refresh_ns);
	if (!ret)
		ret = fleet_duration(c, "lease", r->lease, CRUISE_FLEET_DEFAULT_LEASE_NS, 0,
				     FLEET_LEASE_MAX_NS, &f->lease_ns);
	if (!ret)
		ret = fleet_duration(c, "forget_after", r->forget_after,
				     CRUISE_FLEET_DEFAULT_FORGET_NS, 0, CRUISE_DURATION_MAX_NS,
				     &f->forget_after_ns);
	if (ret)
		return ret;
	/*
	 * A lease outlives two refreshes: one late or lost refresh does not drop the node. The
	 * defaults agree with each other, so a key named below was given.
	 */
	if (f->lease_ns <= 2 * f->refresh_ns) {
		cruise_format_duration(2 * f->refresh_ns, d, sizeof(d));
		if (r->lease)
			return fail_line(c, "fleet.lease", line_of(c, "fleet.lease"),
					 "\"%s\" must be more than 2 x refresh (%s)",
					 quote(r->lease, q, sizeof(q)), d);
		return fail_line(c, "fleet.refresh", line_of(c, "fleet.refresh"),
				 "\"%s\": 2 x refresh (%s) is not below the lease (default 2s); "
				 "set a longer lease",
				 quote(r->refresh, q, sizeof(q)), d);
	}
	/* a node is forgotten only once its lease has run out */
	if (f->forget_after_ns < f->lease_ns) {
		cruise_format_duration(f->lease_ns, d, sizeof(d));
		if (r->forget_after)
			return fail_line(c, "fleet.forget_after", line_of(c, "fleet.forget_after"),
					 "\"%s\" is shorter than the lease (%s)",
					 quote(r->forget_after, q, sizeof(q)), d);
		return fail_line(c, "fleet.lease", line_of(c, "fleet.lease"),
				 "\"%s\" is longer than forget_after (default 1m); set "
				 "forget_after to at least the lease",
				 quote(r->lease, q, sizeof(q)));
	}

	f->expected_nodes = CRUISE_FLEET_DEFAULT_EXPECTED_NODES;
	if (r->expected_nodes) {
		path = "fleet.expected_nodes";
		if (cruise_parse_count(r->expected_nodes, FLEET_NODES_MAX, &v, uerr, sizeof(uerr)))
			return fail_line(c, path, line_of(c, path), "%s", uerr);
		if (!v)
			return fail_line(c, path, line_of(c, path), "\"0\": expected 1 to %d",
					 FLEET_NODES_MAX);
		f->expected_nodes = v;
	}

	if (r->username) {
		const unsigned char *u = (const unsigned char *)r->username;

		path = "fleet.username";
		if (!*u)
			return fail_line(c, path, line_of(c, path), "empty");
		if (strlen(r->username) > FLEET_USER_MAX)
			return fail_line(c, path, line_of(c, path), "longer than %d characters",
					 FLEET_USER_MAX);
		for (; *u; u++)
			if (*u <= ' ' || *u == 0x7f)
				return fail_line(c, path, line_of(c, path),
						 "\"%s\": no spaces or control characters",
						 quote(r->username, q, sizeof(q)));
		if (!r->password_file)
			return fail_line(c, path, line_of(c, path),
					 "a username needs password_file (Redis AUTH takes both)");
		f->username = xstrdup(r->username, &ret);
		if (ret)
			return ret;
	}

	if (r->password_file) {
		path = "fleet.password_file";
		if (r->password_file[0] != '/')
			return fail_line(c, path, line_of(c, path),
					 "\"%s\": expected an absolute path",
					 quote(r->password_file, q, sizeof(q)));
		f->password_file = xstrdup(r->password_file, &ret);
		if (ret)
			return ret;
		ret = read_password(c, r->password_file, &f->password);
	}
	return ret;
}

/* v4 as ::ffff:a.b.c.d, the way the datapath's trie keys it, to find a target given twice */
static void prefix_key(const struct cruise_prefix *p, __u8 addr[16], unsigned int *len)
{
	if (p->family == AF_INET) {
		memset(addr, 0, 10);
		addr[10] = addr[11] = 0xff;
		memcpy(addr + 12, p->addr, 4);
		*len = 96 + p->len;
	} else {
		memcpy(addr, p->addr, 16);
		*len = p->len;
	}
}

static bool same_prefix(const struct cruise_prefix *a, const struct cruise_prefix *b)
{
	__u8 ka[16], kb[16];
	unsigned int la, lb;

	prefix_key(a, ka, &la);
	prefix_key(b, kb, &lb);
	return la == lb && !memcmp(ka, kb, 16);
}

static int parse_target(struct ctx *c, unsigned int t, const struct raw_target *r,
			struct cruise_cfg_target *out)
{
	char path[96], uerr[384], q[QBUF];
	unsigned int i, j;
	int ret = 0;

	snprintf(path, sizeof(path), "targets[%u].name", t);
	ret = check_name(c, path, r->name);
	if (ret)
		return ret;
	out->name = xstrdup(r->name, &ret);
	if (ret)
		return ret;

	snprintf(path, sizeof(path), "targets[%u].addresses", t);
	if (!r->n_addresses)
		return fail_line(c, path, line_of(c, path), "empty; at least one address");
	out->prefixes = calloc(r->n_addresses, sizeof(*out->prefixes));
	if (!out->prefixes)
		return -ENOMEM;
	for (i = 0; i < r->n_addresses; i++) {
		snprintf(path, sizeof(path), "targets[%u].addresses[%u]", t, i);
		if (cruise_parse_prefix(r->addresses[i], &out->prefixes[i], uerr, sizeof(uerr)))
			return fail_line(c, path, line_of(c, path), "%s", uerr);
		out->n_prefixes++;
		for (j = 0; j < i; j++)
			if (same_prefix(&out->prefixes[j], &out->prefixes[i]))
				return fail_line(c, path, line_of(c, path),
						 "\"%s\" is listed twice (also addresses[%u])",
						 quote(r->addresses[i], q, sizeof(q)), j);
	}

	snprintf(path, sizeof(path), "targets[%u].ports", t);
	if (!r->n_ports)
		return fail_line(c, path, line_of(c, path), "empty; at least one port");
	out->ports = calloc(r->n_ports, sizeof(*out->ports));
	if (!out->ports)
		return -ENOMEM;
	for (i = 0; i < r->n_ports; i++) {
		__u64 port;

		snprintf(path, sizeof(path), "targets[%u].ports[%u]", t, i);
		if (cruise_parse_count(r->ports[i], 65535, &port, NULL, 0) || !port)
			return fail_line(c, path, line_of(c, path),
					 "bad port \"%s\": expected 1 to 65535",
					 quote(r->ports[i], q, sizeof(q)));
		out->ports[i] = port;
		out->n_ports++;
		for (j = 0; j < i; j++)
			if (out->ports[j] == port)
				return fail_line(c, path, line_of(c, path),
						 "port %u is listed twice (also ports[%u])",
						 (unsigned int)port, j);
	}
	return 0;
}

/* The same address and port in two targets: one trie entry, two ids. */
static int check_target_overlap(struct ctx *c, const struct cruise_config *cfg, unsigned int t,
				const struct raw_target *r)
{
	const struct cruise_cfg_target *a = &cfg->targets[t];
	unsigned int u, i, j, pi, pj;
	char path[96], q[QBUF];

	for (u = 0; u < t; u++) {
		const struct cruise_cfg_target *b = &cfg->targets[u];

		for (i = 0; i < a->n_prefixes; i++)
			for (j = 0; j < b->n_prefixes; j++) {
				if (!same_prefix(&a->prefixes[i], &b->prefixes[j]))
					continue;
				for (pi = 0; pi < a->n_ports; pi++)
					for (pj = 0; pj < b->n_ports; pj++) {
						if (a->ports[pi] != b->ports[pj])
							continue;
						snprintf(path, sizeof(path),
							 "targets[%u].addresses[%u]", t, i);
						return fail_line(
							c, path, line_of(c, path),
							"\"%s\" port %u is also in targets[%u] "
							"(%s)",
							quote(r->addresses[i], q, sizeof(q)),
							a->ports[pi], u, b->name);
					}
			}
	}
	return 0;
}

/*
 * Whether pattern (normalized) can match the scope or a cgroup under it. The agent matches with
 * FNM_PATHNAME (agent/bind.c), where a glob matches within one component: so the pattern's first
 * as many components as the scope has must match the scope.
 */
static bool under_scope(char *pattern, const char *scope)
{
	unsigned int k = 0, n = 0;
	const char *p;
	bool ok;
	char save;
	size_t i;

	if (!strcmp(scope, "/"))
		return true;
	if (!strcmp(pattern, "/"))
		return false;
	for (p = scope; *p; p++)
		k += *p == '/';
	for (i = 0; pattern[i]; i++)
		if (pattern[i] == '/' && ++n > k)
			break;
	if (n < k)
		return false;
	save = pattern[i];
	pattern[i] = '\0';
	ok = !fnmatch(pattern, scope, FNM_PATHNAME);
	pattern[i] = save;
	return ok;
}

static int collect_labels(struct ctx *c, unsigned int m, struct cruise_cfg_medium *out);

static int parse_medium(struct ctx *c, unsigned int m, const struct raw_medium *r,
			const char *scope, bool have_fleet, struct cruise_cfg_medium *out)
{
	char path[96], uerr[384], q[QBUF], q2[QBUF];
	unsigned int i, j;
	__u64 v;
	int ret = 0;

	snprintf(path, sizeof(path), "media[%u].name", m);
	ret = check_name(c, path, r->name);
	if (ret)
		return ret;
	out->name = xstrdup(r->name, &ret);
	if (ret)
		return ret;

	snprintf(path, sizeof(path), "media[%u].rate", m);
	if (cruise_parse_rate(r->rate, &out->interval_ns, uerr, sizeof(uerr)))
		return fail_line(c, path, line_of(c, path), "%s", uerr);

	if (r->burst) {
		snprintf(path, sizeof(path), "media[%u].burst", m);
		if (cruise_parse_count(r->burst, CRUISE_BURST_MAX, &out->burst, uerr, sizeof(uerr)))
			return fail_line(c, path, line_of(c, path), "%s", uerr);
	}

	out->max_wait_ns = DEFAULT_MAX_WAIT;
	if (r->max_wait) {
		snprintf(path, sizeof(path), "media[%u].max_wait", m);
		if (cruise_parse_duration(r->max_wait, &out->max_wait_ns, uerr, sizeof(uerr)))
			return fail_line(c, path, line_of(c, path), "%s", uerr);
		if (out->max_wait_ns > CRUISE_MAX_WAIT_MAX_NS)
			return fail_line(c, path, line_of(c, path),
					 "\"%s\" is above the maximum, 120s (the kernel caps a "
					 "SYN timeout at 120 s)",
					 quote(r->max_wait, q, sizeof(q)));
	}

	if (r->max_conns) {
		snprintf(path, sizeof(path), "media[%u].max_conns", m);
		if (cruise_parse_count(r->max_conns, UINT32_MAX, &v, uerr, sizeof(uerr)))
			return fail_line(c, path, line_of(c, path), "%s", uerr);
		out->max_conns = v;
	}

	out->refuse_errno = ECONNREFUSED;
	if (r->refuse_errno) {
		snprintf(path, sizeof(path), "media[%u].refuse_errno", m);
		if (cruise_parse_errno(r->refuse_errno, &out->refuse_errno, uerr, sizeof(uerr)))
			return fail_line(c, path, line_of(c, path), "%s", uerr);
	}

	if (r->dry_run) {
		snprintf(path, sizeof(path), "media[%u].dry_run", m);
		if (cruise_parse_bool(r->dry_run, &out->dry_run, uerr, sizeof(uerr)))
			return fail_line(c, path, line_of(c, path), "%s", uerr);
	}

	if (r->fleet) {
		snprintf(path, sizeof(path), "media[%u].fleet", m);
		if (cruise_parse_bool(r->fleet, &out->fleet, uerr, sizeof(uerr)))
			return fail_line(c, path, line_of(c, path), "%s", uerr);
		if (out->fleet && !have_fleet)
			return fail_line(
				c, path, line_of(c, path),
				"fleet: true needs a top-level fleet: block (redis, node, ...)");
	}
	if (r->fallback_rate) {
		snprintf(path, sizeof(path), "media[%u].fallback_rate", m);
		if (!out->fleet)
			return fail_line(c, path, line_of(c, path),
					 "only with fleet: true (a node's rate while it holds no "
					 "share of the fleet's)");
		if (cruise_parse_rate(r->fallback_rate, &out->fallback_interval_ns, uerr,
				      sizeof(uerr)))
			return fail_line(c, path, line_of(c, path), "%s", uerr);
		/* one node alone never paces faster than the whole fleet may */
		if (out->fallback_interval_ns < out->interval_ns)
			return fail_line(c, path, line_of(c, path),
					 "\"%s\" is above the medium's rate, \"%s\"",
					 quote(r->fallback_rate, q, sizeof(q)),
					 quote(r->rate, q2, sizeof(q2)));
	}

	snprintf(path, sizeof(path), "media[%u].cgroups", m);
	if (!r->n_cgroups && has_spot(c, path))
		return fail_line(c, path, line_of(c, path), "empty; at least one cgroup");
	if (!r->n_cgroups && !r->pods) {
		snprintf(path, sizeof(path), "media[%u]", m);
		return fail_line(c, path, line_of(c, path),
				 "no cgroups and no pods: a medium needs cgroups, pods or both");
	}
	if (r->pods) {
		ret = collect_labels(c, m, out);
		if (ret)
			return ret;
	}
	out->cgroups = calloc(r->n_cgroups ? r->n_cgroups : 1, sizeof(*out->cgroups));
	if (!out->cgroups)
		return -ENOMEM;
	for (i = 0; i < r->n_cgroups; i++) {
		char *cg;

		snprintf(path, sizeof(path), "media[%u].cgroups[%u]", m, i);
		ret = norm_cgroup(c, path, r->cgroups[i], &out->cgroups[i]);
		if (ret)
			return ret;
		out->n_cgroups++;
		cg = out->cgroups[i];
		/* only cgroups under the scope are paced: one outside is a mistake, said now */
		if (!under_scope(cg, scope))
			return fail_line(
				c, path, line_of(c, path),
				"\"%s\" is outside the scope \"%s\", where nothing is paced",
				quote(cg, q, sizeof(q)), quote(scope, q2, sizeof(q2)));
		for (j = 0; j < i; j++)
			if (!strcmp(out->cgroups[j], cg))
				return fail_line(c, path, line_of(c, path),
						 "\"%s\" is listed twice (also cgroups[%u])",
						 quote(cg, q, sizeof(q)), j);
	}
	return 0;
}

/* Kubernetes: a DNS-1123 subdomain prefix (253), a '/', then a name of at most 63 characters:
 * alphanumerics at both ends, '-', '_' and '.' between. */
static bool label_name_ok(const char *s, size_t n)
{
	size_t i;

	if (!n || n > 63 || !isalnum((unsigned char)s[0]) || !isalnum((unsigned char)s[n - 1]))
		return false;
	for (i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-' && s[i] != '_' && s[i] != '.')
			return false;
	return true;
}

const char *cruise_label_key_problem(const char *key)
{
	const char *slash = strchr(key, '/'), *name = slash ? slash + 1 : key;
	size_t plen = slash ? (size_t)(slash - key) : 0, i;

	if (!*key)
		return "empty";
	if (slash) {
		if (!plen || plen > 253)
			return "the prefix before '/' must be 1 to 253 characters";
		for (i = 0; i < plen; i++) {
			char ch = key[i];

			if (!(ch >= 'a' && ch <= 'z') && !(ch >= '0' && ch <= '9') && ch != '-' &&
			    ch != '.')
				return "the prefix must be a DNS subdomain: lowercase letters, "
				       "digits, '-' and '.'";
		}
		if (!isalnum((unsigned char)key[0]) || !isalnum((unsigned char)key[plen - 1]))
			return "the prefix must start and end with a letter or digit";
	}
	if (!label_name_ok(name, strlen(name)))
		return "the name must be 1 to 63 characters: letters and digits at both ends, "
		       "'-', '_' and '.' between";
	return NULL;
}

const char *cruise_label_value_problem(const char *value)
{
	if (!*value || label_name_ok(value, strlen(value)))
		return NULL;
	return "a value is empty or at most 63 characters: letters and digits at both ends, "
	       "'-', '_' and '.' between";
}

static const char *node_kind(const yaml_node_t *n)
{
	return n->type == YAML_MAPPING_NODE    ? "a mapping"
	       : n->type == YAML_SEQUENCE_NODE ? "a list"
					       : "a single value";
}

/* The value node of key in a mapping node, or NULL. */
static yaml_node_t *map_get(yaml_document_t *d, yaml_node_t *map, const char *key)
{
	yaml_node_pair_t *p;

	if (!map || map->type != YAML_MAPPING_NODE)
		return NULL;
	for (p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
		yaml_node_t *k = yaml_document_get_node(d, p->key);

		if (k && k->type == YAML_SCALAR_NODE && !strcmp((char *)k->data.scalar.value, key))
			return yaml_document_get_node(d, p->value);
	}
	return NULL;
}

/* media[m].pods.matchLabels, from the document (pass 1 checked its syntax), into out->labels. */
static int collect_labels(struct ctx *c, unsigned int m, struct cruise_cfg_medium *out)
{
	yaml_parser_t p;
	yaml_document_t d;
	yaml_node_t *media, *sel;
	yaml_node_pair_t *pr;
	char path[96], q[QBUF];
	const char *why;
	int ret = 0;

	snprintf(path, sizeof(path), "media[%u].pods.matchLabels", m);
	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)c->data, c->len);
	if (!yaml_parser_load(&p, &d)) {
		yaml_parser_delete(&p);
		return -ENOMEM;
	}
	media = map_get(&d, yaml_document_get_root_node(&d), "media");
	sel = NULL;
	if (media && media->type == YAML_SEQUENCE_NODE &&
	    m < (unsigned int)(media->data.sequence.items.top - media->data.sequence.items.start))
		sel = map_get(&d, yaml_document_get_node(&d, media->data.sequence.items.start[m]),
			      "pods");
	sel = map_get(&d, sel, "matchLabels");
	if (!sel) {
		ret = fail_line(c, path, line_of(c, path), "missing (required)");
		goto out;
	}
	if (sel->type != YAML_MAPPING_NODE) {
		ret = fail_line(c, path, sel->start_mark.line + 1, "expected a mapping, found %s",
				node_kind(sel));
		goto out;
	}
	for (pr = sel->data.mapping.pairs.start; pr < sel->data.mapping.pairs.top; pr++) {
		yaml_node_t *k = yaml_document_get_node(&d, pr->key);
		yaml_node_t *v = yaml_document_get_node(&d, pr->value);
		unsigned int line = k->start_mark.line + 1, j;
		const char *key = (const char *)k->data.scalar.value;

		if (v->type != YAML_SCALAR_NODE) {
			ret = fail_line(c, path, line,
					"label \"%s\": expected a single value, found %s",
					quote(key, q, sizeof(q)), node_kind(v));
			goto out;
		}
		if ((why = cruise_label_key_problem(key))) {
			ret = fail_line(c, path, line, "label key \"%s\": %s",
					quote(key, q, sizeof(q)), why);
			goto out;
		}
		if ((why = cruise_label_value_problem((const char *)v->data.scalar.value))) {
			ret = fail_line(c, path, line, "label %s value \"%s\": %s", key,
					quote((const char *)v->data.scalar.value, q, sizeof(q)),
					why);
			goto out;
		}
		for (j = 0; j < out->n_labels; j++)
			if (!strcmp(out->labels[j].key, key)) {
				ret = fail_line(c, path, line, "label %s is given twice", key);
				goto out;
			}
		if (out->n_labels == CRUISE_MAX_LABELS) {
			ret = fail_line(c, path, line, "more than %d labels", CRUISE_MAX_LABELS);
			goto out;
		}
		if (!out->labels) {
			out->labels = calloc(CRUISE_MAX_LABELS, sizeof(*out->labels));
			if (!out->labels) {
				ret = -ENOMEM;
				goto out;
			}
		}
		out->labels[out->n_labels].key = xstrdup(key, &ret);
		out->labels[out->n_labels].value =
			xstrdup((const char *)v->data.scalar.value, &ret);
		out->n_labels++;
		if (ret)
			goto out;
	}
	if (!out->n_labels)
		ret = fail_line(c, path, sel->start_mark.line + 1,
				"empty; at least one label (an empty selector would take every "
				"pod on the node)");
out:
	yaml_document_delete(&d);
	yaml_parser_delete(&p);
	return ret;
}

bool cruise_config_uses_pods(const struct cruise_config *cfg)
{
	for (unsigned int i = 0; cfg && i < cfg->n_media; i++)
		if (cfg->media[i].n_labels)
			return true;
	return false;
}

struct cg_ref {
	const char *s;
	unsigned int m, i;
};

static int cg_ref_cmp(const void *a, const void *b)
{
	const struct cg_ref *x = a, *y = b;
	int d = strcmp(x->s, y->s);

	if (d)
		return d;
	if (x->m != y->m)
		return x->m < y->m ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/* A cgroup pattern under two media; reported at the earliest second listing in the file. */
static int check_cgroup_dups(struct ctx *c, const struct cruise_config *cfg)
{
	struct cg_ref *v, *dup = NULL, *first = NULL;
	size_t n = 0, k, i;
	unsigned int m;
	int ret = 0;

	for (m = 0; m < cfg->n_media; m++)
		n += cfg->media[m].n_cgroups;
	v = calloc(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (m = 0, k = 0; m < cfg->n_media; m++)
		for (i = 0; i < cfg->media[m].n_cgroups; i++)
			v[k++] = (struct cg_ref){ cfg->media[m].cgroups[i], m, i };
	qsort(v, n, sizeof(*v), cg_ref_cmp);
	for (k = 1; k < n; k++) {
		/* the second of each run of equal patterns */
		if (strcmp(v[k].s, v[k - 1].s) || (k >= 2 && !strcmp(v[k].s, v[k - 2].s)))
			continue;
		if (!dup || v[k].m < dup->m || (v[k].m == dup->m && v[k].i < dup->i)) {
			dup = &v[k];
			first = &v[k - 1];
		}
	}
	if (dup) {
		char path[96], q[QBUF];

		snprintf(path, sizeof(path), "media[%u].cgroups[%u]", dup->m, dup->i);
		ret = fail_line(c, path, line_of(c, path),
				"\"%s\" is also listed under media[%u] (%s); a cgroup paces under "
				"one medium",
				quote(dup->s, q, sizeof(q)), first->m, cfg->media[first->m].name);
	}
	free(v);
	return ret;
}

static int convert(struct ctx *c, const struct raw_config *r, struct cruise_config **out)
{
	struct cruise_config *cfg;
	unsigned int i, j;
	__u64 pairs = 0;
	char path[96];
	int ret = 0;

	cfg = calloc(1, sizeof(*cfg));
	if (!cfg)
		return -ENOMEM;

	ret = parse_scope(c, r->scope ? r->scope : "/", &cfg->scope);
	if (ret)
		goto err;
	ret = parse_pin_dir(c, r->pin_dir ? r->pin_dir : CRUISE_DEFAULT_PIN_DIR, &cfg->pin_dir);
	if (ret)
		goto err;
	cfg->metrics = xstrdup(r->metrics ? r->metrics : CRUISE_DEFAULT_METRICS, &ret);
	if (ret)
		goto err;
	ret = check_metrics(c, cfg->metrics);
	if (ret)
		goto err;
	if (r->fleet) {
		cfg->fleet = calloc(1, sizeof(*cfg->fleet));
		if (!cfg->fleet) {
			ret = -ENOMEM;
			goto err;
		}
		ret = parse_fleet(c, r->fleet, cfg->fleet);
		if (ret)
			goto err;
	}

	if (!r->n_targets) {
		ret = fail_line(c, "targets", line_of(c, "targets"),
				"empty; at least one target (the database) is required");
		goto err;
	}
	cfg->targets = calloc(r->n_targets, sizeof(*cfg->targets));
	if (!cfg->targets) {
		ret = -ENOMEM;
		goto err;
	}
	for (i = 0; i < r->n_targets; i++) {
		cfg->n_targets++;
		ret = parse_target(c, i, &r->targets[i], &cfg->targets[i]);
		if (ret)
			goto err;
		snprintf(path, sizeof(path), "targets[%u]", i);
		pairs += (__u64)cfg->targets[i].n_prefixes * cfg->targets[i].n_ports;
		if (pairs > CRUISE_MAX_TARGETS) {
			ret = fail_line(c, path, line_of(c, path),
					"more than %d address and port pairs in all targets",
					CRUISE_MAX_TARGETS);
			goto err;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(cfg->targets[j].name, cfg->targets[i].name))
				continue;
			snprintf(path, sizeof(path), "targets[%u].name", i);
			ret = fail_line(c, path, line_of(c, path),
					"\"%s\" is also the name of targets[%u]",
					cfg->targets[i].name, j);
			goto err;
		}
		ret = check_target_overlap(c, cfg, i, &r->targets[i]);
		if (ret)
			goto err;
	}

	if (!r->n_media) {
		ret = fail_line(c, "media", line_of(c, "media"),
				"empty; at least one medium is required");
		goto err;
	}
	if (r->n_media > CRUISE_MAX_MEDIA) {
		snprintf(path, sizeof(path), "media[%d]", CRUISE_MAX_MEDIA);
		ret = fail_line(c, path, line_of(c, path), "more than %d media", CRUISE_MAX_MEDIA);
		goto err;
	}
	cfg->media = calloc(r->n_media, sizeof(*cfg->media));
	if (!cfg->media) {
		ret = -ENOMEM;
		goto err;
	}
	for (i = 0; i < r->n_media; i++) {
		cfg->n_media++;
		ret = parse_medium(c, i, &r->media[i], cfg->scope, r->fleet != NULL,
				   &cfg->media[i]);
		if (ret)
			goto err;
		for (j = 0; j < i; j++) {
			if (strcmp(cfg->media[j].name, cfg->media[i].name))
				continue;
			snprintf(path, sizeof(path), "media[%u].name", i);
			ret = fail_line(c, path, line_of(c, path),
					"\"%s\" is also the name of media[%u]", cfg->media[i].name,
					j);
			goto err;
		}
	}
	ret = check_cgroup_dups(c, cfg);
	if (ret)
		goto err;

	*out = cfg;
	return 0;
err:
	cruise_config_free(cfg);
	return ret;
}

int cruise_config_parse(const char *name, const char *data, size_t len, struct cruise_config **out,
			char *err, size_t errlen)
{
	struct ctx c = { .name = name ? name : "config",
			 .err = err,
			 .errlen = errlen,
			 .data = data,
			 .len = len };
	struct cylog log = { .msg = NULL };
	const cyaml_config_t cy = {
		.log_fn = cylog_fn,
		.log_ctx = &log,
		.mem_fn = cyaml_mem,
		.log_level = CYAML_LOG_ERROR,
		.flags = CYAML_CFG_NO_ALIAS,
	};
	struct raw_config *raw = NULL;
	cyaml_err_t e;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!out || (!data && len))
		return -EINVAL;
	if (!data)
		data = "";
	if (len > CONFIG_MAX_BYTES) {
		fail_line(&c, "config", 1, "larger than %d bytes", CONFIG_MAX_BYTES);
		return -EFBIG;
	}

	c.data = data;
	ret = walk(&c, data, len);
	if (ret)
		goto out;

	e = cyaml_load_data((const uint8_t *)data, len, &cy, &top_schema, (cyaml_data_t **)&raw,
			    NULL);
	if (e != CYAML_OK) {
		ret = cyaml_error(&c, e, &log);
		goto out;
	}
	if (!raw) {
		/* an empty document, or only comments */
		ret = fail_line(&c, "config", 1, "empty; targets and media are required");
		goto out;
	}
	ret = convert(&c, raw, out);
out:
	if (raw)
		cyaml_free(&cy, &top_schema, raw, 0);
	free(log.msg);
	spots_free(&c);
	if (ret == -ENOMEM && err && errlen)
		snprintf(err, errlen, "%s: out of memory", c.name);
	return ret;
}

int cruise_config_load(const char *path, struct cruise_config **out, char *err, size_t errlen)
{
	size_t len = 0, cap = 0;
	char *data = NULL;
	FILE *f;
	int ret;

	if (err && errlen)
		err[0] = '\0';
	f = fopen(path, "re");
	if (!f) {
		ret = -errno;
		if (err && errlen)
			snprintf(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	for (;;) {
		size_t n;

		if (len == cap) {
			char *d;

			if (cap > CONFIG_MAX_BYTES) {
				ret = -EFBIG;
				if (err && errlen)
					snprintf(err, errlen, "%s: larger than %d bytes", path,
						 CONFIG_MAX_BYTES);
				goto out;
			}
			cap = cap ? cap * 2 : 4096;
			d = realloc(data, cap);
			if (!d) {
				ret = -ENOMEM;
				if (err && errlen)
					snprintf(err, errlen, "%s: out of memory", path);
				goto out;
			}
			data = d;
		}
		errno = 0;
		n = fread(data + len, 1, cap - len, f);
		len += n;
		if (n)
			continue;
		if (ferror(f)) {
			/* a directory opens, and fails here with EISDIR */
			ret = errno ? -errno : -EIO;
			if (err && errlen)
				snprintf(err, errlen, "%s: %s", path, strerror(-ret));
			goto out;
		}
		break;
	}
	ret = cruise_config_parse(path, data, len, out, err, errlen);
out:
	free(data);
	fclose(f);
	return ret;
}

void cruise_config_free(struct cruise_config *cfg)
{
	unsigned int i, j;

	if (!cfg)
		return;
	for (i = 0; i < cfg->n_targets; i++) {
		free(cfg->targets[i].name);
		free(cfg->targets[i].prefixes);
		free(cfg->targets[i].ports);
	}
	for (i = 0; i < cfg->n_media; i++) {
		free(cfg->media[i].name);
		for (j = 0; j < cfg->media[i].n_cgroups; j++)
			free(cfg->media[i].cgroups[j]);
		free(cfg->media[i].cgroups);
		for (j = 0; j < cfg->media[i].n_labels; j++) {
			free(cfg->media[i].labels[j].key);
			free(cfg->media[i].labels[j].value);
		}
		free(cfg->media[i].labels);
	}
	if (cfg->fleet) {
		free(cfg->fleet->redis);
		free(cfg->fleet->node);
		free(cfg->fleet->key_prefix);
		free(cfg->fleet->username);
		if (cfg->fleet->password)
			explicit_bzero(cfg->fleet->password, strlen(cfg->fleet->password));
		free(cfg->fleet->password);
		free(cfg->fleet->password_file);
		free(cfg->fleet);
	}
	free(cfg->targets);
	free(cfg->media);
	free(cfg->scope);
	free(cfg->pin_dir);
	free(cfg->metrics);
	free(cfg);
}
