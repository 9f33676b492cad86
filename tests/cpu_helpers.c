// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <dirent.h>
#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu_helpers.h"
#include "cruise.h" /* NSEC_PER_SEC */

__u64 th_proc_cpu_ns(pid_t pid, bool children, pid_t *ppid)
{
	unsigned long long ut, st;
	long long cut, cst;
	char path[64], buf[1024], *p;
	FILE *f;
	int pp;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return 0;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	/* after the comm: state ppid ... then fields 14-17 */
	if (!p || sscanf(p + 2, "%*c %d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld",
			 &pp, &ut, &st, &cut, &cst) != 5)
		return 0;
	if (ppid)
		*ppid = pp;
	return (ut + st + (children ? cut + cst : 0)) * (NSEC_PER_SEC / sysconf(_SC_CLK_TCK));
}

__u64 th_family_cpu_ns(pid_t parent)
{
	__u64 sum = th_proc_cpu_ns(parent, true, NULL);
	DIR *d = opendir("/proc");
	struct dirent *ent;

	while (d && (ent = readdir(d))) {
		pid_t pid = atoi(ent->d_name), ppid = 0;
		__u64 ns;

		if (pid <= 0)
			continue;
		ns = th_proc_cpu_ns(pid, true, &ppid);
		if (ppid == parent)
			sum += ns;
	}
	if (d)
		closedir(d);
	return sum;
}

__u64 th_task_cpu_ns(pid_t pid)
{
	char pattern[64];
	glob_t g;
	__u64 sum = 0;

	if (pid <= 0)
		return 0;
	snprintf(pattern, sizeof(pattern), "/proc/%d/task/*/schedstat", (int)pid);
	if (glob(pattern, 0, NULL, &g))
		return 0;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		unsigned long long ns = 0;
		FILE *f = fopen(g.gl_pathv[i], "r");

		if (f && fscanf(f, "%llu", &ns) == 1)
			sum += ns;
		if (f)
			fclose(f);
	}
	globfree(&g);
	return sum;
}
