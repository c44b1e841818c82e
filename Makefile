# torwrap: libtorwrap.so (LD_PRELOAD shim), the torwrap command, and their tests.
#
#   make            build build/libtorwrap.so and build/torwrap
#   make test       install what the tests need (scripts/install-deps), build, run every test
#   make sanitize   the same tests against an ASan+UBSan build (build-san/)
#   make demo       run real programs under torwrap through a private Tor network on loopback
#   make bench      benchmarks against bare programs, torsocks and proxychains4 (QUICK=1: smoke run, < 1 min)
#   make musl       build/musl/libtorwrap.so, the library for musl (Alpine) images (scripts/build-musl)
#   make fuzz       every parser under libFuzzer (clang, build-fuzz/) for FUZZ_SECONDS each (default 60)
#   make tsan       the multithreaded and process-tree tests against a ThreadSanitizer build (build-tsan/)
#   make compose-test  docs/compose.yaml brought up with docker-compose + podman and real Tor (root; part of make test)
#   make install    PREFIX=/usr/local DESTDIR=

PREFIX ?= /usr/local
BINDIR ?= $(PREFIX)/bin
LIBDIR ?= $(PREFIX)/lib/torwrap
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/torwrap
SYSCONFDIR ?= /etc/torwrap
DESTDIR ?=

CC ?= cc
BUILD ?= build
OPT ?= -O2 -g
SAN ?=
CFLAGS_ALL = -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wformat=2 \
	-fPIC -fvisibility=hidden -fno-strict-aliasing -pthread $(OPT) $(SAN) \
	-DTW_LIBDIR='"$(LIBDIR)"' $(CFLAGS)

# c-ares goes into the library statically (Debian's libcares.a is PIC), so the .so needs only libc.
CARES_A ?= $(shell $(CC) -print-file-name=libcares.a)

MODULE_SRCS = $(wildcard common/*.c) $(wildcard policy/*.c) $(wildcard resolver/*.c) $(wildcard socks5/*.c) \
	$(wildcard route/*.c)
SHIM_SRCS = $(wildcard shim/*.c)
# The audit stream's reader (`torwrap audit`): the wrapper's and the tests', never the library's.
AUDIT_SRCS = $(wildcard audit/*.c)
CLI_SRCS = $(wildcard cli/*.c)
SUPERVISOR_SRCS = $(wildcard supervisor/*.c)
UNIT_SRCS = $(wildcard tests/unit/test_*.c)
HELPER_SRCS = $(wildcard tests/programs/*.c)
FUZZ_SRCS = $(wildcard tests/fuzz/fuzz_*.c)
BENCH_SRCS = $(filter-out tests/bench/empty.c tests/bench/execwrap.c,$(wildcard tests/bench/*.c))

MODULE_OBJS = $(MODULE_SRCS:%.c=$(BUILD)/obj/%.o)
SHIM_OBJS = $(SHIM_SRCS:%.c=$(BUILD)/obj/%.o)
AUDIT_OBJS = $(AUDIT_SRCS:%.c=$(BUILD)/obj/%.o)
CLI_OBJS = $(CLI_SRCS:%.c=$(BUILD)/obj/%.o)
SUPERVISOR_OBJS = $(SUPERVISOR_SRCS:%.c=$(BUILD)/obj/%.o)
UNIT_BINS = $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
HELPER_BINS = $(HELPER_SRCS:tests/programs/%.c=$(BUILD)/programs/%)
FUZZ_BINS = $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/fuzz/%)
FUZZ_REPLAY_OBJS = $(FUZZ_SRCS:tests/fuzz/%.c=$(BUILD)/obj/tests/fuzz/%.replay.o)
BENCH_BINS = $(BENCH_SRCS:tests/bench/%.c=$(BUILD)/bench/%) $(BUILD)/bench/execwrap $(BUILD)/bench/libempty.so

# The wrapper is static so it runs in images with nothing but the loader (distroless); not under sanitizers.
ifeq ($(SAN),)
CLI_LDFLAGS = -static
else
CLI_LDFLAGS =
endif

.PHONY: unit-bins all test unit-test integration-test sanitize demo install uninstall clean deps programs check-deps \
	bench bench-bins bench-deps leak-test fuzz fuzz-bins tsan compose-test

all: $(BUILD)/libtorwrap.so $(BUILD)/torwrap

$(BUILD)/obj/%.o: %.c $(wildcard */*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -c $< -o $@

$(BUILD)/libtorwrap.so: $(MODULE_OBJS) $(SHIM_OBJS) shim/exports.map
	$(CC) -shared $(SAN) -pthread -Wl,--version-script=shim/exports.map -Wl,--exclude-libs,ALL -Wl,-z,defs \
		-Wl,-z,relro -Wl,-soname,libtorwrap.so -o $@ $(MODULE_OBJS) $(SHIM_OBJS) $(CARES_A) $(LDFLAGS)

# The seccomp supervisor (supervisor/) is the wrapper's alone: never in the library.
$(BUILD)/torwrap: $(CLI_OBJS) $(SUPERVISOR_OBJS) $(AUDIT_OBJS) $(MODULE_OBJS)
	$(CC) $(SAN) -pthread $(CLI_LDFLAGS) -o $@ $(CLI_OBJS) $(SUPERVISOR_OBJS) $(AUDIT_OBJS) $(MODULE_OBJS) \
		$(CARES_A) $(LDFLAGS)

$(BUILD)/tests/%: tests/unit/%.c $(MODULE_OBJS) $(AUDIT_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fPIE -o $@ $< $(AUDIT_OBJS) $(MODULE_OBJS) $(CARES_A) -lcmocka $(LDFLAGS)

# The fuzz targets (tests/fuzz/), replayed on their committed inputs by a unit test built with the project's
# compiler, without libFuzzer (FUZZ_REPLAY).
$(BUILD)/obj/tests/fuzz/%.replay.o: tests/fuzz/%.c $(wildcard tests/fuzz/*.h) $(wildcard */*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -DFUZZ_REPLAY -c $< -o $@

$(BUILD)/tests/test_fuzz_replay: tests/unit/test_fuzz_replay.c $(FUZZ_REPLAY_OBJS) $(MODULE_OBJS) $(AUDIT_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fPIE -DFUZZ_DIR='"$(CURDIR)/tests/fuzz"' -o $@ $< $(FUZZ_REPLAY_OBJS) $(AUDIT_OBJS) \
		$(MODULE_OBJS) $(CARES_A) -lcmocka $(LDFLAGS)

$(BUILD)/fuzz/%: tests/fuzz/%.c $(wildcard tests/fuzz/*.h) $(MODULE_OBJS) $(AUDIT_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_ALL) -fsanitize=fuzzer -o $@ $< $(AUDIT_OBJS) $(MODULE_OBJS) $(CARES_A) $(LDFLAGS)

fuzz-bins: $(FUZZ_BINS)

$(BUILD)/programs/%: tests/programs/%.c $(wildcard tests/programs/*.h)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O1 -g -pthread -o $@ $< -lresolv $(LDFLAGS)

# The map forger of tests/integration/hostile.sh writes the virtual map with torwrap's own code.
HOSTILE_VMAP_OBJS = $(BUILD)/obj/resolver/vaddr.o $(BUILD)/obj/common/libc.o $(BUILD)/obj/common/tw.o
$(BUILD)/programs/hostile_vmap: tests/programs/hostile_vmap.c $(wildcard tests/programs/*.h) $(HOSTILE_VMAP_OBJS)
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -O1 -g -pthread $(SAN) -o $@ $< $(HOSTILE_VMAP_OBJS) $(LDFLAGS)

programs: $(HELPER_BINS)

# The musl variant of the library, for musl (Alpine) images: same source, musl-gcc, c-ares from Debian's source
# package built for musl (scripts/build-musl). The static wrapper serves both.
.PHONY: musl
musl:
	scripts/build-musl --build $(BUILD)

# Benchmark programs (tests/bench/): plain C, no torwrap code in them.
$(BUILD)/bench/%: tests/bench/%.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra -Werror -O2 -g -pthread -o $@ $< -ldl $(LDFLAGS)

# The floor for a wrapper: static like torwrap, and it only execs.
$(BUILD)/bench/execwrap: tests/bench/execwrap.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra -Werror -O2 -static -o $@ $< $(LDFLAGS)

# The floor for LD_PRELOAD: a library with nothing in it.
$(BUILD)/bench/libempty.so: tests/bench/empty.c
	@mkdir -p $(dir $@)
	$(CC) -std=c11 -Wall -Wextra -Werror -O2 -shared -fPIC -o $@ $< $(LDFLAGS)

bench-bins: $(BENCH_BINS)

unit-bins: $(UNIT_BINS)

deps:
	scripts/install-deps

check-deps:
	@scripts/install-deps --check

unit-test: all $(UNIT_BINS)
	tests/run --build $(BUILD) --only unit

integration-test: all programs
	tests/run --build $(BUILD) --only integration

# The private Tor network (tests/integration/tor.sh) needs 20-35 s to come up: tests/with-tornet starts it before
# the build, lets it come up while the build and the other suites run, and stops it at the end, whatever happens.
test: deps
	tests/with-tornet sh -c '$(MAKE) all programs unit-bins && tests/run --build $(BUILD)'

sanitize: deps
	tests/with-tornet sh -c "$(MAKE) BUILD=build-san SAN='-fsanitize=address,undefined -fno-omit-frame-pointer \
		-fno-sanitize-recover=all' OPT='-O1 -g' all programs unit-bins && tests/run --build build-san --sanitize"

# libFuzzer with ASan and UBSan, clang's (Debian's clang and libclang-rt): every target for FUZZ_SECONDS, one
# line each. `FUZZ_RUNS=N` runs each N inputs instead. tests/fuzz/run says where crashes go.
FUZZ_SECONDS ?= 60
FUZZ_RUNS ?=
fuzz: deps
	$(MAKE) BUILD=build-fuzz CC=clang SAN='-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all' \
		OPT='-O1 -g' fuzz-bins
	tests/fuzz/run --build build-fuzz $(if $(FUZZ_RUNS),--runs $(FUZZ_RUNS),--seconds $(FUZZ_SECONDS))

# ThreadSanitizer: the library, the wrapper and the test programs built with -fsanitize=thread, and the tests
# that run many threads and process trees through them (tests/tsan.sh). Any report fails it.
tsan: deps
	$(MAKE) BUILD=build-tsan SAN='-fsanitize=thread' OPT='-O1 -g' all programs
	TW_BUILD=$(CURDIR)/build-tsan TW_TOP=$(CURDIR) tests/tsan.sh

# The documented compose stack (docs/compose.yaml) as written: docker-compose and rootful podman, real Tor in a
# container on a private Tor network, all in namespaces of its own (tests/integration/compose.sh; root: skipped
# otherwise, a failure with TORWRAP_TESTS_NO_SKIP=1).
compose-test: deps
	$(MAKE) all
	TW_BUILD=$(abspath $(BUILD)) TW_TOP=$(CURDIR) bash tests/integration/compose.sh; rc=$$?; \
		if [ $$rc -eq 77 ] && [ "$${TORWRAP_TESTS_NO_SKIP:-0}" != 1 ]; then exit 0; fi; exit $$rc

# The DNS-leak test harness alone (needs root): docs/leak-test.md. `make test` runs it too.
leak-test: deps
	$(MAKE) all programs
	scripts/leak-test --build $(BUILD)

bench-deps:
	scripts/install-deps --bench

# Not part of `make test`: timings do not belong in tests. QUICK=1 is a smoke run (every section, few rounds)
# that fails only when something breaks, never on a timing.
bench: bench-deps
	$(MAKE) all bench-bins
	tests/bench/run --build $(BUILD) $(if $(filter-out 0,$(QUICK)),--quick)

# scripts/demo starts the private Tor network first and builds (with this make) while it comes up.
demo: deps
	scripts/demo --build $(BUILD) --make '$(MAKE)'

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(DOCDIR)
	install -m 0755 $(BUILD)/torwrap $(DESTDIR)$(BINDIR)/torwrap
	install -m 0644 $(BUILD)/libtorwrap.so $(DESTDIR)$(LIBDIR)/libtorwrap.so
	# the musl build, when made (make musl): torwrap hands it to musl programs
	if [ -f $(BUILD)/musl/libtorwrap.so ]; then install -D -m 0644 $(BUILD)/musl/libtorwrap.so \
		$(DESTDIR)$(LIBDIR)/musl/libtorwrap.so; fi
	install -m 0644 docs/torwrap.1 $(DESTDIR)$(MANDIR)/man1/torwrap.1
	install -m 0644 docs/policy.md docs/policy.example $(DESTDIR)$(DOCDIR)/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/torwrap $(DESTDIR)$(LIBDIR)/libtorwrap.so $(DESTDIR)$(LIBDIR)/musl/libtorwrap.so \
		$(DESTDIR)$(MANDIR)/man1/torwrap.1
	rm -rf $(DESTDIR)$(DOCDIR)

clean:
	rm -rf build build-san build-fuzz build-tsan

# The soak (issue 14): two tor client instances of the private Tor network as a scaled tor-proxy, 200 connections
# for 10 minutes under LD_PRELOAD, one instance killed and restarted every minute (about 13 minutes in all).
# Not part of `make test`, whose tests/integration/tor.sh runs a short one.
.PHONY: soak
soak: all
	nice scripts/soak --build $(BUILD)
