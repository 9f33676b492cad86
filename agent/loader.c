// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Load, pin, attach and remove the datapath (loader.h); the maps themselves are maps.c's. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <mntent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cruise.skel.h"
#include "loader.h"

static const char *const prog_names[CRUISE_PROG_COUNT] = {
	[CRUISE_PROG_CONNECT4] = "cruise_connect4",
	[CRUISE_PROG_CONNECT6] = "cruise_connect6",
	[CRUISE_PROG_SOCKOPS] = "cruise_sockops_prog",
	[CRUISE_PROG_EGRESS] = "cruise_egress",
	[CRUISE_PROG_SOCK_RELEASE] = "cruise_sock_release",
};

const char *cruise_prog_name(enum cruise_prog_index i)
{
	return i < CRUISE_PROG_COUNT ? prog_names[i] : "?";
}

static struct bpf_program *prog_of(struct cruise_handle *h, enum cruise_prog_index i)
{
	return i < CRUISE_PROG_COUNT ? bpf_object__find_program_by_name(h->skel->obj, prog_names[i])
				     : NULL;
}

int cruise_prog_fd(struct cruise_handle *h, enum cruise_prog_index i)
{
	struct bpf_program *p = prog_of(h, i);

	return p ? bpf_program__fd(p) : -EINVAL;
}

__u64 cruise_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * NSEC_PER_SEC + ts.tv_nsec;
}

int cruise_ensure_bpffs(const char *bpffs_root)
{
	struct statfs sfs;

	if (statfs(bpffs_root, &sfs) == 0 && sfs.f_type == BPF_FS_MAGIC)
		return 0;
	if (mkdir(bpffs_root, 0700) && errno != EEXIST)
		return -errno;
	if (mount("bpf", bpffs_root, "bpf", 0, "mode=0700"))
		return -errno;
	return 0;
}

int cruise_cgroup2_root(char *buf, size_t len)
{
	struct mntent *ent;
	FILE *f = setmntent("/proc/mounts", "r");
	int err = -ENOENT;

	if (!f)
		return -errno;
	while ((ent = getmntent(f))) {
		if (strcmp(ent->mnt_type, "cgroup2"))
			continue;
		if (strlen(ent->mnt_dir) >= len) {
			err = -ENAMETOOLONG;
			break;
		}
		strcpy(buf, ent->mnt_dir);
		err = 0;
		break;
	}
	endmntent(f);
	return err;
}

int cruise_cgroup_id(const char *path, __u64 *id)
{
	struct stat st;

	if (stat(path, &st))
		return -errno;
	*id = st.st_ino;
	return 0;
}

/* A directory for pins, root's only; one that exists is fine. */
static int make_dir(const char *dir, char *err, size_t len)
{
	int ret;

	if (!mkdir(dir, 0700) || errno == EEXIST)
		return 0;
	ret = -errno;
	snprintf(err, len, "cannot create %s: %s", dir, strerror(errno));
	return ret;
}

int cruise_pinned_abi(const char *pin_dir, __u32 *abi)
{
	/* room for a cruise_meta grown by later builds: abi_version stays first */
	__u64 val[32];
	struct bpf_map_info info;
	__u32 len = sizeof(info), key = 0;
	char path[PATH_MAX];
	int fd, err = 0;

	*abi = 0;
	snprintf(path, sizeof(path), "%s/cruise_meta", pin_dir);
	fd = bpf_obj_get(path);
	if (fd < 0)
		return errno == ENOENT ? 0 : -errno;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		err = -errno;
	else if (info.type != BPF_MAP_TYPE_ARRAY || info.key_size != sizeof(key) ||
		 info.value_size < sizeof(struct cruise_meta) || info.value_size > sizeof(val))
		err = -EPROTO;
	else if (bpf_map_lookup_elem(fd, &key, val))
		err = -errno;
	else
		memcpy(abi, val, sizeof(*abi));
	close(fd);
	return err;
}

/* What to do about maps pinned by another build of cruise */
#define UNINSTALL_HINT "run cruise-agent --uninstall, then start again"

/* Refuse maps pinned by another layout before libbpf reuses them: it checks sizes, not meaning. */
static int check_pinned_abi(const char *pin_dir, char *err, size_t len)
{
	__u32 abi;
	int ret = cruise_pinned_abi(pin_dir, &abi);

	if (ret == -EPROTO) {
		snprintf(err, len, "%s/cruise_meta is no cruise_meta map: " UNINSTALL_HINT,
			 pin_dir);
	} else if (ret) {
		snprintf(err, len, "cannot read the ABI version of the maps pinned under %s: %s",
			 pin_dir, strerror(-ret));
	} else if (abi && abi != CRUISE_ABI_VERSION) {
		/* abi 0: nothing pinned yet, or pins of a build before cruise_meta (libbpf checks)
		 */
		snprintf(err, len,
			 "the maps pinned under %s have ABI version %u, this cruise has version "
			 "%u: " UNINSTALL_HINT,
			 pin_dir, abi, CRUISE_ABI_VERSION);
		ret = -EPROTO;
	}
	return ret;
}

static int write_abi(struct cruise_handle *h)
{
	struct cruise_meta meta = { .abi_version = CRUISE_ABI_VERSION };
	__u32 key = 0;

	return bpf_map_update_elem(bpf_map__fd(h->skel->maps.cruise_meta), &key, &meta, BPF_ANY)
		       ? -errno
		       : 0;
}

int cruise_load(struct cruise_handle **out, const char *pin_dir, char *err, size_t len)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	struct cruise_handle *h;
	int ret;

	if (strlen(pin_dir) >= sizeof(h->pin_dir)) {
		snprintf(err, len, "pin directory too long: %s", pin_dir);
		return -ENAMETOOLONG;
	}
	if ((ret = make_dir(pin_dir, err, len)) || (ret = check_pinned_abi(pin_dir, err, len)))
		return ret;
	h = calloc(1, sizeof(*h));
	if (!h) {
		snprintf(err, len, "out of memory");
		return -ENOMEM;
	}
	strcpy(h->pin_dir, pin_dir);
	h->skel = cruise_bpf__open_opts(&opts);
	if (!h->skel) {
		ret = -errno;
		snprintf(err, len, "cannot open the datapath: %s", strerror(errno));
		free(h);
		return ret;
	}
	ret = cruise_bpf__load(h->skel);
	if (ret)
		snprintf(err, len, "cannot load the datapath with the maps pinned under %s: %s%s",
			 pin_dir, strerror(-ret),
			 ret == -EINVAL ? " (maps pinned by another cruise version have another "
					  "layout: " UNINSTALL_HINT ")"
					: "");
	else if ((ret = write_abi(h)))
		snprintf(err, len, "cannot write the ABI version into %s/cruise_meta: %s", pin_dir,
			 strerror(-ret));
	if (ret) {
		cruise_bpf__destroy(h->skel);
		free(h);
		return ret;
	}
	cruise_maps_of_object(&h->maps, h->skel->obj);
	/* pins are for root only: they are the enforcement's controls */
	for (size_t i = 0; i < cruise_n_maps; i++) {
		char path[PATH_MAX];

		snprintf(path, sizeof(path), "%s/%s", pin_dir, cruise_map_defs[i].name);
		chmod(path, 0600);
	}
	*out = h;
	return 0;
}

static int link_pin_path(char *buf, size_t len, const char *pin_dir, enum cruise_prog_index i)
{
	int n = snprintf(buf, len, "%s/links/%s", pin_dir, prog_names[i]);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

/* The cgroup id a pinned cgroup link is attached to, 0 if it is no cgroup link or detached. */
static __u64 link_cgroup_id(struct bpf_link *link)
{
	struct bpf_link_info info;
	__u32 len = sizeof(info);

	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(bpf_link__fd(link), &info, &len))
		return 0;
	return info.type == BPF_LINK_TYPE_CGROUP ? info.cgroup.cgroup_id : 0;
}

int cruise_attach_pinned(struct cruise_handle *h, const char *cgroup_path, char *err, size_t len)
{
	char dir[PATH_MAX], path[PATH_MAX];
	__u64 cgid = 0;
	int fd, ret = 0;

	if (cruise_cgroup_id(cgroup_path, &cgid)) {
		snprintf(err, len, "scope cgroup %s: %s", cgroup_path, strerror(errno));
		return -ENOENT;
	}
	snprintf(dir, sizeof(dir), "%s/links", h->pin_dir);
	if ((ret = make_dir(dir, err, len)))
		return ret;
	fd = open(cgroup_path, O_RDONLY | O_DIRECTORY);
	if (fd < 0) {
		ret = -errno;
		snprintf(err, len, "cannot open scope cgroup %s: %s", cgroup_path, strerror(errno));
		return ret;
	}
	for (int i = 0; i < CRUISE_PROG_COUNT && !ret; i++) {
		struct bpf_link *old = NULL, *link;

		if ((ret = link_pin_path(path, sizeof(path), h->pin_dir, i)))
			break;
		/* look first: libbpf warns about every pin it cannot open */
		old = access(path, F_OK) ? NULL : bpf_link__open(path);
		if (old && link_cgroup_id(old) == cgid) {
			/* the same place: swap the program atomically, keep the link */
			if (bpf_link__update_program(old, prog_of(h, i))) {
				ret = -errno;
				snprintf(err, len, "cannot update pinned link %s: %s", path,
					 strerror(errno));
				bpf_link__destroy(old);
				break;
			}
			bpf_link__destroy(h->links[i]);
			h->links[i] = old;
			continue;
		}
		/* new, or attached elsewhere: attach here first, then let the old one go */
		link = bpf_program__attach_cgroup(prog_of(h, i), fd);
		if (!link) {
			ret = -errno;
			snprintf(err, len, "cannot attach %s to %s: %s", prog_names[i], cgroup_path,
				 strerror(errno));
			bpf_link__destroy(old);
			break;
		}
		if (old) {
			bpf_link__unpin(old);
			bpf_link__detach(old);
			bpf_link__destroy(old);
		}
		unlink(path); /* a stale pin that was no link */
		if (bpf_link__pin(link, path)) {
			ret = -errno;
			snprintf(err, len, "cannot pin link %s: %s", path, strerror(errno));
			bpf_link__destroy(link);
			break;
		}
		chmod(path, 0600);
		bpf_link__destroy(h->links[i]);
		h->links[i] = link;
	}
	close(fd);
	return ret;
}

int cruise_links_attached(struct cruise_handle *h)
{
	int n = 0;

	for (int i = 0; i < CRUISE_PROG_COUNT; i++)
		if (h->links[i] && link_cgroup_id(h->links[i]))
			n++;
	return n;
}

int cruise_uninstall(const char *pin_dir, char *err, size_t len)
{
	char path[PATH_MAX];
	int ret = 0;

	for (int i = 0; i < CRUISE_PROG_COUNT; i++) {
		struct bpf_link *link;

		if (link_pin_path(path, sizeof(path), pin_dir, i))
			return -ENAMETOOLONG;
		link = access(path, F_OK) ? NULL : bpf_link__open(path);
		if (!link)
			continue;
		if (bpf_link__detach(link) && !ret) {
			ret = -errno;
			snprintf(err, len, "cannot detach %s: %s", path, strerror(errno));
		}
		bpf_link__unpin(link);
		bpf_link__destroy(link);
	}
	for (size_t i = 0; i < cruise_n_maps; i++) {
		snprintf(path, sizeof(path), "%s/%s", pin_dir, cruise_map_defs[i].name);
		if (unlink(path) && errno != ENOENT && !ret) {
			ret = -errno;
			snprintf(err, len, "cannot unpin %s: %s", path, strerror(errno));
		}
	}
	snprintf(path, sizeof(path), "%s/links", pin_dir);
	rmdir(path);
	/* only if empty: never remove what others put there */
	if (rmdir(pin_dir) && errno != ENOENT && errno != ENOTEMPTY && !ret) {
		ret = -errno;
		snprintf(err, len, "cannot remove %s: %s", pin_dir, strerror(errno));
	}
	return ret;
}

void cruise_destroy(struct cruise_handle *h)
{
	if (!h)
		return;
	for (int i = 0; i < CRUISE_PROG_COUNT; i++)
		bpf_link__destroy(h->links[i]);
	cruise_bpf__destroy(h->skel);
	free(h);
}
