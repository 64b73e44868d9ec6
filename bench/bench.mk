# bench/bench.mk — zbauth against its peers, Go and C parts, and the report
# (included by the Makefile). See bench/README.md.
#
#   make bench         every surface's benchmarks, then docs/BENCHMARKS.md
#   make bench-go      Go: testing.B + cmd/measure  → build/bench/go-bench.txt, go.json
#                      (measure also runs the C topology figures, between the Go peers)
#   make bench-c       C: bench/c/cbench, BENCH_RUNS processes → build/bench/c.N.json
#   make bench-report  build/bench/*.json + go-bench.txt → docs/BENCHMARKS.md, .json
#   make bench-smoke   a tiny run of all of the above, and of the Python and Node
#                      scripts in smoke mode (BENCH_SMOKE=1); part of make test
#
# Benchmarks must run one after another: do not use make -j with them.
# The Go benchmark code is a module of its own (bench/go.mod) so that the
# peers it compares with (x/oauth2, Camunda's Go client with gRPC) stay out
# of zbauth's go.mod and out of `go test ./...`.

BENCH_OUT := $(BUILD)/bench
BENCH_BIN := $(BUILD)/bench-bin
BENCH_SMOKE := $(BUILD)/bench-smoke
BENCH_RUNS ?= 5
BENCH_GO_SOURCES := bench/go.mod bench/go.sum $(shell find bench -name '*.go' 2>/dev/null)
BENCH_TOOLS := $(BENCH_BIN)/bench.test $(BENCH_BIN)/measure $(BENCH_BIN)/rsschild $(BENCH_BIN)/report $(BENCH_BIN)/cbench
# The surfaces whose start-up the Go measurements time (each is skipped as
# "not built" when missing; these two are built here).
BENCH_STARTUP := $(ZBAUTH) $(BUILD)/c/topology $(LIB)
# The other surfaces cmd/measure drives in the cold burst and refresh stall
# (the C library through cbench, the Wasm plugin in-process).
BENCH_PEERS := $(STAGE)/lib/libzbauth.so $(WASM_MODULE)

.PHONY: bench-go bench-c bench-report bench-smoke bench-tools

bench-tools: $(BENCH_TOOLS)

$(BENCH_BIN)/bench.test: $(BENCH_GO_SOURCES) $(GO_SOURCES)
	@mkdir -p $(@D)
	$(GO) -C bench test -c -o $@ .

$(BENCH_BIN)/%: $(BENCH_GO_SOURCES) $(GO_SOURCES)
	@mkdir -p $(@D)
	$(GO) -C bench build -o $@ ./cmd/$*

# Loads libzbauth with dlopen (to time loading), so it does not link it.
$(BENCH_BIN)/cbench: bench/c/cbench.c $(STAGE)/lib/libzbauth.so
	@mkdir -p $(@D)
	cc -std=gnu11 -O2 -Wall -Wextra -Werror -I$(STAGE)/include -o $@ $< -ldl -lpthread

# testing.B runs BENCH_RUNS times over, one -count 1 pass after another,
# so that a burst of load on the machine hits one run of every benchmark
# rather than all runs of one.
bench-go: $(BENCH_BIN)/bench.test $(BENCH_BIN)/measure $(BENCH_BIN)/rsschild $(BENCH_BIN)/cbench $(BENCH_STARTUP) $(BENCH_PEERS) ## Go: testing.B and cmd/measure vs x/oauth2, zbc and net/http
	@mkdir -p $(BENCH_OUT)
	@echo "== Go micro-benchmarks (testing.B, $(BENCH_RUNS) passes)"
	rm -f $(BENCH_OUT)/go-bench.txt
	for i in $$(seq $(BENCH_RUNS)); do \
	  $(WITH_CLUSTER) $(BENCH_BIN)/bench.test -test.run '^$$' -test.bench . -test.benchmem \
	    -test.count 1 | tee -a $(BENCH_OUT)/go-bench.txt; done
	@echo "== Go measurements (cold burst, refresh stall, topology, memory, start-up)"
	$(WITH_CLUSTER) $(BENCH_BIN)/measure -runs $(BENCH_RUNS) -root $(CURDIR) -out $(BENCH_OUT)/go.json
BENCHES += bench-go

bench-c: $(BENCH_BIN)/cbench $(ZBAUTH) ## C: cached token, library load and memory (BENCH_RUNS processes)
	@mkdir -p $(BENCH_OUT)
	@echo "== C benchmarks (libzbauth via dlopen, $(BENCH_RUNS) processes)"
	rm -f $(BENCH_OUT)/c.*.json
	for i in $$(seq $(BENCH_RUNS)); do \
	  $(WITH_CLUSTER) $(BENCH_BIN)/cbench $(STAGE)/lib/libzbauth.so > $(BENCH_OUT)/c.$$i.json; done
BENCHES += bench-c

bench-report: $(BENCH_BIN)/report ## collect build/bench/* into docs/BENCHMARKS.md and docs/BENCHMARKS.json
	$(BENCH_BIN)/report -in $(BENCH_OUT) -gobench $(BENCH_OUT)/go-bench.txt -root $(CURDIR) \
	  -md docs/BENCHMARKS.md -json docs/BENCHMARKS.json
	@echo "bench: wrote docs/BENCHMARKS.md and docs/BENCHMARKS.json"
# Last, after every surface's bench-* target has written its results.
BENCHES += bench-report

# The smoke run: everything above once, tiny, into build/bench-smoke/ (not
# docs/). It checks that the benchmarks still build and run, nothing else.
bench-smoke: $(BENCH_TOOLS) $(BENCH_STARTUP) $(BENCH_PEERS) $(PY_VENV)/.installed node ## the benchmarks, tiny, to keep them working (no timing asserted)
	@echo "== benchmark smoke run"
	rm -rf $(BENCH_SMOKE) && mkdir -p $(BENCH_SMOKE)
	$(GO) -C bench vet ./...
	$(GO) -C bench test -count=1 ./cmd/... ./internal/...
	$(WITH_CLUSTER) $(BENCH_BIN)/bench.test -test.run '^$$' -test.bench . -test.benchmem \
	  -test.benchtime 100x -test.count 1 > $(BENCH_SMOKE)/go-bench.txt
	$(WITH_CLUSTER) $(BENCH_BIN)/measure -quick -root $(CURDIR) -out $(BENCH_SMOKE)/go.json 2>$(BENCH_SMOKE)/measure.log \
	  || { cat $(BENCH_SMOKE)/measure.log; exit 1; }
	$(WITH_CLUSTER) $(BENCH_BIN)/cbench $(STAGE)/lib/libzbauth.so quick > $(BENCH_SMOKE)/c.1.json
	BENCH_SMOKE=1 $(PY_ENV) $(WITH_CLUSTER) $(PY) $(PY_DIR)/bench/bench.py $(BENCH_SMOKE)/python.json > $(BENCH_SMOKE)/python.log \
	  || { cat $(BENCH_SMOKE)/python.log; exit 1; }
	BENCH_SMOKE=1 $(WITH_CLUSTER) node $(NODE_DIR)/bench/bench.mjs $(BENCH_SMOKE)/node.json > $(BENCH_SMOKE)/node.log \
	  || { cat $(BENCH_SMOKE)/node.log; exit 1; }
	$(BENCH_BIN)/report -in $(BENCH_SMOKE) -gobench $(BENCH_SMOKE)/go-bench.txt -root $(CURDIR) \
	  -title "Benchmarks (smoke run, not representative)" \
	  -md $(BENCH_SMOKE)/BENCHMARKS.md -json $(BENCH_SMOKE)/BENCHMARKS.json
	@echo "bench-smoke: all benchmarks ran (report in $(BENCH_SMOKE)/BENCHMARKS.md)"
TESTS += bench-smoke
