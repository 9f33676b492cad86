// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * libFuzzer target: any bytes through cruise_config_parse(). Either a config comes back, complete
 * and within its limits, or an error of exactly one line naming the input; never a crash or a leak.
 *
 *   clang -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Iagent tests/fuzz_config.c \
 *	agent/config.c agent/config_check.c agent/config_fleet.c agent/units.c \
 *	-o .output/fuzz_config -lyaml
 *   .output/fuzz_config -max_total_time=20 tests/corpus/config
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cruise.h"
#include "config.h"

static void check(const struct cruise_config *cfg)
{
	unsigned int i, j;

	if (!cfg->scope || cfg->scope[0] != '/' || !cfg->pin_dir || cfg->pin_dir[0] != '/' ||
	    !cfg->metrics)
		abort();
	if (!cfg->n_targets || !cfg->n_media || cfg->n_media > CRUISE_MAX_MEDIA)
		abort();
	for (i = 0; i < cfg->n_targets; i++) {
		const struct cruise_cfg_target *t = &cfg->targets[i];

		if (!t->name || !t->n_prefixes || !t->n_ports)
			abort();
		for (j = 0; j < t->n_ports; j++)
			if (!t->ports[j])
				abort();
	}
	for (i = 0; i < cfg->n_media; i++) {
		const struct cruise_cfg_medium *m = &cfg->media[i];

		if (!m->name || strlen(m->name) >= CRUISE_NAME_LEN || !m->interval_ns ||
		    m->burst > 1000000 || m->max_wait_ns > 120000000000ULL ||
		    (!m->n_cgroups && !m->n_labels))
			abort();
		for (j = 0; j < m->n_labels; j++)
			if (cruise_label_key_problem(m->labels[j].key) ||
			    cruise_label_value_problem(m->labels[j].value))
				abort();
		for (j = 0; j < m->n_cgroups; j++)
			if (!m->cgroups[j] || m->cgroups[j][0] != '/')
				abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cruise_config *cfg = NULL;
	char err[256];
	int ret;

	ret = cruise_config_parse("fuzz.yaml", (const char *)data, size, &cfg, err, sizeof(err));
	if (ret) {
		if (cfg || (ret != -EINVAL && ret != -ENOMEM && ret != -EFBIG))
			abort();
		/* one line, and it says where */
		if (strchr(err, '\n') || (ret == -EINVAL && strncmp(err, "fuzz.yaml:", 10)))
			abort();
		return 0;
	}
	check(cfg);
	cruise_config_free(cfg);
	return 0;
}
