// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* cruisectl bindings: the cgroups bound to media, with their paths under the cgroup2 mount. */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <bpf/bpf.h>

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

#define CG_MAX_DEPTH 32 /* as deep as cruise_cgroup_path looks (eventlog.c) */

struct cg_walk {
	struct binding_row *rows; /* sorted by cgroup id */
	size_t n, left;		  /* rows, rows still without a path */
	int err;
	char path[PATH_MAX]; /* of the directory being read, relative to the root */
};

static int id_cmp(const void *x, const void *y)
{
	const struct binding_row *a = x, *b = y;

	return a->cgroup_id < b->cgroup_id ? -1 : a->cgroup_id > b->cgroup_id;
}

/* w->path is the cgroup id's: its rows get it (a map read that restarted lists a key twice). */
static void cg_found(struct cg_walk *w, __u64 id)
{
	struct binding_row key = { .cgroup_id = id }, *r, *end = w->rows + w->n;

	r = bsearch(&key, w->rows, w->n, sizeof(*r), id_cmp);
	if (!r)
		return;
	while (r > w->rows && r[-1].cgroup_id == id)
		r--;
	for (; r < end && r->cgroup_id == id && !r->path; r++) {
		r->path = strdup(w->path);
		if (!r->path) {
			w->err = -ENOMEM;
			return;
		}
		r->path_err = 0;
		w->left--;
	}
}

/* Depth-first under dfd (consumed), whose path is w->path[0..used), until every row has one. */
static void cg_walk_dir(struct cg_walk *w, int dfd, size_t used, int depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *ent;

	if (!d) {
		close(dfd);
		return;
	}
	while (w->left && !w->err && (ent = readdir(d))) {
		__u64 ino = ent->d_ino;
		struct stat st;
		int len, sub;

		/* most of a cgroup's entries are its files: skipped on their type alone */
		if (ent->d_type != DT_DIR && ent->d_type != DT_UNKNOWN)
			continue;
		if (!strcmp(ent->d_name, ".") || !strcmp(ent->d_name, ".."))
			continue;
		/* cgroupfs gives the type, and the inode (the cgroup id) as stat would: no stat */
		if (ent->d_type == DT_UNKNOWN) {
			if (fstatat(dirfd(d), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
			    !S_ISDIR(st.st_mode))
				continue;
			ino = st.st_ino;
		}
		len = snprintf(w->path + used, sizeof(w->path) - used, "/%s", ent->d_name);
		if (len < 0 || (size_t)len >= sizeof(w->path) - used)
			continue;
		cg_found(w, ino);
		if (depth + 1 < CG_MAX_DEPTH) {
			sub = openat(dirfd(d), ent->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (sub >= 0)
				cg_walk_dir(w, sub, used + len, depth + 1);
		}
	}
	w->path[used] = '\0';
	closedir(d);
}

/*
 * Every row's path relative to root ("/" for the root itself), rows sorted by cgroup id on
 * return; a cgroup not in the tree is gone (-ENOENT). 0, or -ENOMEM.
 */
static int resolve_paths(const char *root, struct binding_row *rows, size_t n)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct cg_walk w = { .rows = rows, .n = n, .left = n };
	int err = fd < 0 ? -errno : -ENOENT; /* an unreadable root: paths unknown ("?"), not gone */
	struct stat st;

	for (size_t i = 0; i < n; i++)
		rows[i].path_err = err; /* -ENOENT until the walk finds the cgroup */
	if (fd < 0)
		return 0;
	qsort(rows, n, sizeof(*rows), id_cmp);
	if (!fstat(fd, &st)) {
		strcpy(w.path, "/");
		cg_found(&w, st.st_ino);
		w.path[0] = '\0';
	}
	cg_walk_dir(&w, fd, 0, 0);
	return w.err;
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
