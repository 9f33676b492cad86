// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
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
	switch (i) {
	case CRUISE_PROG_CONNECT4:
		return h->skel->progs.cruise_connect4;
	case CRUISE_PROG_CONNECT6:
		return h->skel->progs.cruise_connect6;
	case CRUISE_PROG_SOCKOPS:
		return h->skel->progs.cruise_sockops_prog;
	case CRUISE_PROG_EGRESS:
		return h->skel->progs.cruise_egress;
	case CRUISE_PROG_SOCK_RELEASE:
		return h->skel->progs.cruise_sock_release;
	default:
		return NULL;
	}
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
	return (__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
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

int cruise_load(struct cruise_handle **out, const char *pin_dir)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .pin_root_path = pin_dir);
	struct cruise_handle *h;
	int err;

	if (strlen(pin_dir) >= sizeof(h->pin_dir))
		return -ENAMETOOLONG;
	if (mkdir(pin_dir, 0700) && errno != EEXIST)
		return -errno;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	strcpy(h->pin_dir, pin_dir);
	h->skel = cruise_bpf__open_opts(&opts);
	if (!h->skel) {
		err = -errno;
		free(h);
		return err;
	}
	err = cruise_bpf__load(h->skel);
	if (err) {
		cruise_bpf__destroy(h->skel);
		free(h);
		return err;
	}
	*out = h;
	return 0;
}

int cruise_attach(struct cruise_handle *h, const char *cgroup_path)
{
	int fd, err = 0;

	fd = open(cgroup_path, O_RDONLY | O_DIRECTORY);
	if (fd < 0)
		return -errno;
	for (int i = 0; i < CRUISE_PROG_COUNT; i++) {
		if (h->links[i])
			continue;
		h->links[i] = bpf_program__attach_cgroup(prog_of(h, i), fd);
		if (!h->links[i]) {
			err = -errno;
			break;
		}
	}
	close(fd);
	if (err) {
		for (int i = 0; i < CRUISE_PROG_COUNT; i++) {
			bpf_link__destroy(h->links[i]);
			h->links[i] = NULL;
		}
	}
	return err;
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

int cruise_unpin_maps(struct cruise_handle *h)
{
	struct bpf_map *map;
	int err = 0;

	bpf_object__for_each_map(map, h->skel->obj) {
		if (!bpf_map__is_pinned(map))
			continue;
		if (bpf_map__unpin(map, NULL) && !err)
			err = -errno;
	}
	if (rmdir(h->pin_dir) && errno != ENOENT && !err)
		err = -errno;
	return err;
}

int cruise_map_fd(struct cruise_handle *h, const char *name)
{
	struct bpf_map *map = bpf_object__find_map_by_name(h->skel->obj, name);

	return map ? bpf_map__fd(map) : -ENOENT;
}

int cruise_target_key_from(struct cruise_target_key *key, const char *addr, unsigned int prefix,
			   uint16_t port)
{
	memset(key, 0, sizeof(*key));
	key->port = port;
	if (inet_pton(AF_INET6, addr, key->addr) == 1) {
		if (prefix > 128)
			return -EINVAL;
		key->prefixlen = 16 + prefix;
		return 0;
	}
	if (inet_pton(AF_INET, addr, &key->addr[12]) == 1) {
		if (prefix > 32)
			return -EINVAL;
		key->addr[10] = 0xff;
		key->addr[11] = 0xff;
		key->prefixlen = 16 + 96 + prefix;
		return 0;
	}
	return -EINVAL;
}

int cruise_add_target(struct cruise_handle *h, const char *addr, unsigned int prefix, uint16_t port,
		      __u32 id)
{
	struct cruise_target_key key;
	struct cruise_target val = { .id = id };
	int err = cruise_target_key_from(&key, addr, prefix, port);

	if (err)
		return err;
	return bpf_map_update_elem(bpf_map__fd(h->skel->maps.cruise_targets), &key, &val, BPF_ANY)
		       ? -errno
		       : 0;
}

int cruise_set_medium(struct cruise_handle *h, __u32 medium, const struct cruise_medium *m)
{
	return bpf_map_update_elem(bpf_map__fd(h->skel->maps.cruise_media), &medium, m, BPF_ANY)
		       ? -errno
		       : 0;
}

int cruise_get_medium(struct cruise_handle *h, __u32 medium, struct cruise_medium *m)
{
	return bpf_map_lookup_elem(bpf_map__fd(h->skel->maps.cruise_media), &medium, m) ? -errno : 0;
}

int cruise_bind_cgroup(struct cruise_handle *h, __u64 cgroup_id, __u32 medium)
{
	struct cruise_binding_key key = { .cgroup_id = cgroup_id };
	struct cruise_binding val = { .medium = medium };

	return bpf_map_update_elem(bpf_map__fd(h->skel->maps.cruise_bindings), &key, &val, BPF_ANY)
		       ? -errno
		       : 0;
}

int cruise_unbind_cgroup(struct cruise_handle *h, __u64 cgroup_id)
{
	struct cruise_binding_key key = { .cgroup_id = cgroup_id };

	return bpf_map_delete_elem(bpf_map__fd(h->skel->maps.cruise_bindings), &key) ? -errno : 0;
}

int cruise_read_counters(struct cruise_handle *h, __u32 medium, struct cruise_counters *sum)
{
	int ncpu = libbpf_num_possible_cpus();
	struct cruise_counters *per;
	int err = 0;

	if (ncpu < 0)
		return ncpu;
	per = calloc(ncpu, sizeof(*per));
	if (!per)
		return -ENOMEM;
	memset(sum, 0, sizeof(*sum));
	if (bpf_map_lookup_elem(bpf_map__fd(h->skel->maps.cruise_counters), &medium, per)) {
		err = -errno;
		goto out;
	}
	for (int c = 0; c < ncpu; c++) {
		const __u64 *src = (const __u64 *)&per[c];
		__u64 *dst = (__u64 *)sum;

		for (size_t f = 0; f < sizeof(*sum) / sizeof(__u64); f++)
			dst[f] += src[f];
	}
out:
	free(per);
	return err;
}

int cruise_read_state(struct cruise_handle *h, __u32 medium, struct cruise_medium_state *st)
{
	return bpf_map_lookup_elem(bpf_map__fd(h->skel->maps.cruise_state), &medium, st) ? -errno
											    : 0;
}
