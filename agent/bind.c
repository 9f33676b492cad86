// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Which cgroups the config's patterns name: a walk of the tree, then inotify (bind.h). */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bind.h"

/* Deepest cgroup level walked: FNM_PATHNAME globs match exactly one component each. */
#define BIND_MAX_DEPTH 32
/* Most cgroups looked at in one scan, so that a huge tree cannot stall the agent. */
#define BIND_MAX_VISITS 200000

static const char *skip_slashes(const char *p)
{
	while (*p == '/')
		p++;
	return p;
}

/* Components in a pattern: it can only match cgroups exactly that deep. */
static int pattern_depth(const char *pattern)
{
	const char *p = skip_slashes(pattern);
	int depth = *p ? 1 : 0;

	for (; *p; p++)
		if (*p == '/' && p[1] && p[1] != '/')
			depth++;
	return depth;
}

static int max_depth(const struct cruise_bind_rule *rules, size_t n)
{
	int d = 0;

	for (size_t i = 0; i < n; i++)
		if (pattern_depth(rules[i].pattern) > d)
			d = pattern_depth(rules[i].pattern);
	return d > BIND_MAX_DEPTH ? BIND_MAX_DEPTH : d;
}

int cruise_bind_add(struct cruise_bind_set *s, __u64 id, __u32 medium, const char *rel)
{
	if (s->n == s->cap) {
		size_t cap = s->cap ? s->cap * 2 : 64;
		struct cruise_bound *v = realloc(s->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		s->v = v;
		s->cap = cap;
	}
	s->v[s->n].cgroup_id = id;
	s->v[s->n].medium = medium;
	snprintf(s->v[s->n].path, sizeof(s->v[s->n].path), "/%.*s",
		 (int)sizeof(s->v[s->n].path) - 2, rel[0] == '/' ? rel + 1 : rel);
	s->n++;
	return 0;
}

struct scan {
	const struct cruise_bind_rule *rules;
	size_t n_rules;
	int depth_max;
	size_t visits;
	struct cruise_bind_set *out;
};

static int scan_dir(struct scan *sc, const char *abs, const char *rel, int depth)
{
	DIR *d;
	struct dirent *ent;
	int err = 0;

	if (depth >= sc->depth_max)
		return 0;
	d = opendir(abs);
	if (!d)
		return errno == ENOENT ? 0 : -errno; /* vanished meanwhile: fine */
	while ((ent = readdir(d)) && !err) {
		char sub_abs[PATH_MAX], sub_rel[PATH_MAX];
		struct stat st;
		int matched = 0;

		if (ent->d_type != DT_DIR || ent->d_name[0] == '.')
			continue;
		if (++sc->visits > BIND_MAX_VISITS)
			break;
		snprintf(sub_abs, sizeof(sub_abs), "%s/%s", abs, ent->d_name);
		snprintf(sub_rel, sizeof(sub_rel), "%s%s%s", rel, *rel ? "/" : "", ent->d_name);
		for (size_t i = 0; i < sc->n_rules; i++) {
			if (fnmatch(skip_slashes(sc->rules[i].pattern), sub_rel, FNM_PATHNAME))
				continue;
			if (stat(sub_abs, &st))
				break;
			if (matched++) {
				sc->out->conflicts++;
				break;
			}
			err = cruise_bind_add(sc->out, st.st_ino, sc->rules[i].medium, sub_rel);
		}
		if (!err)
			err = scan_dir(sc, sub_abs, sub_rel, depth + 1);
	}
	closedir(d);
	return err;
}

int cruise_bind_scan(const char *root, const struct cruise_bind_rule *rules, size_t n_rules,
		     struct cruise_bind_set *out)
{
	struct scan sc = {
		.rules = rules,
		.n_rules = n_rules,
		.depth_max = max_depth(rules, n_rules),
		.out = out,
	};

	memset(out, 0, sizeof(*out));
	return scan_dir(&sc, root, "", 0);
}

void cruise_bind_set_free(struct cruise_bind_set *s)
{
	free(s->v);
	memset(s, 0, sizeof(*s));
}

const struct cruise_bound *cruise_bind_find(const struct cruise_bind_set *s, __u64 cgroup_id)
{
	for (size_t i = 0; i < s->n; i++)
		if (s->v[i].cgroup_id == cgroup_id)
			return &s->v[i];
	return NULL;
}

struct cruise_bind_watch {
	int fd;
	char root[PATH_MAX];
};

struct cruise_bind_watch *cruise_bind_watch_new(const char *root)
{
	struct cruise_bind_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return NULL;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		free(w);
		return NULL;
	}
	snprintf(w->root, sizeof(w->root), "%s", root);
	return w;
}

int cruise_bind_watch_fd(const struct cruise_bind_watch *w)
{
	return w->fd;
}

#define WATCH_MASK (IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO | IN_ONLYDIR)

static void watch_dir(int fd, const char *abs, int depth, int depth_max)
{
	struct dirent *ent;
	DIR *d;

	/* a cgroup appears or vanishes in its parent: watch every level above the deepest */
	if (depth >= depth_max || inotify_add_watch(fd, abs, WATCH_MASK) < 0)
		return;
	d = opendir(abs);
	if (!d)
		return;
	while ((ent = readdir(d))) {
		char sub[PATH_MAX];

		if (ent->d_type != DT_DIR || ent->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", abs, ent->d_name);
		watch_dir(fd, sub, depth + 1, depth_max);
	}
	closedir(d);
}

int cruise_bind_watch_refresh(struct cruise_bind_watch *w, const struct cruise_bind_rule *rules,
			      size_t n_rules)
{
	watch_dir(w->fd, w->root, 0, max_depth(rules, n_rules));
	return 0;
}

int cruise_bind_watch_drain(struct cruise_bind_watch *w)
{
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
	int changed = 0;
	ssize_t n;

	while ((n = read(w->fd, buf, sizeof(buf))) > 0)
		changed = 1;
	return changed;
}

void cruise_bind_watch_free(struct cruise_bind_watch *w)
{
	if (!w)
		return;
	close(w->fd);
	free(w);
}

struct cg_walk {
	bool (*visit)(void *ctx, __u64 id, const char *rel);
	void *ctx;
	bool stop;
	char path[PATH_MAX]; /* of the directory being read, relative to the root */
};

/* Depth-first under dfd (consumed), whose path is w->path[0..used). */
static void cg_walk_dir(struct cg_walk *w, int dfd, size_t used, int depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *ent;

	if (!d) {
		close(dfd);
		return;
	}
	while (!w->stop && (ent = readdir(d))) {
		__u64 ino = ent->d_ino;
		struct stat st;
		int len, sub;

		/* most of a cgroup's entries are its files: skipped on their type alone */
		if (ent->d_type != DT_DIR && ent->d_type != DT_UNKNOWN)
			continue;
		if (!strcmp(ent->d_name, ".") || !strcmp(ent->d_name, ".."))
			continue;
		/* cgroupfs gives the type, and the inode (the cgroup id) as stat would */
		if (ent->d_type == DT_UNKNOWN) {
			if (fstatat(dirfd(d), ent->d_name, &st, AT_SYMLINK_NOFOLLOW) ||
			    !S_ISDIR(st.st_mode))
				continue;
			ino = st.st_ino;
		}
		len = snprintf(w->path + used, sizeof(w->path) - used, "/%s", ent->d_name);
		if (len < 0 || (size_t)len >= sizeof(w->path) - used) {
			w->path[used] = '\0';
			continue;
		}
		w->stop = !w->visit(w->ctx, ino, w->path);
		if (!w->stop && depth + 1 < CRUISE_CGROUP_WALK_DEPTH) {
			sub = openat(dirfd(d), ent->d_name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			if (sub >= 0)
				cg_walk_dir(w, sub, used + len, depth + 1);
		}
		w->path[used] = '\0';
	}
	closedir(d);
}

int cruise_cgroup_walk(const char *root, bool (*visit)(void *ctx, __u64 id, const char *rel),
		       void *ctx)
{
	struct cg_walk *w = calloc(1, sizeof(*w));
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat st;

	if (!w || fd < 0) {
		int err = !w ? -ENOMEM : -errno;

		free(w);
		if (fd >= 0)
			close(fd);
		return err;
	}
	w->visit = visit;
	w->ctx = ctx;
	if (!fstat(fd, &st))
		w->stop = !visit(ctx, st.st_ino, "/");
	if (w->stop)
		close(fd);
	else
		cg_walk_dir(w, fd, 0, 0);
	free(w);
	return 0;
}
