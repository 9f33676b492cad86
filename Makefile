# SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
# cruise: `make` builds everything into $(OUTPUT); `make test` runs the suite; `make bench` measures.
OUTPUT ?= .output
CLANG ?= clang
BPFTOOL ?= bpftool
CC ?= cc
ARCH := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')

BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(ARCH) -Wall -Wextra -Werror \
	-Wno-unused-parameter -I. -Iinclude -Ibpf
CFLAGS ?= -g -O2
CFLAGS += -Wall -Wextra -Werror -Wmissing-field-initializers -std=gnu11 -I$(OUTPUT) -Iinclude -Iagent
LDLIBS_BPF := -lbpf -lelf -lz

BPF_OBJS := $(OUTPUT)/cruise.bpf.o
SKELS := $(OUTPUT)/cruise.skel.h
LIB_OBJS := $(OUTPUT)/loader.o $(OUTPUT)/maps.o
# the config reader: in the agent, and alone in its tests, the manifest checker and the fuzzer
CONFIG_SRCS := agent/config.c agent/config_check.c agent/config_fleet.c agent/config_adaptive.c \
	agent/units.c
CONFIG_OBJS := $(patsubst agent/%.c,$(OUTPUT)/%.o,$(CONFIG_SRCS))
# agent code shared by cruise-agent, cruisectl and the tests, one concern per file
AGENT_SRCS := $(CONFIG_SRCS) agent/snapshot.c agent/exposition.c agent/eventlog.c \
	agent/log.c agent/bind.c agent/apply.c agent/k8s_json.c agent/k8s_pods.c agent/k8s_api.c \
	agent/k8s_pod_watch.c agent/k8s_endpoints.c agent/k8s_services.c agent/fleet.c \
	agent/fleet_demand.c agent/fleet_store.c agent/pod_bind.c agent/probe.c agent/probe_dns.c \
	agent/probe_pg.c agent/probe_prom.c agent/signals.c agent/adaptive.c agent/adaptive_run.c \
	agent/resolve.c
AGENT_OBJS := $(patsubst agent/%.c,$(OUTPUT)/%.o,$(AGENT_SRCS))
# libpq: the PostgreSQL health probe (and the tests' clients); its headers are in their own dir
PQ_CFLAGS := $(shell pkg-config --cflags libpq)
PQ_LIBS := $(shell pkg-config --libs libpq)
# c-ares: the resolver of targets by host name (agent/resolve.c)
CARES_CFLAGS := $(shell pkg-config --cflags libcares)
LDLIBS_AGENT := $(LDLIBS_BPF) -lyaml -lmicrohttpd -lcurl -ljansson -lhiredis $(PQ_LIBS) \
	-lcares -lpthread -lm
BINS := $(OUTPUT)/cruise-agent $(OUTPUT)/cruisectl
# The one list of tests, in the order `make test` runs them (it hands the list to
# scripts/run-tests.sh); KERNEL_TESTS run on the real kernel and link the test helpers and the
# agent's code. The fuzzers run after them, briefly.
KERNEL_TESTS := test_pacing test_policy test_agent_parts test_agent test_cruisectl test_k8s \
	test_fleet test_e2e_pg test_demo test_probe test_adaptive test_order test_targets test_ops_prom
TESTS := test_gcra test_units test_config test_pod_bind test_fleet_units test_resolve \
	test_adaptive_units test_manifests test_egress test_install $(KERNEL_TESTS)
FUZZ_TARGETS := units config k8s
TEST_BINS := $(addprefix $(OUTPUT)/,$(TESTS) check_manifests)
FUZZERS := $(addprefix $(OUTPUT)/fuzz_,$(FUZZ_TARGETS))
BENCH_BINS := $(addprefix $(OUTPUT)/,bench_datapath bench_peers bench_fleet bench_adaptive)
# the tests' and benchmarks' helpers and fixtures, one concern per file (tests/helpers.h)
TEST_HELPERS := helpers cgroup_helpers network_helpers client_helpers cpu_helpers datapath_fixture \
	redis_fixture agent_fixture pg_fixture fake_k8s prom_fixture dns_fixture
TEST_LIB := $(OUTPUT)/libcruise_test.a
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -Iinclude -Iagent
TEST_BPF_OBJS := $(OUTPUT)/egress_harness.bpf.o $(OUTPUT)/sock_lb.bpf.o

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

.PHONY: all test bench bench-peers bench-fleet bench-adaptive clean vmlinux demo demo-datapath format format-check fuzz \
	check-manifests install uninstall
.DELETE_ON_ERROR:
.SECONDARY:

all: $(SKELS) $(LIB_OBJS) $(BINS) $(TEST_BINS) $(BENCH_BINS)

$(OUTPUT):
	$(Q)mkdir -p $@

# BPF: compile, link through bpftool (which also checks BTF), generate the skeleton
$(OUTPUT)/%.tmp.bpf.o: bpf/%.bpf.c bpf/*.bpf.h include/*.h vmlinux.h | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/%.tmp.bpf.o: tests/bpf/%.bpf.c bpf/*.bpf.h include/*.h vmlinux.h | $(OUTPUT)
	$(call msg,BPF,$@)
	$(Q)$(CLANG) $(BPF_CFLAGS) -c $< -o $@

$(OUTPUT)/%.bpf.o: $(OUTPUT)/%.tmp.bpf.o
	$(call msg,GEN-OBJ,$@)
	$(Q)$(BPFTOOL) gen object $@ $<

$(OUTPUT)/%.skel.h: $(OUTPUT)/%.bpf.o
	$(call msg,GEN-SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< > $@

# user space
$(LIB_OBJS): $(OUTPUT)/%.o: agent/%.c agent/loader.h agent/maps.h include/*.h \
		$(SKELS) | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

# the fleet allocator's Lua source, as a C string
$(OUTPUT)/fleet_lua.h: agent/fleet.lua | $(OUTPUT)
	$(call msg,GEN,$@)
	$(Q){ echo 'static const char cruise_fleet_lua[] ='; \
	  sed -e 's/\\/\\\\/g' -e 's/"/\\"/g' -e 's/^/\t"/' -e 's/$$/\\n"/' $<; echo ';'; } > $@

$(OUTPUT)/fleet_store.o: $(OUTPUT)/fleet_lua.h
$(OUTPUT)/probe_pg.o: CFLAGS += $(PQ_CFLAGS)
$(OUTPUT)/resolve.o: CFLAGS += $(CARES_CFLAGS)

$(OUTPUT)/%.o: agent/%.c agent/*.h include/*.h $(SKELS) | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -c $< -o $@

$(OUTPUT)/cruise-agent: agent/main.c $(AGENT_OBJS) $(LIB_OBJS) | $(OUTPUT)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $< $(AGENT_OBJS) $(LIB_OBJS) -o $@ $(LDLIBS_AGENT)

# cruisectl: the dispatcher, its shared helpers, then one file per command
CRUISECTL_SRCS := agent/cruisectl.c agent/cruisectl_common.c agent/cruisectl_table.c \
	agent/cruisectl_term.c agent/cruisectl_status.c agent/cruisectl_top.c agent/cruisectl_set.c \
	agent/cruisectl_bindings.c agent/cruisectl_targets.c agent/cruisectl_events.c \
	agent/cruisectl_fleet.c agent/cruisectl_fleet_store.c

$(OUTPUT)/cruisectl: $(CRUISECTL_SRCS) agent/cruisectl.h agent/cruisectl_fleet.h $(AGENT_OBJS) \
		$(LIB_OBJS) | $(OUTPUT)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(CFLAGS) $(CRUISECTL_SRCS) $(AGENT_OBJS) $(LIB_OBJS) -o $@ $(LDLIBS_AGENT)

# the end-to-end tests drive the real binaries
$(OUTPUT)/test_agent: $(OUTPUT)/cruise-agent
$(OUTPUT)/test_cruisectl: $(OUTPUT)/cruisectl
# ... and a real PostgreSQL, through libpq
$(OUTPUT)/test_e2e_pg: $(OUTPUT)/cruise-agent
$(OUTPUT)/test_demo: $(OUTPUT)/cruise-agent $(OUTPUT)/cruisectl
$(OUTPUT)/test_e2e_pg: CFLAGS += $(PQ_CFLAGS)
$(OUTPUT)/test_e2e_pg: LDLIBS_TEST += $(PQ_LIBS)
# the health probes against a real PostgreSQL (libpq for the test's own set-up) and Prometheus
$(OUTPUT)/test_probe: CFLAGS += $(PQ_CFLAGS)
# adaptive rates end to end: the real agent and cruisectl, PostgreSQL (libpq) and Prometheus
$(OUTPUT)/test_adaptive: $(OUTPUT)/cruise-agent $(OUTPUT)/cruisectl
$(OUTPUT)/test_adaptive: CFLAGS += $(PQ_CFLAGS)
$(OUTPUT)/test_k8s: $(OUTPUT)/cruise-agent $(OUTPUT)/cruisectl
$(OUTPUT)/test_fleet: $(OUTPUT)/cruise-agent
$(OUTPUT)/test_targets: $(OUTPUT)/cruise-agent
# deploy/prometheus and deploy/grafana against promtool, the real agent and Prometheus
$(OUTPUT)/test_ops_prom: $(OUTPUT)/cruise-agent
# the order of cgroup connect programs: the real datapath beside a test-only socket load balancer
$(OUTPUT)/test_order: $(OUTPUT)/sock_lb.skel.h

# `make install` into a temporary DESTDIR, the unit through systemd-analyze verify: it installs
# the binaries beside it, with this tree's Makefile (../, or $CRUISE_SRC_DIR)
$(OUTPUT)/test_install: tests/test_install.c $(BINS) | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@ -lcmocka

$(OUTPUT)/test_units: tests/test_units.c $(OUTPUT)/units.o | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(OUTPUT)/units.o -o $@ -lcmocka

# unit tests of agent modules, linked with the agent's code
$(OUTPUT)/test_pod_bind $(OUTPUT)/test_fleet_units $(OUTPUT)/test_adaptive_units: $(OUTPUT)/%: tests/%.c $(AGENT_OBJS) \
		$(LIB_OBJS) | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(AGENT_OBJS) $(LIB_OBJS) -o $@ -lcmocka $(LDLIBS_AGENT)

# the resolver against a throwaway dnsmasq (tests/dns_fixture.h): no BPF, the helpers for processes
$(OUTPUT)/test_resolve: tests/test_resolve.c tests/*.h $(TEST_LIB) $(AGENT_OBJS) $(LIB_OBJS) \
		| $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests $< $(TEST_LIB) $(AGENT_OBJS) $(LIB_OBJS) -o $@ -lcmocka \
		$(LDLIBS_AGENT)

$(OUTPUT)/test_config: tests/test_config.c $(CONFIG_OBJS) | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(CONFIG_OBJS) -o $@ -lcmocka -lyaml -lm

# the Kubernetes manifests under deploy/: a checker (also a CLI), and its tests
$(OUTPUT)/check_manifests: tests/check_manifests.c tests/check_manifests.h $(CONFIG_OBJS) \
		| $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests $< $(CONFIG_OBJS) -o $@ -lyaml

$(OUTPUT)/test_manifests: tests/test_manifests.c tests/check_manifests.c tests/check_manifests.h \
		$(CONFIG_OBJS) | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests -DCHECK_MANIFESTS_NO_MAIN $< tests/check_manifests.c \
		$(CONFIG_OBJS) -o $@ -lcmocka -lyaml

# libFuzzer targets (clang, ASan, UBSan): a short run in `make test`, longer with `make fuzz`
$(OUTPUT)/fuzz_units: tests/fuzz_units.c agent/units.c agent/units.h | $(OUTPUT)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) tests/fuzz_units.c agent/units.c -o $@

$(OUTPUT)/fuzz_config: tests/fuzz_config.c $(CONFIG_SRCS) agent/*.h | $(OUTPUT)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) tests/fuzz_config.c $(CONFIG_SRCS) -o $@ -lyaml

$(OUTPUT)/fuzz_k8s: tests/fuzz_k8s.c agent/k8s_pods.c agent/k8s_json.c agent/*.h | $(OUTPUT)
	$(call msg,FUZZ,$@)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) tests/fuzz_k8s.c agent/k8s_pods.c agent/k8s_json.c -o $@ \
		-ljansson

$(OUTPUT)/test_gcra: tests/test_gcra.c include/*.h | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< -o $@ -lcmocka

$(OUTPUT)/test_egress: tests/test_egress.c $(OUTPUT)/egress_harness.skel.h $(LIB_OBJS) \
		tests/helpers.h | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $< $(LIB_OBJS) -o $@ -lcmocka $(LDLIBS_BPF)

# the helpers, in an archive: each program links the ones it uses
$(OUTPUT)/tests:
	$(Q)mkdir -p $@

$(OUTPUT)/tests/%.o: tests/%.c tests/*.h agent/*.h include/*.h | $(OUTPUT)/tests
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests -c $< -o $@

$(TEST_LIB): $(patsubst %,$(OUTPUT)/tests/%.o,$(TEST_HELPERS))
	$(call msg,AR,$@)
	$(Q)rm -f $@ && $(AR) rcs $@ $^

# real-kernel tests: real cgroups, bpffs, programs and loopback sockets
$(addprefix $(OUTPUT)/,$(KERNEL_TESTS)): $(OUTPUT)/%: tests/%.c tests/*.h $(TEST_LIB) \
		$(AGENT_OBJS) $(LIB_OBJS) | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests tests/$*.c $(TEST_LIB) $(AGENT_OBJS) $(LIB_OBJS) \
		-o $@ -lcmocka $(LDLIBS_AGENT) $(LDLIBS_TEST) -lm

# benchmarks (bench/): the datapath alone; against nginx, iptables and no limiter (a real agent,
# hence snapshot.o for its pinned maps); the fleet allocator in Redis
$(OUTPUT)/bench_datapath: bench/bench_datapath.c tests/*.h $(TEST_LIB) $(LIB_OBJS) | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests $< $(TEST_LIB) $(LIB_OBJS) -o $@ $(LDLIBS_BPF) -lpthread -lm

$(OUTPUT)/bench_peers: bench/bench_peers.c tests/*.h $(TEST_LIB) $(LIB_OBJS) \
		$(OUTPUT)/snapshot.o | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests $< $(TEST_LIB) $(LIB_OBJS) $(OUTPUT)/snapshot.o -o $@ \
		$(LDLIBS_BPF) -lpthread -lm

# adaptive rates against fixed ones and none: pgbench on a real PostgreSQL, the real agent
$(OUTPUT)/bench_adaptive: bench/bench_adaptive.c tests/*.h $(TEST_LIB) $(LIB_OBJS) \
		$(OUTPUT)/snapshot.o | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests $< $(TEST_LIB) $(LIB_OBJS) $(OUTPUT)/snapshot.o -o $@ \
		$(LDLIBS_BPF) -lpthread -lm

# the fleet allocator (agent/fleet.lua) in a throwaway redis-server, N nodes x M media
$(OUTPUT)/bench_fleet: bench/bench_fleet.c $(OUTPUT)/fleet_lua.h tests/*.h $(TEST_LIB) \
		$(LIB_OBJS) | $(OUTPUT)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) -Itests $< $(TEST_LIB) $(LIB_OBJS) -o $@ $(LDLIBS_BPF) -lhiredis \
		-lpthread -lm

# the style is checked first: clang-format 14 from Debian, .clang-format at the root
test: all $(FUZZERS) format-check
	$(Q)scripts/run-tests.sh $(OUTPUT) $(TESTS) $(addprefix fuzz_,$(FUZZ_TARGETS))

FUZZ_SECONDS ?= 300
fuzz: $(FUZZERS)
	$(Q)for f in $(FUZZ_TARGETS); do \
		mkdir -p $(OUTPUT)/corpus-$$f && cp tests/corpus/$$f/* $(OUTPUT)/corpus-$$f/ && \
		$(OUTPUT)/fuzz_$$f -max_total_time=$(FUZZ_SECONDS) -rss_limit_mb=2048 \
			$(OUTPUT)/corpus-$$f || exit 1; \
	done

check-manifests: $(OUTPUT)/check_manifests
	$(Q)$(OUTPUT)/check_manifests deploy

bench: all
	$(Q)scripts/bench.sh $(OUTPUT)

# cruise against nginx limit_req, iptables hashlimit, no limiter and a sleep schedule (BENCHMARKS.md;
# about 11 minutes; a short run: BENCH_PEERS_ARGS="--scale 0.1 --methods cruise")
bench-peers: all
	$(Q)scripts/bench-peers.sh $(OUTPUT) $(BENCH_PEERS_ARGS)

# the fleet allocator's cost in Redis at 100 to 10,000 nodes (BENCHMARKS.md; about 2 minutes)
bench-fleet: $(OUTPUT)/bench_fleet
	$(Q)$(OUTPUT)/bench_fleet $(BENCH_FLEET_ARGS)

# does adaptive pacing protect the database? batch pgbench -C paced by none, fixed and adaptive
# rates beside an unpaced interactive pgbench (BENCHMARKS.md; about 5 minutes): a table on stdout,
# a CSV and a plot in $(OUTPUT)/bench-adaptive
bench-adaptive: $(OUTPUT)/bench_adaptive $(OUTPUT)/cruise-agent
	$(Q)scripts/bench-adaptive.sh $(OUTPUT) $(BENCH_ADAPTIVE_ARGS)

# The demo: installs what it needs (apt, once), builds, then paces two groups of PostgreSQL
# clients live (scripts/demo.sh). demo-datapath: the same without PostgreSQL, on a bare listener.
demo:
	$(Q)scripts/install-deps.sh
	$(Q)$(MAKE) --no-print-directory all
	$(Q)scripts/demo.sh $(OUTPUT)

demo-datapath: all
	$(Q)$(OUTPUT)/bench_datapath --demo

# Outside Kubernetes: `make install` (as root; DESTDIR for staging) puts cruisectl in BINDIR, the
# daemon in SBINDIR, a commented config in SYSCONFDIR/cruise (only if none is there: an edited
# config is never overwritten) and the systemd unit in UNITDIR. UNITDIR is the vendor directory
# under PREFIX (/usr/local/lib/systemd/system, which systemd searches), not /etc/systemd/system:
# that one is the administrator's, for overrides (systemctl edit), and stays so. With a PREFIX
# systemd does not search (e.g. /opt/cruise), give UNITDIR=/etc/systemd/system.
PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
SBINDIR ?= $(PREFIX)/sbin
SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
INSTALL ?= install

install: $(BINS)
	$(Q)$(INSTALL) -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(UNITDIR)
	$(Q)$(INSTALL) -d -m 0750 $(DESTDIR)$(SYSCONFDIR)/cruise
	$(call msg,INSTALL,$(DESTDIR)$(BINDIR)/cruisectl)
	$(Q)$(INSTALL) -m 0755 $(OUTPUT)/cruisectl $(DESTDIR)$(BINDIR)/cruisectl
	$(call msg,INSTALL,$(DESTDIR)$(SBINDIR)/cruise-agent)
	$(Q)$(INSTALL) -m 0755 $(OUTPUT)/cruise-agent $(DESTDIR)$(SBINDIR)/cruise-agent
	$(Q)if [ -e $(DESTDIR)$(SYSCONFDIR)/cruise/cruise.yaml ]; then \
		echo "  KEEP     $(DESTDIR)$(SYSCONFDIR)/cruise/cruise.yaml (exists; the new sample is" \
			"deploy/systemd/cruise.yaml)"; \
	else \
		echo "  INSTALL  $(DESTDIR)$(SYSCONFDIR)/cruise/cruise.yaml"; \
		$(INSTALL) -m 0640 deploy/systemd/cruise.yaml $(DESTDIR)$(SYSCONFDIR)/cruise/cruise.yaml; \
	fi
	$(call msg,INSTALL,$(DESTDIR)$(UNITDIR)/cruise-agent.service)
	$(Q)sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		deploy/systemd/cruise-agent.service.in > $(DESTDIR)$(UNITDIR)/cruise-agent.service.tmp
	$(Q)chmod 0644 $(DESTDIR)$(UNITDIR)/cruise-agent.service.tmp
	$(Q)mv $(DESTDIR)$(UNITDIR)/cruise-agent.service.tmp $(DESTDIR)$(UNITDIR)/cruise-agent.service
	$(Q)[ -n "$(DESTDIR)" ] || ! command -v systemctl >/dev/null || \
		[ ! -d /run/systemd/system ] || systemctl daemon-reload

# Removes the binaries and the unit, keeps the config; pacing in force stays too (stop the service
# and run cruise-agent --uninstall first to remove it).
uninstall:
	$(Q)rm -f $(DESTDIR)$(BINDIR)/cruisectl $(DESTDIR)$(SBINDIR)/cruise-agent \
		$(DESTDIR)$(UNITDIR)/cruise-agent.service
	$(Q)echo "  KEEP     $(DESTDIR)$(SYSCONFDIR)/cruise/cruise.yaml"

vmlinux:
	$(Q)scripts/gen-vmlinux.sh

format:
	$(Q)clang-format -i bpf/*.c bpf/*.h include/*.h agent/*.c agent/*.h tests/*.c tests/*.h \
		bench/*.c

format-check:
	$(Q)clang-format --dry-run --Werror bpf/*.c bpf/*.h include/*.h agent/*.c agent/*.h tests/*.c tests/*.h \
		bench/*.c

clean:
	$(Q)rm -rf $(OUTPUT)
