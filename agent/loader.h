/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Load, pin, attach and configure the cruise datapath; for the agent, the CLI and the tests. */
#ifndef CRUISE_LOADER_H
#define CRUISE_LOADER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <linux/types.h>

#include "cruise.h"
#include "maps.h"

struct cruise_bpf;

enum cruise_prog_index {
	CRUISE_PROG_CONNECT4,
	CRUISE_PROG_CONNECT6,
	CRUISE_PROG_SOCKOPS,
	CRUISE_PROG_EGRESS,
	CRUISE_PROG_SOCK_RELEASE,
	CRUISE_PROG_COUNT,
};

struct cruise_handle {
	struct cruise_bpf *skel;
	struct cruise_maps maps; /* the object's map fds (maps.h): every read and update */
	struct bpf_link *links[CRUISE_PROG_COUNT];
	char pin_dir[256];
};

/* Mount bpffs on the parent of pin_dir's bpffs tree when nothing is mounted there. */
int cruise_ensure_bpffs(const char *bpffs_root);
/* Find the cgroup2 mount in /proc/mounts. */
int cruise_cgroup2_root(char *buf, size_t len);

/*
 * Open and load the programs, reusing or creating the maps pinned under pin_dir, and write this
 * build's CRUISE_ABI_VERSION into cruise_meta. Maps pinned by a build with another ABI version are
 * refused (-EPROTO) before anything is loaded. On error, err holds one line.
 */
int cruise_load(struct cruise_handle **out, const char *pin_dir, char *err, size_t len);
/*
 * The ABI version in pin_dir/cruise_meta: 0 when it is not pinned (nothing loaded yet, or a build
 * before cruise_meta); -EPROTO when it is not a cruise_meta map.
 */
int cruise_pinned_abi(const char *pin_dir, __u32 *abi);
/* Unload: links not pinned are detached; what is pinned stays until cruise_uninstall(). */
void cruise_destroy(struct cruise_handle *h);

/*
 * Attach every program to the cgroup at cgroup_path through links pinned under pin_dir/links, so
 * that enforcement outlives this process. A link already pinned there (left by an earlier agent,
 * possibly SIGKILLed) is updated in place to the newly loaded program (bpf_link_update: no moment
 * without enforcement, no moment with two); one pinned to another cgroup is replaced after the new
 * one is attached. Pins are mode 0600. On error, err holds one line.
 */
int cruise_attach_pinned(struct cruise_handle *h, const char *cgroup_path, char *err, size_t len);
/* Programs whose link is attached now. */
int cruise_links_attached(struct cruise_handle *h);
/*
 * Remove exactly what cruise pinned under pin_dir: detach and unpin its links, unpin its maps,
 * remove the directories if empty. Works without a loaded handle (--uninstall).
 */
int cruise_uninstall(const char *pin_dir, char *err, size_t len);

int cruise_prog_fd(struct cruise_handle *h, enum cruise_prog_index i);
const char *cruise_prog_name(enum cruise_prog_index i);

/* The id of the cgroup at path (its inode number, what bpf_get_current_cgroup_id() returns). */
int cruise_cgroup_id(const char *path, __u64 *id);

/* CLOCK_MONOTONIC in ns, the clock of bpf_ktime_get_ns() */
__u64 cruise_now_ns(void);

#endif /* CRUISE_LOADER_H */
