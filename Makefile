# liveprobe: libbpf-bootstrap style build. `make V=1` shows full commands.
.DELETE_ON_ERROR:
.SUFFIXES:

# SANITIZE=1 builds everything with ASan and UBSan (aborting on the first report) in its own tree,
# and checks on every publish that a worker shared with the previous snapshot did not change.
ifeq ($(SANITIZE),1)
OUTPUT := build-san
SAN_FLAGS := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
	-DLP_CHECK_SHARING
else
OUTPUT := build
SAN_FLAGS :=
endif
CLANG ?= clang
BPFTOOL ?= bpftool
CC ?= cc
PREFIX ?= /usr/local
DESTDIR ?=
ARCH := $(shell uname -m | sed 's/x86_64/x86/;s/aarch64/arm64/')

ifeq ($(V),1)
Q =
msg =
else
Q = @
msg = @printf '  %-8s %s\n' "$(1)" "$(2)";
endif

# `make run` installs what building and running need; tests and benches add their own set.
DEPS_STAMP := $(OUTPUT)/.deps-ok
TEST_DEPS_STAMP := $(OUTPUT)/.deps-test-ok
PKGS := libbpf libelf zlib libmicrohttpd json-c libcurl libseccomp libcap
WARN := -Wall -Wextra -Werror
CFLAGS ?= -g -O2
ALL_CFLAGS = $(CFLAGS) $(SAN_FLAGS) $(WARN) -std=gnu11 -D_GNU_SOURCE -MMD -MP -Iinclude -Iuserspace \
	-I$(OUTPUT) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm

BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(patsubst bpf/%.bpf.c,$(OUTPUT)/bpf/%.bpf.o,$(BPF_SRCS))
SKEL := $(OUTPUT)/liveprobe.skel.h

# Modules linked into the daemon and the kernel tests; the CLI needs only a few.
CORE_MODS := probe proc procwatch cgwatch dump paths clock bulk route fleet conn u64map output report ingest feed state saver events hook metrics dashboard sockdiag sockwatch snapshot render opts cmdq log privs systemd loop lanes http
DAEMON_OBJS := $(patsubst %,$(OUTPUT)/%.o,$(CORE_MODS) liveprobed)
CLI_OBJS := $(patsubst %,$(OUTPUT)/%.o,cli log)
UNIT_SRCS := $(wildcard tests/unit/*.c)
KTEST_SRCS := $(wildcard tests/kernel/*.c)

.PHONY: all deps run demo test bench clean install man format fuzz fuzz-build FORCE
all: $(OUTPUT)/liveprobed $(OUTPUT)/liveprobe

deps: $(DEPS_STAMP)
$(DEPS_STAMP): scripts/install-deps.sh
	$(Q)bash scripts/install-deps.sh runtime build
	$(Q)mkdir -p $(OUTPUT) && touch $@
$(TEST_DEPS_STAMP): scripts/install-deps.sh $(DEPS_STAMP)
	$(Q)bash scripts/install-deps.sh test
	$(Q)touch $@

$(OUTPUT)/vmlinux.h: | $(DEPS_STAMP)
	$(call msg,VMLINUX,$@)
	$(Q)test -r /sys/kernel/btf/vmlinux || { echo "liveprobe needs a kernel with BTF (/sys/kernel/btf/vmlinux)" >&2; exit 1; }
	$(Q)$(BPFTOOL) btf dump file /sys/kernel/btf/vmlinux format c > $@

$(OUTPUT)/bpf/%.bpf.o: bpf/%.bpf.c bpf/liveprobe.bpf.h include/lp_events.h $(OUTPUT)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_$(ARCH) -Iinclude -I$(OUTPUT) -c $< -o $@

$(OUTPUT)/liveprobe.bpf.o: $(BPF_OBJS)
	$(call msg,LINK-BPF,$@)
	$(Q)$(BPFTOOL) gen object $@ $^

$(SKEL): $(OUTPUT)/liveprobe.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name liveprobe_bpf > $@

$(OUTPUT)/%.o: userspace/%.c | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -c $< -o $@

# The commit the binaries carry (--version, liveprobe_build_info), rewritten only when it moves.
$(OUTPUT)/lp_commit.h: FORCE | $(DEPS_STAMP)
	$(Q)commit=$$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown); \
	line="#define LP_COMMIT \"$$commit\""; \
	[ "$$(cat $@ 2>/dev/null)" = "$$line" ] || echo "$$line" > $@
FORCE:
$(OUTPUT)/opts.o $(OUTPUT)/cli.o $(OUTPUT)/metrics.o: $(OUTPUT)/lp_commit.h

# Only the probe module includes the skeleton.
$(OUTPUT)/probe.o: $(SKEL)
# The dashboard page is linked in verbatim (.incbin).
$(OUTPUT)/dashboard.o: userspace/dashboard.html

$(OUTPUT)/liveprobed: $(DAEMON_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/liveprobe: $(CLI_OBJS)
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $^ $(LDLIBS) -o $@

$(OUTPUT)/test_unit: $(UNIT_SRCS) $(patsubst %,$(OUTPUT)/%.o,fleet conn u64map output report render bulk opts snapshot log proc clock route) tests/harness.h
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -Itests $(filter %.c %.o,$^) $(LDLIBS) -o $@

$(OUTPUT)/test_kernel: $(KTEST_SRCS) $(patsubst %,$(OUTPUT)/%.o,$(CORE_MODS)) tests/harness.h
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) -Itests $(filter %.c %.o,$^) $(LDLIBS) -o $@

# The restart test's "next version": the same daemon with BPF programs that differ by a few
# instructions (LP_UPGRADE_VARIANT), to prove an upgrade replaces the programs and keeps the maps.
UPGRADE := $(OUTPUT)/upgrade
$(UPGRADE)/bpf/%.bpf.o: bpf/%.bpf.c bpf/liveprobe.bpf.h include/lp_events.h $(OUTPUT)/vmlinux.h
	$(call msg,BPF,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) -g -O2 -Wall -Werror -target bpf -D__TARGET_ARCH_$(ARCH) -DLP_UPGRADE_VARIANT \
		-Iinclude -I$(OUTPUT) -c $< -o $@
$(UPGRADE)/liveprobe.bpf.o: $(patsubst bpf/%.bpf.c,$(UPGRADE)/bpf/%.bpf.o,$(BPF_SRCS))
	$(call msg,LINK-BPF,$@)
	$(Q)$(BPFTOOL) gen object $@ $^
$(UPGRADE)/liveprobe.skel.h: $(UPGRADE)/liveprobe.bpf.o
	$(call msg,SKEL,$@)
	$(Q)$(BPFTOOL) gen skeleton $< name liveprobe_bpf > $@
$(UPGRADE)/probe.o: userspace/probe.c $(UPGRADE)/liveprobe.skel.h
	$(call msg,CC,$@)
	$(Q)$(CC) -I$(UPGRADE) $(ALL_CFLAGS) -c $< -o $@
$(UPGRADE)/liveprobed: $(filter-out $(OUTPUT)/probe.o,$(DAEMON_OBJS)) $(UPGRADE)/probe.o
	$(call msg,LINK,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $^ $(LDLIBS) -o $@

run: all
	$(OUTPUT)/liveprobed $(ARGS)

# A living fleet on this host, broken step by step, narrated; Ctrl-C removes everything.
demo: all
	$(Q)DEMO_BUILD=$(CURDIR)/$(OUTPUT) bash scripts/demo/demo.sh

# The honest reporter of the flood test and bench, built from include/liveprobe.h alone.
$(OUTPUT)/honest: tests/e2e/honest.c include/liveprobe.h | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)$(CC) $(CFLAGS) $(SAN_FLAGS) $(WARN) -Iinclude $< -o $@

test: $(TEST_DEPS_STAMP) all $(OUTPUT)/test_unit $(OUTPUT)/test_kernel $(OUTPUT)/honest $(UPGRADE)/liveprobed fuzz-build
	$(Q)LP_BUILD=$(CURDIR)/$(OUTPUT) LP_FUZZ=$(CURDIR)/build/fuzz LP_SANITIZE=$(SANITIZE) \
		bash tests/run.sh

# libFuzzer harnesses (always with ASan and UBSan) for every parser of untrusted bytes.
# `make fuzz` runs each for FUZZ_SECONDS; `make test` replays the seeds and every saved crash.
FUZZ_TARGETS := datagram json_report state config proc route
FUZZ_SECONDS ?= 30
FUZZ_CFLAGS := -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
	-std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Iinclude -Iuserspace
FUZZ_MODS_datagram := report opts log
FUZZ_MODS_json_report := report opts log
FUZZ_MODS_state := state render bulk snapshot fleet conn output u64map report opts log paths clock
FUZZ_MODS_config := opts log
FUZZ_MODS_proc := proc
FUZZ_MODS_route := route
fuzz-build: $(patsubst %,build/fuzz/fuzz_%,$(FUZZ_TARGETS))
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(wildcard userspace/*.c userspace/*.h) | $(TEST_DEPS_STAMP)
	$(call msg,FUZZ,$@)
	$(Q)mkdir -p $(@D)
	$(Q)$(CLANG) $(FUZZ_CFLAGS) $< $(patsubst %,userspace/%.c,$(FUZZ_MODS_$*)) \
		$(shell pkg-config --cflags --libs json-c) -lm -o $@
fuzz: fuzz-build
	$(Q)for t in $(FUZZ_TARGETS); do \
		mkdir -p build/fuzz/work-$$t; \
		dict=; [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
		echo "== fuzz $$t for $(FUZZ_SECONDS) s"; \
		build/fuzz/fuzz_$$t $$dict -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
			-artifact_prefix=build/fuzz/crash-$$t- build/fuzz/work-$$t tests/fuzz/corpus/$$t \
			|| { echo "fuzz $$t: a crash, saved as build/fuzz/crash-$$t-*; copy it to tests/fuzz/crashes/$$t/"; exit 1; }; \
	done

$(OUTPUT)/bench: tests/bench/bench.c | $(DEPS_STAMP)
	$(call msg,CC,$@)
	$(Q)$(CC) $(ALL_CFLAGS) $< $(LDLIBS) -o $@

bench: $(TEST_DEPS_STAMP) all $(OUTPUT)/bench $(OUTPUT)/honest
	$(Q)bash tests/bench/run.sh

SYSCONFDIR ?= /etc
UNITDIR ?= $(PREFIX)/lib/systemd/system
DOCDIR ?= $(PREFIX)/share/doc/liveprobe

# Man pages from one source, each binary's own --help and --version (help2man).
MANDIR ?= $(PREFIX)/share/man
MAN_PAGES := $(OUTPUT)/man/liveprobed.8 $(OUTPUT)/man/liveprobe.1
man: $(MAN_PAGES)
$(OUTPUT)/man/liveprobed.8: $(OUTPUT)/liveprobed
	$(call msg,MAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)help2man --no-info --section 8 --name "kernel-level liveness probe for fleets of workers" \
		--output $@ $<
$(OUTPUT)/man/liveprobe.1: $(OUTPUT)/liveprobe
	$(call msg,MAN,$@)
	$(Q)mkdir -p $(@D)
	$(Q)help2man --no-info --section 1 --name "ask liveprobed how a fleet of workers is doing" \
		--output $@ $<

install: all man
	install -D -m 0644 $(OUTPUT)/man/liveprobed.8 $(DESTDIR)$(MANDIR)/man8/liveprobed.8
	install -D -m 0644 $(OUTPUT)/man/liveprobe.1 $(DESTDIR)$(MANDIR)/man1/liveprobe.1
	install -D -m 0755 $(OUTPUT)/liveprobed $(DESTDIR)$(PREFIX)/sbin/liveprobed
	install -D -m 0755 $(OUTPUT)/liveprobe $(DESTDIR)$(PREFIX)/bin/liveprobe
	install -D -m 0644 include/liveprobe.h $(DESTDIR)$(PREFIX)/include/liveprobe.h
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)$(DOCDIR)/prometheus
	sed -e 's|@SBINDIR@|$(PREFIX)/sbin|g' -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' \
		-e 's|@DOCDIR@|$(DOCDIR)|g' scripts/systemd/liveprobed.service.in \
		> $(DESTDIR)$(UNITDIR)/liveprobed.service
	install -m 0644 scripts/systemd/liveprobed.socket $(DESTDIR)$(UNITDIR)/liveprobed.socket
	test -e $(DESTDIR)$(SYSCONFDIR)/liveprobe/liveprobed.conf || \
		install -D -m 0644 scripts/systemd/liveprobed.conf $(DESTDIR)$(SYSCONFDIR)/liveprobe/liveprobed.conf
	install -D -m 0644 scripts/sysctl/60-liveprobe.conf $(DESTDIR)$(PREFIX)/lib/sysctl.d/60-liveprobe.conf
	install -m 0644 README.md $(DESTDIR)$(DOCDIR)/README.md
	install -m 0644 scripts/prometheus/*.yml $(DESTDIR)$(DOCDIR)/prometheus/

format:
	clang-format -i userspace/*.c userspace/*.h bpf/*.c bpf/*.h include/*.h tests/*/*.c tests/*.h

clean:
	rm -rf build build-san

-include $(wildcard $(OUTPUT)/*.d)
