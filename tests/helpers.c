// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "loader.h"

int th_write_file(const char *path, const char *s)
{
	/* O_CREAT: cgroup files exist already; files of a test's own are made */
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = write(fd, s, strlen(s));
	if (n < 0) {
		n = -errno;
		close(fd);
		return (int)n;
	}
	close(fd);
	return 0;
}

void th_unique_name(char *buf, size_t len, const char *prefix)
{
	static int counter;

	snprintf(buf, len, "%s-%d-%d", prefix, (int)getpid(), counter++);
}

/* The whole file, NUL-terminated; "" when it does not exist. */
char *th_slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	if (!f || getdelim(&buf, &len, '\0', f) < 0) {
		free(buf);
		buf = strdup("");
	}
	if (f)
		fclose(f);
	if (!buf)
		abort();
	return buf;
}

pid_t th_spawn(const char *const argv[], const char *out, const char *err)
{
	pid_t pid = fork();

	if (pid == 0) {
		int o = open(out, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		int e = open(err, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);

		if (o < 0 || e < 0 || nul < 0 || dup2(nul, 0) < 0 || dup2(o, 1) < 0 ||
		    dup2(e, 2) < 0)
			_exit(126);
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid < 0 ? -errno : pid;
}

int th_wait_exit(pid_t pid, int timeout_ms)
{
	__u64 deadline = cruise_now_ns() + timeout_ms * 1000000ULL;
	int status;

	for (;;) {
		pid_t w = waitpid(pid, &status, WNOHANG);

		if (w == pid)
			return status;
		if (w < 0)
			return -1;
		if (cruise_now_ns() > deadline)
			break;
		usleep(1000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
	return -1;
}

void th_describe_status(int status, char *buf, size_t len)
{
	if (status == -1)
		snprintf(buf, len, "did not exit in time and was killed");
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(status),
			 strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "exited with %d", WEXITSTATUS(status));
}

int th_run_cmd(const char *const argv[], const char *out, const char *err, int timeout_ms)
{
	pid_t pid = th_spawn(argv, out, err);
	int status;

	if (pid < 0)
		return -1;
	status = th_wait_exit(pid, timeout_ms);
	return status >= 0 && WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

void th_sleep_until(__u64 t)
{
	struct timespec ts = { .tv_sec = t / 1000000000ULL, .tv_nsec = t % 1000000000ULL };

	while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR)
		;
}

/* Is line (up to its newline) one holding n1 and, if given, n2? */
static bool th_line_has(const char *line, size_t len, const char *n1, const char *n2)
{
	char buf[8192];

	if (len >= sizeof(buf))
		len = sizeof(buf) - 1;
	memcpy(buf, line, len);
	buf[len] = '\0';
	return strstr(buf, n1) && (!n2 || strstr(buf, n2));
}

int th_find_line(const char *text, const char *n1, const char *n2, int nth, char *out, size_t len)
{
	int count = 0, lineno = 0;

	for (const char *p = text, *nl; (nl = strchr(p, '\n')); p = nl + 1, lineno++) {
		if (!th_line_has(p, nl - p, n1, n2))
			continue;
		if (++count != nth)
			continue;
		if (out)
			snprintf(out, len, "%.*s", (int)(nl - p), p);
		return lineno;
	}
	return nth ? -1 : count;
}

static int th_rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	remove(path);
	return 0;
}

void th_rm_tree(const char *dir)
{
	nftw(dir, th_rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

int th_find_beside(const char *env, const char *name, char *buf, size_t len)
{
	const char *given = getenv(env);
	char self[PATH_MAX];
	ssize_t n;

	if (given && *given) {
		snprintf(buf, len, "%s", given);
	} else {
		n = readlink("/proc/self/exe", self, sizeof(self) - 1);
		if (n < 0)
			return -errno;
		self[n] = '\0';
		if (snprintf(buf, len, "%s/%s", dirname(self), name) >= (int)len)
			return -ENAMETOOLONG;
	}
	return access(buf, X_OK) ? -errno : 0;
}

const char *th_find_once(const char *env, const char *name, char *buf, size_t len, int *err)
{
	if (*err > 0) {
		*err = th_find_beside(env, name, buf, len);
		if (*err)
			fprintf(stderr, "no %s at %s: %s (run make, or set $%s)\n", name, buf,
				strerror(-*err), env);
	}
	return *err ? NULL : buf;
}

void th_print_tail(const char *what, const char *path, size_t bytes)
{
	char *text = th_slurp(path);
	size_t n = strlen(text);

	printf("--- %s %s (end)\n%s--- end of %s\n", what, path,
	       n > bytes ? text + n - bytes : text, what);
	fflush(stdout);
	free(text);
}

int th_u64_compare(const void *a, const void *b)
{
	__u64 x = *(const __u64 *)a, y = *(const __u64 *)b;

	return x < y ? -1 : x > y;
}

void th_quantiles_ms(__u64 *v, int n, double *p50, double *p99, double *max)
{
	qsort(v, n, sizeof(*v), th_u64_compare);
	*p50 = n ? v[n / 2] / 1e6 : 0;
	*p99 = n ? v[(n * 99) / 100] / 1e6 : 0;
	*max = n ? v[n - 1] / 1e6 : 0;
}

__u64 th_jiffy_ns(void)
{
	static __u64 jiffy;
	char line[256];
	FILE *f;

	if (jiffy)
		return jiffy;
	/* what libbpf resolves CONFIG_HZ from; USER_HZ from sysconf is not the kernel's HZ */
	f = popen("(zcat /proc/config.gz 2>/dev/null || cat /boot/config-$(uname -r)) "
		  "| grep '^CONFIG_HZ='",
		  "r");
	if (f) {
		if (fgets(line, sizeof(line), f) && atoi(line + strlen("CONFIG_HZ=")) > 0)
			jiffy = 1000000000ULL / atoi(line + strlen("CONFIG_HZ="));
		pclose(f);
	}
	return jiffy ? jiffy : 4000000ULL;
}

void th_machine(char *buf, size_t len)
{
	char line[256], model[256] = "?";
	struct utsname u;
	FILE *f = fopen("/proc/cpuinfo", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "model name", 10)) {
			snprintf(model, sizeof(model), "%s", strchr(line, ':') + 2);
			model[strcspn(model, "\n")] = '\0';
			break;
		}
	}
	if (f)
		fclose(f);
	uname(&u);
	snprintf(buf, len, "%s, %ld CPUs, Linux %s %s, HZ %llu", model,
		 sysconf(_SC_NPROCESSORS_ONLN), u.release, u.machine,
		 1000000000ULL / th_jiffy_ns());
}
