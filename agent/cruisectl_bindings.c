// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cruisectl bindings: the cgroups bound to media, with their paths under the cgroup2 mount. */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <bpf/bpf.h>

#include "bind.h"
#include "cruisectl.h"
#include "loader.h" /* cruise_cgroup2_root */

struct binding_row {
	__u64 cgroup_id;
	__u32 medium;
	int path_err; /* 0: path is the cgroup's; -ENOENT: it is gone; else unknown */
	char *path;   /* relative to the cgroup2 mount */
	char label[CRUISE_NAME_LEN + 32];
	bool active; /* bound to an active medium */
};

static int binding_cmp(const void *x, const void *y)
{
	const struct binding_row *a = x, *b = y;

	if (a->medium != b->medium)
		return a->medium < b->medium ? -1 : 1;
	if (!a->path || !b->path)
		return !a->path - !b->path; /* the gone ones last */
	return strcmp(a->path, b->path);
}

/* cgroup paths: one walk of the tree for all the bindings, not one walk for each */

struct cg_walk {
	struct binding_row *rows; /* sorted by cgroup id */
	size_t n, left;		  /* rows, rows still without a path */
	int err;
};

static int id_cmp(const void *x, const void *y)
{
	const struct binding_row *a = x, *b = y;

	return a->cgroup_id < b->cgroup_id ? -1 : a->cgroup_id > b->cgroup_id;
}

/* A cgroup of the walk (bind.h): its rows get its path (a map read that restarted lists a key
 * twice); false ends the walk once every row has one. */
static bool cg_found(void *ctx, __u64 id, const char *path)
{
	struct cg_walk *w = ctx;
	struct binding_row key = { .cgroup_id = id }, *r, *end = w->rows + w->n;

	r = bsearch(&key, w->rows, w->n, sizeof(*r), id_cmp);
	if (!r)
		return true;
	while (r > w->rows && r[-1].cgroup_id == id)
		r--;
	for (; r < end && r->cgroup_id == id && !r->path; r++) {
		r->path = strdup(path);
		if (!r->path) {
			w->err = -ENOMEM;
			return false;
		}
		r->path_err = 0;
		w->left--;
	}
	return w->left > 0;
}

/*
 * Every row's path relative to root ("/" for the root itself), rows sorted by cgroup id on
 * return; a cgroup not in the tree is gone (-ENOENT). 0, or -ENOMEM.
 */
static int resolve_paths(const char *root, struct binding_row *rows, size_t n)
{
	struct cg_walk w = { .rows = rows, .n = n, .left = n };
	int err;

	for (size_t i = 0; i < n; i++)
		rows[i].path_err = -ENOENT; /* until the walk finds the cgroup */
	qsort(rows, n, sizeof(*rows), id_cmp);
	if (cruise_cgroup_walk(root, cg_found, &w)) {
		/* an unreadable root: paths unknown ("?"), not gone */
		for (size_t i = 0; i < n; i++)
			rows[i].path_err = -EACCES;
		return 0;
	}
	err = w.err;
	return err;
}

/* reading the map */

static void free_rows(struct binding_row *rows, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(rows[i].path);
	free(rows);
}

static int read_bindings(const struct cruise_maps *m, const struct cruise_snapshot *s,
			 struct binding_row **out, size_t *n_out)
{
	struct cruise_binding_key key, next;
	struct binding_row *rows = NULL;
	char root[PATH_MAX];
	size_t n = 0, cap = 0;
	bool have_root;
	int err;

	have_root = !cruise_cgroup2_root(root, sizeof(root));
	if (!have_root)
		fail("warning: no cgroup2 mount found: cgroup paths are not shown");
	/* bounded: an iteration restarts at the first key when its key is deleted meanwhile */
	for (size_t it = 0; it <= CRUISE_MAX_BINDINGS; it++) {
		const struct cruise_snapshot_medium *sm;
		struct cruise_binding val;
		struct binding_row *r;

		if (bpf_map_get_next_key(m->bindings, it ? &key : NULL, &next))
			break;
		key = next;
		if (bpf_map_lookup_elem(m->bindings, &key, &val))
			continue; /* unbound meanwhile */
		if (n == cap) {
			size_t more = cap ? cap * 2 : 64;
			struct binding_row *grown = realloc(rows, more * sizeof(*rows));

			if (!grown) {
				free(rows);
				return -ENOMEM;
			}
			rows = grown;
			cap = more;
		}
		r = &rows[n++];
		memset(r, 0, sizeof(*r));
		r->cgroup_id = key.cgroup_id;
		r->medium = val.medium;
		r->path_err = -EHOSTDOWN; /* no cgroup2 mount: no path */
		sm = find_index(s, val.medium);
		r->active = sm;
		if (sm)
			medium_label(&sm->cfg, sm->index, r->label, sizeof(r->label));
		else
			snprintf(r->label, sizeof(r->label), "#%u (inactive)", val.medium);
	}
	if (have_root && n) {
		err = resolve_paths(root, rows, n);
		if (err) {
			free_rows(rows, n);
			return err;
		}
	}
	if (n)
		qsort(rows, n, sizeof(*rows), binding_cmp);
	*out = rows;
	*n_out = n;
	return 0;
}

int cmd_bindings(void)
{
	static struct cruise_snapshot s;
	struct binding_row *rows = NULL;
	int id_w = 9, name_w = 6, ret = 1, err;
	struct cruise_maps m;
	char id[24];
	size_t n = 0;

	if (open_maps(&m))
		return 1;
	if (take_snapshot(&m, &s))
		goto out;
	err = read_bindings(&m, &s, &rows, &n);
	if (err) {
		fail("cannot read the bindings: %s", strerror(-err));
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		int w = snprintf(id, sizeof(id), "%llu", (unsigned long long)rows[i].cgroup_id);

		id_w = w > id_w ? w : id_w;
		w = (int)strlen(rows[i].label);
		name_w = w > name_w ? w : name_w;
	}
	if (opts.out == OUT_JSON)
		printf("{\"bindings\":[");
	else if (n)
		printf("%-*s  %-*s  %s\n", id_w, "CGROUP_ID", name_w, "MEDIUM", "PATH");
	else
		printf("no bindings\n");
	for (size_t i = 0; i < n; i++) {
		const struct binding_row *r = &rows[i];

		if (opts.out == OUT_JSON) {
			printf("%s{\"cgroup_id\":%llu,\"medium_index\":%u,\"medium\":",
			       i ? "," : "", (unsigned long long)r->cgroup_id, r->medium);
			if (r->active)
				put_json_str(stdout, r->label);
			else
				printf("null");
			printf(",\"path\":");
			if (r->path)
				put_json_str(stdout, r->path);
			else
				printf("null");
			printf(",\"gone\":%s}", r->path_err == -ENOENT ? "true" : "false");
			continue;
		}
		printf("%-*llu  %-*s  %s\n", id_w, (unsigned long long)r->cgroup_id, name_w,
		       r->label,
		       r->path			? r->path
		       : r->path_err == -ENOENT ? "(gone)"
						: "?");
	}
	if (opts.out == OUT_JSON)
		printf("]}\n");
	ret = flush_out() ? 1 : 0;
out:
	free_rows(rows, n);
	cruise_maps_close(&m);
	return ret;
}

static const struct argp_option bindings_options[] = {
	OUTPUT_OPTION("one JSON document"),
	{},
};

const struct argp bindings_argp = {
	bindings_options,
	parse_sub,
	NULL,
	"Show the cgroups bound to media, by cgroup id, with their paths under the cgroup2 mount. "
	"A cgroup that no longer exists is marked (gone): the agent unbinds it at its next scan.\v"
	"EXAMPLES:\n"
	"  cruisectl bindings\n"
	"  cruisectl bindings -o json",
	common_children,
	NULL,
	NULL
};
