/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Every cruise map, pinned by name so that enforcement outlives the agent (docs/design.md section
 * 4). agent/loader.c lists the same names.
 */
#ifndef CRUISE_MAPS_BPF_H
#define CRUISE_MAPS_BPF_H

#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#include "cruise.h"

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, CRUISE_MAX_TARGETS);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct cruise_target_key);
	__type(value, struct cruise_target);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cruise_targets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CRUISE_MAX_BINDINGS);
	__type(key, struct cruise_binding_key);
	__type(value, struct cruise_binding);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cruise_bindings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CRUISE_MAX_MEDIA);
	__type(key, __u32);
	__type(value, struct cruise_medium);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cruise_media SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CRUISE_MAX_MEDIA);
	__type(key, __u32);
	__type(value, struct cruise_medium_state);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cruise_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, CRUISE_MAX_MEDIA);
	__type(key, __u32);
	__type(value, struct cruise_counters);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cruise_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cruise_events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct cruise_sk);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cruise_socks SEC(".maps");

/* No program reads it: user space's own (adaptive rates), here to be pinned and dumped with the
 * rest */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, CRUISE_MAX_MEDIA);
	__type(key, __u32);
	__type(value, struct cruise_adaptive);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cruise_adaptive SEC(".maps");

/* No program reads it: user space's own (targets by name), pinned and dumped with the rest */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, CRUISE_MAX_TARGETS);
	__type(key, struct cruise_target_key);
	__type(value, struct cruise_target_src);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cruise_target_src SEC(".maps");

/* No program reads it: the loader writes and checks it, so pins of another layout are refused. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct cruise_meta);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} cruise_meta SEC(".maps");

#endif /* CRUISE_MAPS_BPF_H */
