# shopd — build, run, test, bench.
#
#   make            optimised ./shopd (and build/release/libshop.a)
#   make run        install deps, build, migrate + seed ./data/shop.db, serve :8080
#   make test       ASan+UBSan build, Criterion unit tests, the OpenAPI document's
#                   checks (schema, redocly lint), API tests (pytest) on SQLite,
#                   again through Prism's validating proxy, and on a throwaway
#                   PostgreSQL (scripts/pgtmp.sh), and the browser journeys
#                   (make web-test: Debian's chromium, tests/web)
#   make bench      optimised build, seeded shop, wrk against it and nginx
#   make soak       the crash loop: mixed load, ≥ 100 SIGKILLs, invariants (SQLite,
#                   then PostgreSQL); not part of make test
#   make cluster    PostgreSQL, 3 shopd processes and haproxy on :8080 (Ctrl-C stops)
#   make clean
#
# Every entry point first runs scripts/install-deps.sh (a quick check when
# everything is installed), so a fresh Debian machine needs nothing else.

CC      ?= gcc
PKGS    := libmicrohttpd jansson libsodium sqlite3 libcurl libpq
# Recursive (=) on purpose: pkg-config runs when a recipe needs it, after the
# deps stamp has installed the packages.
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   = $(shell pkg-config --libs $(PKGS)) -lstemmer -lcsv -lpthread -lm

WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wvla -Wformat=2
# -ffp-contract=off: no fused multiply-add, so that a product computed in two
# places rounds the same (search: a word's block bounds equal its top scores).
BASE    := -std=c17 -D_GNU_SOURCE -ffp-contract=off $(WARN) -Isrc -Ibuild/gen -MMD -MP
# The POPCNT instruction (every x86-64 since 2008): without it gcc calls a
# library routine for each popcount, and search counts bits per match
# (index.h: derived_rank).
ifeq ($(shell uname -m),x86_64)
BASE    += -mpopcnt
endif
RELEASE := -O2 -g
SANITIZE:= -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined

LIB_SRC := $(shell find src -name '*.c' ! -path 'src/main.c' | sort)
MIGRATIONS_SQLITE := $(sort $(wildcard src/store/migrations/sqlite/*.sql))
MIGRATIONS_PG     := $(sort $(wildcard src/store/migrations/postgres/*.sql))
WEB_FILES := $(shell find web -type f ! -name '.*' | sort)
GEN_SRC := build/gen/migrations_sqlite.c build/gen/migrations_postgres.c build/gen/web_assets.c
UNIT_SRC := $(sort $(wildcard tests/unit/*.c))

REL_OBJ  := $(patsubst %.c,build/release/%.o,$(LIB_SRC) $(GEN_SRC))
ASAN_OBJ := $(patsubst %.c,build/asan/%.o,$(LIB_SRC) $(GEN_SRC))
UNIT_OBJ := $(patsubst %.c,build/asan/%.o,$(UNIT_SRC))

DEPS_STAMP := build/.deps-ok

.PHONY: all deps run cluster test unit unit-pg api api-prism api-pg openapi web-test bench soak faults clean format \
        fuzz fuzz-build fuzz-replay
all: shopd

deps: $(DEPS_STAMP)
$(DEPS_STAMP): scripts/install-deps.sh tests/openapi/package-lock.json tests/webhooks/package-lock.json \
                tests/web/package-lock.json
	@scripts/install-deps.sh
	@mkdir -p build && touch $@

build/gen/migrations_sqlite.c: $(MIGRATIONS_SQLITE) scripts/embed-sql.sh
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	@scripts/embed-sql.sh migrations_sqlite $(MIGRATIONS_SQLITE) > $@.tmp && mv $@.tmp $@

build/gen/migrations_postgres.c: $(MIGRATIONS_PG) scripts/embed-sql.sh
	@mkdir -p $(dir $@)
	@echo "  GEN     $@"
	@scripts/embed-sql.sh migrations_postgres $(MIGRATIONS_PG) > $@.tmp && mv $@.tmp $@

# The storefront and admin console (web/), compiled in: api/web_assets.h.
build/gen/web_assets.c: $(WEB_FILES) scripts/embed-web.sh
	@mkdir -p $(dir $@)
	scripts/embed-web.sh web > $@.tmp && mv $@.tmp $@

build/release/%.o: %.c | $(DEPS_STAMP) $(GEN_SRC)
	@mkdir -p $(dir $@)
	@echo "  CC      $<"
	@$(CC) $(BASE) $(RELEASE) $(PKG_CFLAGS) -c $< -o $@

build/asan/%.o: %.c | $(DEPS_STAMP) $(GEN_SRC)
	@mkdir -p $(dir $@)
	@echo "  CC-ASAN $<"
	@$(CC) $(BASE) $(SANITIZE) $(PKG_CFLAGS) -c $< -o $@

# Archive and link steps print one short line each, like the compiles
# (their hundred-path command lines pushed warnings off the screen).
build/release/libshop.a: $(REL_OBJ)
	@echo "  AR      $@"
	@rm -f $@ && ar rcs $@ $^
build/asan/libshop.a: $(ASAN_OBJ)
	@echo "  AR      $@"
	@rm -f $@ && ar rcs $@ $^

shopd: build/release/src/main.o build/release/libshop.a
	@echo "  LD      $@"
	@$(CC) $(RELEASE) -o $@ $^ $(PKG_LIBS)

build/asan/shopd: build/asan/src/main.o build/asan/libshop.a
	@echo "  LD      $@"
	@$(CC) $(SANITIZE) -o $@ $^ $(PKG_LIBS)

build/asan/unit-tests: $(UNIT_OBJ) build/asan/libshop.a
	@echo "  LD      $@"
	@$(CC) $(SANITIZE) -o $@ $^ $(PKG_LIBS) -lcriterion

# ---- run -------------------------------------------------------------------
DB   ?= data/shop.db
PORT ?= 8080
run: shopd
	@mkdir -p $(dir $(DB))
	./shopd migrate --db $(DB)
	./shopd seed --if-empty --products 2000 --users 50 --db $(DB)
	./shopd serve --port $(PORT) --db $(DB)

# Several processes, one shop (STO-3): scripts/cluster.sh has the settings.
N ?= 3
cluster: shopd
	scripts/cluster.sh up $(N)

# ---- test ------------------------------------------------------------------
# ASan reports leaks at exit; the server's shutdown path frees everything, so
# leaks stay fatal.
TEST_ENV := ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1
PYTEST   := /usr/bin/python3 -m pytest
JOBS     ?= 2

# fuzz-build: the clang build of the fuzz targets, so `make fuzz` cannot break unseen.
test: unit unit-pg fuzz-build fuzz-replay openapi api api-prism api-pg web-test
	@echo "make test: all suites passed"

# The unit tests fail things on purpose (bad settings, a read-only database):
# their log lines would read as alarms, so they are off here.
unit: build/asan/unit-tests
	$(TEST_ENV) SHOPD_LOG_LEVEL=off build/asan/unit-tests --jobs $(JOBS)

# The unit tests that need a PostgreSQL server (store_pg/*), with one of their own.
unit-pg: build/asan/unit-tests
	scripts/pgtmp.sh run -- env $(TEST_ENV) SHOPD_LOG_LEVEL=off \
	    build/asan/unit-tests --jobs $(JOBS) --filter 'store_pg/*'

api: build/asan/shopd
	$(TEST_ENV) SHOPD_BIN=$(CURDIR)/build/asan/shopd $(PYTEST) tests/api -q -n $(JOBS) -p no:cacheprovider

# The same suite with every module's server behind Stoplight Prism's
# validating proxy: an independent reading of docs/openapi.yaml that fails a
# test on any violation it reports (tests/api/conftest.py). Servers a test
# makes for itself (make_server) and raw-socket tests speak to shopd directly.
api-prism: build/asan/shopd $(DEPS_STAMP)
	$(TEST_ENV) SHOPD_TEST_PRISM=1 SHOPD_BIN=$(CURDIR)/build/asan/shopd \
	    $(PYTEST) tests/api -q -n $(JOBS) -p no:cacheprovider

# The same suite on PostgreSQL: a server of its own in a temporary directory,
# started and stopped around the run; each test server gets a fresh database.
api-pg: build/asan/shopd
	scripts/pgtmp.sh run -- env $(TEST_ENV) SHOPD_BIN=$(CURDIR)/build/asan/shopd \
	    $(PYTEST) tests/api -q -n $(JOBS) -p no:cacheprovider

# The storefront and console in headless Chromium against a real shopd with a
# fresh SQLite database (tests/web/harness.mjs); screenshots in build/web/.
# Each file has its own shop and browser, so the three run side by side.
web-test: build/asan/shopd $(DEPS_STAMP)
	cd tests/web && $(TEST_ENV) SHOPD_BIN=$(CURDIR)/build/asan/shopd \
	    node --test --test-concurrency=3 journeys.test.mjs storefront.test.mjs console.test.mjs

openapi: $(DEPS_STAMP)
	node tests/openapi/validate.mjs docs/openapi.yaml
	tests/openapi/node_modules/.bin/redocly lint --config tests/openapi/redocly.yaml docs/openapi.yaml

# ---- fuzz ------------------------------------------------------------------
# libFuzzer targets (tests/fuzz/README.md): the library again with clang,
# instrumented for coverage, under ASan+UBSan. `make fuzz` runs each target
# for FUZZ_SECONDS (new inputs go to build/fuzz/corpus/<target>, crashes to
# build/fuzz/crashes/<target>); `make fuzz-replay` (part of `make test`)
# feeds every committed corpus input once to the gcc ASan build.
FUZZ_TARGETS := fuzz_request fuzz_bodies fuzz_search fuzz_import
FUZZ_SECONDS ?= 3600
FUZZ_CC      ?= clang
FUZZ_FLAGS   := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=undefined
FUZZ_OBJ     := $(patsubst %.c,build/fuzz/%.o,$(LIB_SRC) $(GEN_SRC))
FUZZ_HARNESS := tests/fuzz/harness.c tests/fuzz/harness.h

# No -Werror here: clang warns about things gcc does not; gcc's build is
# the one that keeps the code warning-free.
build/fuzz/%.o: %.c | $(DEPS_STAMP) $(GEN_SRC)
	@mkdir -p $(dir $@)
	@echo "  CC-FUZZ $<"
	@$(FUZZ_CC) $(filter-out -Werror,$(BASE)) $(FUZZ_FLAGS) -fsanitize=fuzzer-no-link \
	    $(PKG_CFLAGS) -c $< -o $@
build/fuzz/libshop.a: $(FUZZ_OBJ)
	@echo "  AR      $@"
	@rm -f $@ && ar rcs $@ $^
build/fuzz/%: tests/fuzz/%.c $(FUZZ_HARNESS) build/fuzz/libshop.a
	@echo "  LD      $@"
	@$(FUZZ_CC) $(filter-out -MMD -MP,$(BASE)) -Itests/fuzz $(FUZZ_FLAGS) -fsanitize=fuzzer \
	    $(PKG_CFLAGS) -o $@ $< tests/fuzz/harness.c build/fuzz/libshop.a $(PKG_LIBS)

fuzz-build: $(addprefix build/fuzz/,$(FUZZ_TARGETS))

fuzz: fuzz-build
	@for t in $(FUZZ_TARGETS); do \
	    mkdir -p build/fuzz/corpus/$$t build/fuzz/crashes/$$t; \
	    dict=; [ -f tests/fuzz/$$t.dict ] && dict=-dict=tests/fuzz/$$t.dict; \
	    echo "fuzz: $$t for $(FUZZ_SECONDS) s"; \
	    $(TEST_ENV) build/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -timeout=10 -rss_limit_mb=4096 \
	        -print_final_stats=1 $$dict -artifact_prefix=build/fuzz/crashes/$$t/ \
	        build/fuzz/corpus/$$t tests/fuzz/corpus/$$t || exit 1; \
	done

build/asan/fuzz/%: tests/fuzz/%.c tests/fuzz/replay.c $(FUZZ_HARNESS) build/asan/libshop.a
	@mkdir -p $(dir $@)
	@echo "  LD      $@"
	@$(CC) $(filter-out -MMD -MP,$(BASE)) -Itests/fuzz $(SANITIZE) $(PKG_CFLAGS) -o $@ $< \
	    tests/fuzz/replay.c tests/fuzz/harness.c build/asan/libshop.a $(PKG_LIBS)

fuzz-replay: $(addprefix build/asan/fuzz/,$(FUZZ_TARGETS))
	@for t in $(FUZZ_TARGETS); do \
	    $(TEST_ENV) build/asan/fuzz/$$t tests/fuzz/corpus/$$t || exit 1; \
	done

# ---- bench -----------------------------------------------------------------
bench: shopd
	/usr/bin/python3 bench/run.py

# The crash loop (issue 17, tests/soak/soak.py): the optimised server under
# mixed load, SIGKILLed and restarted KILLS times, on each backend; the
# invariants at the end. Results go in bench/RESULTS.md ("Soak").
KILLS ?= 100
soak: shopd
	SHOPD_BIN=$(CURDIR)/shopd /usr/bin/python3 tests/soak/soak.py --kills $(KILLS)
	scripts/pgtmp.sh run -- env SHOPD_BIN=$(CURDIR)/shopd /usr/bin/python3 tests/soak/soak.py --kills $(KILLS)

# Every saga with a failure injected at every statement in turn (issue 17):
# make test covers every statement of checkout, cancellation and refund and
# every 3rd-12th of the longer sagas (tests/api/test_faults_sagas.py); this
# covers all of them, on SQLite and PostgreSQL (an hour or more under ASan).
faults: build/asan/shopd
	$(TEST_ENV) SHOPD_TEST_FAULT_EVERY=1 SHOPD_BIN=$(CURDIR)/build/asan/shopd $(PYTEST) \
	    tests/api/test_faults.py tests/api/test_faults_sagas.py -q -n $(JOBS) -p no:cacheprovider
	scripts/pgtmp.sh run -- env $(TEST_ENV) SHOPD_TEST_FAULT_EVERY=1 \
	    SHOPD_BIN=$(CURDIR)/build/asan/shopd $(PYTEST) tests/api/test_faults.py \
	    tests/api/test_faults_sagas.py -q -n $(JOBS) -p no:cacheprovider

format:
	clang-format -i $$(find src tests/unit -name '*.[ch]')

clean:
	rm -rf build shopd

-include $(shell find build -name '*.d' 2>/dev/null)
