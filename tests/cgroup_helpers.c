// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include "helpers.h"
#include "loader.h"

int th_cgroup_create(struct th_cgroup *cg, const struct th_cgroup *parent, const char *name)
{
	char root[PATH_MAX];
	int err, n;

	if (parent) {
		snprintf(root, sizeof(root), "%s", parent->path);
	} else {
		err = cruise_cgroup2_root(root, sizeof(root));
		if (err)
			return err;
	}
	n = snprintf(cg->path, sizeof(cg->path), "%.*s/%s", (int)(sizeof(root) / 2), root, name);
	if (n < 0 || (size_t)n >= sizeof(cg->path))
		return -ENAMETOOLONG;
	if (mkdir(cg->path, 0755))
		return -errno;
	return cruise_cgroup_id(cg->path, &cg->id);
}

int th_cgroup_remove(struct th_cgroup *cg)
{
	if (!cg->path[0])
		return 0;
	if (rmdir(cg->path) && errno != ENOENT)
		return -errno;
	cg->path[0] = '\0';
	return 0;
}

int th_cgroup_enter(const char *path)
{
	char procs[PATH_MAX];

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", path);
	return th_write_file(procs, "0");
}

/* Remove every cgroup below path, children first; the scope is ours, so is everything in it. */
void th_cgroup_remove_tree(const char *path)
{
	char sub[PATH_MAX];
	DIR *d = opendir(path);
	struct dirent *ent;

	if (!d)
		return;
	while ((ent = readdir(d))) {
		if (ent->d_type != DT_DIR || ent->d_name[0] == '.')
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, ent->d_name);
		th_cgroup_remove_tree(sub);
	}
	closedir(d);
	rmdir(path);
}
