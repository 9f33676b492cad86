// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * `make install` outside Kubernetes: run into a temporary DESTDIR with PREFIX=/usr/local, as a
 * packager would. The binaries, the commented config and the systemd unit are there with their
 * modes; the config passes cruise-agent --check; a second install keeps an edited config; the
 * unit passes `systemd-analyze verify` and a broken copy of it does not; `make uninstall` removes
 * all but the config. No kernel part: nothing is loaded or started.
 *
 * systemd-analyze verify checks that ExecStart='s binary exists and is executable. The installed
 * unit names /usr/local/sbin/cruise-agent, which is in DESTDIR, not on this host, and --root=
 * (systemd 252) would also need the whole system's units (sysinit.target, /bin/kill) under
 * DESTDIR: the unit is verified as a copy with DESTDIR put before its /usr/local paths.
 *
 * The tree (its Makefile) is found beside this program ("../" from .output) or by $CRUISE_SRC_DIR;
 * the binaries installed are the ones beside this program (OUTPUT=its directory).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define UNIT   "usr/local/lib/systemd/system/cruise-agent.service"
#define CONFIG "etc/cruise/cruise.yaml"

static char out_dir[PATH_MAX], src_dir[PATH_MAX + 8],
	dest[64]; /* dest: /tmp/cruise-test-install-* */

/* Run a shell command; its exit status, -1 if it did not exit. */
static int run(const char *fmt, ...)
{
	char cmd[4 * PATH_MAX];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int make_install(const char *target)
{
	/* not the flags of a `make test` this may run under (its jobserver, its variables) */
	return run("env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C '%s' --no-print-directory "
		   "OUTPUT='%s' PREFIX=/usr/local DESTDIR='%s' %s "
		   ">'%s/make.log' 2>&1 || cat '%s/make.log'",
		   src_dir, out_dir, dest, target, dest, dest);
}

static void path_of(char *buf, size_t len, const char *rel)
{
	snprintf(buf, len, "%s/%s", dest, rel);
}

static void assert_mode(const char *rel, mode_t type, mode_t mode)
{
	char p[PATH_MAX];
	struct stat st;

	path_of(p, sizeof(p), rel);
	if (stat(p, &st))
		fail_msg("%s not installed", rel);
	assert_int_equal(st.st_mode & S_IFMT, type);
	if ((st.st_mode & 07777) != mode)
		fail_msg("%s: mode %o, not %o", rel, st.st_mode & 07777, mode);
}

static int file_has(const char *rel, const char *text)
{
	char p[PATH_MAX], line[1024];
	FILE *f;
	int found = 0;

	path_of(p, sizeof(p), rel);
	f = fopen(p, "r");
	if (!f)
		return 0;
	while (!found && fgets(line, sizeof(line), f))
		found = strstr(line, text) != NULL;
	fclose(f);
	return found;
}

static int setup(void **state)
{
	(void)state;
	snprintf(dest, sizeof(dest), "/tmp/cruise-test-install-XXXXXX");
	if (!mkdtemp(dest))
		return -1;
	return make_install("install");
}

static int teardown(void **state)
{
	(void)state;
	return run("rm -rf '%s'", dest);
}

/* 1. What goes where, with which mode; the unit's paths filled in; the config is valid. */
static void test_install_files(void **state)
{
	(void)state;
	assert_mode("usr/local/bin/cruisectl", S_IFREG, 0755);
	assert_mode("usr/local/sbin/cruise-agent", S_IFREG, 0755);
	assert_mode("etc/cruise", S_IFDIR, 0750);
	assert_mode(CONFIG, S_IFREG, 0640);
	assert_mode(UNIT, S_IFREG, 0644);
	assert_true(file_has(UNIT, "ExecStart=/usr/local/sbin/cruise-agent --config "
				   "/etc/cruise/cruise.yaml\n"));
	assert_true(file_has(UNIT, "ExecReload=/bin/kill -HUP $MAINPID\n"));
	assert_true(file_has(UNIT, "Type=simple\n"));
	assert_true(file_has(UNIT, "CapabilityBoundingSet="));
	assert_false(file_has(UNIT, "@"));
	/* commented, and accepted by the agent it came with */
	assert_true(file_has(CONFIG, "# "));
	assert_int_equal(run("'%s/usr/local/sbin/cruise-agent' --check '%s/" CONFIG "' >/dev/null",
			     dest, dest),
			 0);
}

/* 2. A second install leaves an edited config alone (and still installs the rest). */
static void test_install_keeps_config(void **state)
{
	char p[PATH_MAX];
	FILE *f;

	(void)state;
	path_of(p, sizeof(p), CONFIG);
	f = fopen(p, "a");
	assert_non_null(f);
	fputs("# edited by the administrator\n", f);
	fclose(f);
	assert_int_equal(run("rm -f '%s/usr/local/bin/cruisectl'", dest), 0);
	assert_int_equal(make_install("install"), 0);
	assert_true(file_has(CONFIG, "# edited by the administrator"));
	assert_mode(CONFIG, S_IFREG, 0640);
	assert_mode("usr/local/bin/cruisectl", S_IFREG, 0755);
}

/*
 * systemd-analyze verify on a copy of the unit with DESTDIR before its paths; its output, if any,
 * is shown (a warning alone does not fail verify, so none is allowed for the good unit).
 */
static int verify(const char *sed_extra, int *lines)
{
	char dir[PATH_MAX], log[PATH_MAX + 16];
	int rc;

	snprintf(dir, sizeof(dir), "%s/verify", dest);
	snprintf(log, sizeof(log), "%s/verify.log", dest);
	assert_int_equal(run("mkdir -p '%s' && sed -e 's|=/usr/local/|=%s/usr/local/|g' %s "
			     "'%s/" UNIT "' >'%s/cruise-agent.service'",
			     dir, dest, sed_extra, dest, dir),
			 0);
	rc = run("systemd-analyze verify '%s/cruise-agent.service' >'%s' 2>&1", dir, log);
	*lines = run("cat '%s'; exit $(wc -l <'%s')", log, log);
	return rc;
}

/* 3. The unit passes systemd-analyze verify, without a warning; a broken copy fails it. */
static void test_unit_verifies(void **state)
{
	int lines;

	(void)state;
	if (run("command -v systemd-analyze >/dev/null"))
		skip();
	assert_int_equal(verify("", &lines), 0);
	assert_int_equal(lines, 0);
	/* the copy is really what is checked: a binary that is not there fails it */
	assert_int_not_equal(
		verify("-e 's|^ExecStart=[^ ]*|ExecStart=/nonexistent/cruise-agent|'", &lines), 0);
}

/* 4. make uninstall: the binaries and the unit go, the (edited) config stays. */
static void test_uninstall(void **state)
{
	char p[PATH_MAX];

	(void)state;
	assert_int_equal(make_install("uninstall"), 0);
	path_of(p, sizeof(p), "usr/local/sbin/cruise-agent");
	assert_int_not_equal(access(p, F_OK), 0);
	path_of(p, sizeof(p), "usr/local/bin/cruisectl");
	assert_int_not_equal(access(p, F_OK), 0);
	path_of(p, sizeof(p), UNIT);
	assert_int_not_equal(access(p, F_OK), 0);
	assert_mode(CONFIG, S_IFREG, 0640);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_install_files),
		cmocka_unit_test(test_install_keeps_config),
		cmocka_unit_test(test_unit_verifies),
		cmocka_unit_test(test_uninstall),
	};
	const char *given = getenv("CRUISE_SRC_DIR");
	char self[PATH_MAX], mk[PATH_MAX + 32];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n < 0)
		return 1;
	self[n] = '\0';
	snprintf(out_dir, sizeof(out_dir), "%s", dirname(self));
	if (given && *given)
		snprintf(src_dir, sizeof(src_dir), "%s", given);
	else
		snprintf(src_dir, sizeof(src_dir), "%s/..", out_dir);
	snprintf(mk, sizeof(mk), "%s/Makefile", src_dir);
	if (access(mk, R_OK)) {
		fprintf(stderr, "test_install: no Makefile at %s (set $CRUISE_SRC_DIR)\n", mk);
		return 1;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
