// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The agent's configuration file (config.h), read in one pass over libyaml's events. A table per
 * mapping (the top level, fleet, signals[i], targets[i], media[i] and what they nest) names its
 * keys, the kind of each value and where it goes in the raw config (config_raw.h); the walk fills
 * that in with the line of every key and list entry, and config_check.c then turns it into the
 * config.
 *
 * Errors keep an order: what the walk rejects for any mapping (syntax, aliases, keys that are not
 * single values, NUL bytes, a second document, deep nesting) wins over what the tables reject
 * (unknown, duplicate or missing keys, a value of the wrong kind), which wins over the checks. So
 * after a table's error the walk goes on to the end, only looking for the former.
 *
 * Every error is one line, "FILE:LINE: FIELD: problem", with user input quoted and escaped.
 *
 * Over 600 lines: the tables, the walk that reads them and the entry points that run it stay in one
 * file, so that no other file sees the walk's state; the checks are in config_check.c and
 * config_fleet.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

#include "config_raw.h"

#define CONFIG_MAX_BYTES (1 << 20)
#define WALK_MAX_DEPTH	 16 /* the tables need 4 */
#define ARRAY_SIZE(a)	 (sizeof(a) / sizeof((a)[0]))

/* Anything that could break the line becomes a '?'. */
static int vfail(struct cfg_ctx *c, const char *field, unsigned int line, const char *fmt,
		 va_list ap)
{
	size_t n, i;

	if (!c->err || !c->errlen)
		return -EINVAL;
	snprintf(c->err, c->errlen, "%s:%u: %s: ", c->name, line, field);
	n = strlen(c->err);
	vsnprintf(c->err + n, c->errlen - n, fmt, ap);
	for (i = 0; c->err[i]; i++)
		if ((unsigned char)c->err[i] < 0x20 || c->err[i] == 0x7f)
			c->err[i] = '?';
	return -EINVAL;
}

int cfg_fail(struct cfg_ctx *c, const char *field, unsigned int line, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(c, field, line, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/* The tables: each key of a mapping, the kind of its value, and where that goes. */
enum kind {
	K_STR,	  /* a single value: struct raw_str */
	K_STRS,	  /* a list of single values: struct raw_strs */
	K_MAP,	  /* a mapping, read with sub: a struct starting with its line */
	K_MAPS,	  /* a list of mappings, each read with sub: struct raw_maps */
	K_LABELS, /* any mapping of single values, checked later: struct raw_labels */
};

struct level;

struct key {
	const char *name;
	enum kind kind;
	bool required;
	size_t off; /* in the mapping's raw struct */
	const struct level *sub;
};

struct level {
	const struct key *keys;
	unsigned int n;
	size_t size; /* of the raw struct */
};

#define LEVEL_MAX_KEYS 12 /* media[i]'s, the longest table */
/* clang-format off */
#define LEVEL(keys, type) { keys, ARRAY_SIZE(keys), sizeof(type) }
/* a key named as its member */
#define KEY(type, member, kind, req, sub) { #member, kind, req, offsetof(type, member), sub }
/* clang-format on */

static const struct key service_keys[] = {
	KEY(struct raw_service, namespace, K_STR, true, NULL),
	KEY(struct raw_service, name, K_STR, true, NULL),
};
static const struct level service_level = LEVEL(service_keys, struct raw_service);

/* a target needs addresses, hosts or a service, and ports but with a service alone: checked by
 * config_check.c, where it can say so */
static const struct key target_keys[] = {
	KEY(struct raw_target, name, K_STR, true, NULL),
	KEY(struct raw_target, addresses, K_STRS, false, NULL),
	KEY(struct raw_target, hosts, K_STRS, false, NULL),
	KEY(struct raw_target, service, K_MAP, false, &service_level),
	KEY(struct raw_target, ports, K_STRS, false, NULL),
};
static const struct level target_level = LEVEL(target_keys, struct raw_target);

/* pods: {matchLabels: {...}}; matchLabels is required, but where config_check.c can say so */
static const struct key pods_keys[] = {
	{ "matchLabels", K_LABELS, false, offsetof(struct raw_pods, match), NULL },
};
static const struct level pods_level = LEVEL(pods_keys, struct raw_pods);

static const struct key adaptive_keys[] = {
	KEY(struct raw_adaptive, signal, K_STR, true, NULL),
	KEY(struct raw_adaptive, min_rate, K_STR, true, NULL),
	KEY(struct raw_adaptive, priority, K_STR, false, NULL),
	KEY(struct raw_adaptive, backoff, K_STR, false, NULL),
};
static const struct level adaptive_level = LEVEL(adaptive_keys, struct raw_adaptive);

static const struct key medium_keys[] = {
	KEY(struct raw_medium, name, K_STR, true, NULL),
	KEY(struct raw_medium, rate, K_STR, true, NULL),
	KEY(struct raw_medium, burst, K_STR, false, NULL),
	KEY(struct raw_medium, max_wait, K_STR, false, NULL),
	KEY(struct raw_medium, max_conns, K_STR, false, NULL),
	KEY(struct raw_medium, refuse_errno, K_STR, false, NULL),
	KEY(struct raw_medium, dry_run, K_STR, false, NULL),
	KEY(struct raw_medium, cgroups, K_STRS, false, NULL),
	KEY(struct raw_medium, pods, K_MAP, false, &pods_level),
	KEY(struct raw_medium, fleet, K_STR, false, NULL),
	KEY(struct raw_medium, fallback_rate, K_STR, false, NULL),
	KEY(struct raw_medium, adaptive, K_MAP, false, &adaptive_level),
};
static const struct level medium_level = LEVEL(medium_keys, struct raw_medium);
_Static_assert(ARRAY_SIZE(medium_keys) <= LEVEL_MAX_KEYS, "frame.seen holds a table's keys");

static const struct key fleet_keys[] = {
	KEY(struct raw_fleet, redis, K_STR, true, NULL),
	KEY(struct raw_fleet, node, K_STR, false, NULL),
	KEY(struct raw_fleet, key_prefix, K_STR, false, NULL),
	KEY(struct raw_fleet, refresh, K_STR, false, NULL),
	KEY(struct raw_fleet, lease, K_STR, false, NULL),
	KEY(struct raw_fleet, forget_after, K_STR, false, NULL),
	KEY(struct raw_fleet, password_file, K_STR, false, NULL),
	KEY(struct raw_fleet, username, K_STR, false, NULL),
	KEY(struct raw_fleet, expected_nodes, K_STR, false, NULL),
};
static const struct level fleet_level = LEVEL(fleet_keys, struct raw_fleet);

static const struct key postgres_keys[] = {
	KEY(struct raw_postgres, dsn_file, K_STR, true, NULL),
	KEY(struct raw_postgres, query, K_STR, false, NULL),
	KEY(struct raw_postgres, value, K_STR, false, NULL),
};
static const struct level postgres_level = LEVEL(postgres_keys, struct raw_postgres);

static const struct key prometheus_keys[] = {
	KEY(struct raw_prometheus, url, K_STR, true, NULL),
	KEY(struct raw_prometheus, query, K_STR, true, NULL),
	KEY(struct raw_prometheus, bearer_token_file, K_STR, false, NULL),
};
static const struct level prometheus_level = LEVEL(prometheus_keys, struct raw_prometheus);

static const struct key signal_keys[] = {
	KEY(struct raw_signal, name, K_STR, true, NULL),
	KEY(struct raw_signal, postgres, K_MAP, false, &postgres_level),
	KEY(struct raw_signal, prometheus, K_MAP, false, &prometheus_level),
	KEY(struct raw_signal, every, K_STR, false, NULL),
	KEY(struct raw_signal, target, K_STR, true, NULL),
};
static const struct level signal_level = LEVEL(signal_keys, struct raw_signal);

static const struct key top_keys[] = {
	KEY(struct raw_config, scope, K_STR, false, NULL),
	KEY(struct raw_config, pin_dir, K_STR, false, NULL),
	KEY(struct raw_config, metrics, K_STR, false, NULL),
	KEY(struct raw_config, targets, K_MAPS, true, &target_level),
	KEY(struct raw_config, media, K_MAPS, true, &medium_level),
	KEY(struct raw_config, fleet, K_MAP, false, &fleet_level),
	KEY(struct raw_config, signals, K_MAPS, false, &signal_level),
};
static const struct level top_level = LEVEL(top_keys, struct raw_config);

/* A growing string, for the walk's current path ("media[1].rate"). */
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
	b->s[len] = '\0';
}

/* An open mapping or list, and what the tables make of it. */
struct frame {
	bool mapping, want_key;
	unsigned long index; /* a list: the next entry's */
	size_t base;	     /* length of this node's path */
	enum { F_NONE, F_MAP, F_LIST, F_LABELS } role;
	const struct level *lv; /* F_MAP */
	const struct key *k;	/* F_MAP: the key whose value comes next; F_LIST: the list's */
	void *raw;		/* F_MAP: the raw struct; F_LIST, F_LABELS: the raw list */
	unsigned int key_line;
	unsigned int seen[LEVEL_MAX_KEYS]; /* F_MAP: the line of each key given */
};

struct walk {
	struct cfg_ctx *c;
	struct frame fr[WALK_MAX_DEPTH];
	unsigned int depth;
	struct strbuf path;
	int failed; /* a table's error is in c->err */
	bool root;
	struct raw_config *raw;
};

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

static int table_fail(struct walk *w, size_t base, const char *key, unsigned int line,
		      const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* A table's error, for the field at the first base bytes of the path, then .key if any. */
static int table_fail(struct walk *w, size_t base, const char *key, unsigned int line,
		      const char *fmt, ...)
{
	struct strbuf field = { NULL, 0, 0 };
	va_list ap;

	if (sb_printf(&field, "%.*s%s%s", (int)base, w->path.s, key && base ? "." : "",
		      key ? key : ""))
		return -ENOMEM;
	va_start(ap, fmt);
	w->failed = vfail(w->c, key ? field.s : field_name(field.s), line, fmt, ap);
	va_end(ap);
	free(field.s);
	return 0;
}

/* One element more at the end of *v (n long), zeroed; NULL without memory. */
static void *grow(void **v, unsigned int n, size_t size)
{
	char *p = *v;

	/* the capacity is the next power of two */
	if (!(n & (n - 1))) {
		p = realloc(p, (n ? 2 * n : 1) * size);
		if (!p)
			return NULL;
		*v = p;
	}
	memset(p + n * size, 0, size);
	return p + n * size;
}

static int take_str(struct raw_str *v, const yaml_event_t *ev, unsigned int line)
{
	v->s = strdup((const char *)ev->data.scalar.value);
	v->line = line;
	return v->s ? 0 : -ENOMEM;
}

/* A key in mapping t; the path ends with it. */
static int on_key(struct walk *w, struct frame *t, const char *key, unsigned int line)
{
	char q[QBUF], keys[160];
	unsigned int i;
	size_t n = 0;

	t->key_line = line;
	if (t->role == F_LABELS) {
		struct raw_labels *ls = t->raw;
		struct raw_label *l = grow((void **)&ls->v, ls->n, sizeof(*l));

		if (!l)
			return -ENOMEM;
		ls->n++;
		l->line = line;
		l->key = strdup(key);
		return l->key ? 0 : -ENOMEM;
	}
	if (t->role != F_MAP)
		return 0;
	for (i = 0; i < t->lv->n && strcmp(t->lv->keys[i].name, key); i++)
		;
	if (i == t->lv->n) {
		for (i = 0; i < t->lv->n; i++)
			n += snprintf(keys + n, sizeof(keys) - n, "%s%s",
				      n ? ", " : "; expected one of ", t->lv->keys[i].name);
		return table_fail(w, t->base, cruise_quote(key, q, sizeof(q)), line,
				  "unknown key%s", keys);
	}
	if (t->seen[i])
		return table_fail(w, w->path.len, NULL, line, "given twice (first at line %u)",
				  t->seen[i]);
	t->seen[i] = line;
	t->k = &t->lv->keys[i];
	return 0;
}

static const struct key root_key = { "", K_MAP, true, 0, &top_level };

/*
 * A value starts at line, in p (NULL: it is the document's root); f is its frame when it is a
 * mapping or a list, for the tables to say what it holds. In a mapping its line is its key's.
 */
static int on_value(struct walk *w, struct frame *p, struct frame *f, const yaml_event_t *ev,
		    unsigned int line)
{
	const struct key *k = p ? p->k : &root_key;
	enum kind kind = K_MAP;
	yaml_event_type_t want;
	void *dst = w->raw;

	if (!p) {
		w->root = true;
	} else if (p->role == F_LABELS) {
		struct raw_labels *ls = p->raw;
		struct raw_label *l = &ls->v[ls->n - 1];

		if (ev->type != YAML_SCALAR_EVENT)
			l->found = event_kind(ev->type);
		else if (!(l->value = strdup((const char *)ev->data.scalar.value)))
			return -ENOMEM;
		return 0;
	} else if (p->role == F_LIST && k->kind == K_STRS) {
		struct raw_strs *l = p->raw;

		kind = K_STR;
		dst = grow((void **)&l->v, l->n, sizeof(struct raw_str));
		if (!dst)
			return -ENOMEM;
		l->n++;
	} else if (p->role == F_LIST) {
		struct raw_maps *l = p->raw;

		dst = grow(&l->v, l->n, k->sub->size);
		if (!dst)
			return -ENOMEM;
		l->n++;
	} else if (p->role == F_MAP) {
		kind = k->kind;
		dst = (char *)p->raw + k->off;
		line = p->key_line;
	} else {
		return 0;
	}

	if (kind == K_LABELS) {
		struct raw_labels *ls = dst;

		ls->line = line;
		ls->value_line = ev->start_mark.line + 1;
		if (ev->type != YAML_MAPPING_START_EVENT) {
			ls->found = event_kind(ev->type);
		} else {
			f->role = F_LABELS;
			f->raw = ls;
		}
		return 0;
	}
	want = kind == K_STR   ? YAML_SCALAR_EVENT
	       : kind == K_MAP ? YAML_MAPPING_START_EVENT
			       : YAML_SEQUENCE_START_EVENT;
	if (ev->type != want)
		return table_fail(w, w->path.len, NULL, line, "expected %s, found %s",
				  event_kind(want), event_kind(ev->type));
	if (kind == K_STR)
		return take_str(dst, ev, line);
	f->k = k;
	f->raw = dst;
	f->role = kind == K_MAP ? F_MAP : F_LIST;
	f->lv = k->sub;
	if (kind == K_STRS)
		((struct raw_strs *)dst)->line = line;
	else if (kind == K_MAPS)
		((struct raw_maps *)dst)->line = line;
	else
		*(unsigned int *)dst = line;
	return 0;
}

/* A mapping or list ends: a mapping's required keys must all have been there. */
static int on_end(struct walk *w)
{
	struct frame *f = &w->fr[--w->depth];
	unsigned int i;

	if (w->depth && w->fr[w->depth - 1].mapping)
		w->fr[w->depth - 1].want_key = true;
	if (f->role != F_MAP || w->failed)
		return 0;
	for (i = 0; i < f->lv->n; i++)
		if (f->lv->keys[i].required && !f->seen[i])
			return table_fail(w, f->base, f->lv->keys[i].name, *(unsigned int *)f->raw,
					  "missing (required)");
	return 0;
}

/* A scalar, mapping or sequence starts: extend the path, check what every node must be. */
static int walk_node(struct walk *w, const yaml_event_t *ev)
{
	struct frame *top = w->depth ? &w->fr[w->depth - 1] : NULL, *f = NULL;
	bool scalar = ev->type == YAML_SCALAR_EVENT;
	const char *s = scalar ? (const char *)ev->data.scalar.value : "";
	bool nul = scalar && strlen(s) != ev->data.scalar.length;
	unsigned int line = ev->start_mark.line + 1;
	char q[QBUF];
	int ret;

	if (top && top->mapping && top->want_key) {
		sb_truncate(&w->path, top->base);
		if (!scalar)
			return cfg_fail(w->c, field_name(w->path.s), line,
					"a key must be a single value, not %s",
					event_kind(ev->type));
		if (nul)
			goto nul;
		ret = sb_printf(&w->path, "%s%s", top->base ? "." : "", s);
		if (ret)
			return ret;
		top->want_key = false;
		return w->failed ? 0 : on_key(w, top, s, line);
	}
	if (top && !top->mapping) {
		sb_truncate(&w->path, top->base);
		ret = sb_printf(&w->path, "[%lu]", top->index++);
		if (ret)
			return ret;
	}
	if (nul)
		goto nul;
	if (scalar && top && top->mapping) {
		top->want_key = true;
	} else if (!scalar) {
		if (w->depth == WALK_MAX_DEPTH)
			return cfg_fail(w->c, field_name(w->path.s), line, "nested too deeply");
		f = &w->fr[w->depth++];
		*f = (struct frame){ .mapping = ev->type == YAML_MAPPING_START_EVENT,
				     .want_key = true,
				     .base = w->path.len };
	}
	return w->failed ? 0 : on_value(w, top, f, ev, line);
nul:
	/* a C string would end there: "1/s\0junk" would read as "1/s" */
	return cfg_fail(w->c, field_name(w->path.s), line, "a NUL character after \"%s\"",
			cruise_quote(s, q, sizeof(q)));
}

static int syntax_error(struct cfg_ctx *c, const yaml_parser_t *p, const char *data, size_t len)
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
		return cfg_fail(c, "yaml", line, "%s at byte %zu",
				p->problem ? p->problem : "cannot read", p->problem_offset);
	}
	line = p->problem_mark.line + 1;
	if (p->context)
		return cfg_fail(c, "yaml", line, "%s (%s at line %zu)",
				p->problem ? p->problem : "syntax error", p->context,
				p->context_mark.line + 1);
	return cfg_fail(c, "yaml", line, "%s", p->problem ? p->problem : "syntax error");
}

/* The one pass: every event, through the tables into w->raw. */
static int walk(struct walk *w, const char *data, size_t len)
{
	unsigned int docs = 0;
	yaml_parser_t p;
	yaml_event_t ev;
	bool done = false;
	int ret;

	ret = sb_printf(&w->path, "%s", "");
	if (ret)
		return ret;
	if (!yaml_parser_initialize(&p))
		return -ENOMEM;
	yaml_parser_set_input_string(&p, (const unsigned char *)data, len);
	while (!done && !ret) {
		if (!yaml_parser_parse(&p, &ev)) {
			ret = syntax_error(w->c, &p, data, len);
			break;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++docs > 1)
				ret = cfg_fail(w->c, "yaml", ev.start_mark.line + 1,
					       "a second document; the config is one document");
			break;
		case YAML_ALIAS_EVENT:
			ret = cfg_fail(w->c, field_name(w->path.s), ev.start_mark.line + 1,
				       "aliases (*%s) are not supported",
				       (const char *)ev.data.alias.anchor);
			break;
		case YAML_SCALAR_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT:
			ret = walk_node(w, &ev);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			ret = on_end(w);
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	yaml_parser_delete(&p);
	if (!ret && w->failed)
		ret = w->failed;
	else if (!ret && !w->root)
		ret = cfg_fail(w->c, "config", 1, "empty; targets and media are required");
	return ret;
}

/* Free what the walk read, by the same tables. */
static void raw_free(const struct level *lv, void *raw)
{
	unsigned int i, j;

	for (i = 0; i < lv->n; i++) {
		const struct key *k = &lv->keys[i];
		void *v = (char *)raw + k->off;
		struct raw_labels *ls = v;
		struct raw_strs *ss = v;
		struct raw_maps *ms = v;

		switch (k->kind) {
		case K_STR:
			free(((struct raw_str *)v)->s);
			break;
		case K_STRS:
			for (j = 0; j < ss->n; j++)
				free(ss->v[j].s);
			free(ss->v);
			break;
		case K_MAP:
			raw_free(k->sub, v);
			break;
		case K_MAPS:
			for (j = 0; j < ms->n; j++)
				raw_free(k->sub, (char *)ms->v + j * k->sub->size);
			free(ms->v);
			break;
		case K_LABELS:
			for (j = 0; j < ls->n; j++) {
				free(ls->v[j].key);
				free(ls->v[j].value);
			}
			free(ls->v);
			break;
		}
	}
}

int cruise_config_parse(const char *name, const char *data, size_t len, struct cruise_config **out,
			char *err, size_t errlen)
{
	struct cfg_ctx c = { .name = name ? name : "config", .err = err, .errlen = errlen };
	struct raw_config raw = { .line = 0 };
	struct walk w = { .c = &c, .raw = &raw };
	int ret;

	if (err && errlen)
		err[0] = '\0';
	if (!out || (!data && len))
		return -EINVAL;
	if (!data)
		data = "";
	if (len > CONFIG_MAX_BYTES) {
		cfg_fail(&c, "config", 1, "larger than %d bytes", CONFIG_MAX_BYTES);
		return -EFBIG;
	}
	ret = walk(&w, data, len);
	if (!ret)
		ret = cfg_check(&c, &raw, out);
	raw_free(&top_level, &raw);
	free(w.path.s);
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
