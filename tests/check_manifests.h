/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The deployment manifests' checker (tests/check_manifests.c). */
#ifndef CRUISE_CHECK_MANIFESTS_H
#define CRUISE_CHECK_MANIFESTS_H

#include <stdio.h>

/* Check every YAML document under dir; the number of problems, one line each to report. */
int cruise_check_manifests(const char *dir, FILE *report);

#endif /* CRUISE_CHECK_MANIFESTS_H */
