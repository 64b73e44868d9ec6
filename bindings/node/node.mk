# bindings/node/node.mk — the Node binding (included by the Makefile).
#
#   make node        bindings/node ready for `npm pack`: dev dependencies
#                    installed, the addon compiled and libzbauth copied into
#                    prebuilds/<platform>-<arch>/
#   make test-node   node --test against dev clusters the tests start
#   make demo-node   examples/topology.mjs against the dev cluster
#   make bench-node  token()/topology() vs @camunda8/sdk → build/bench/node.json
#
# The addon (src/addon.c) is compiled by cc against the node-api-headers
# package: no node-gyp, no header download. It dlopen()s libzbauth at run
# time, so it has no link-time dependency on it.

NODE_DIR := bindings/node
NODE_PLATFORM := $(shell node -p 'process.platform + "-" + process.arch' 2>/dev/null || echo unknown)
NODE_PREBUILD := $(NODE_DIR)/prebuilds/$(NODE_PLATFORM)
NODE_ADDON := $(NODE_PREBUILD)/zbauth.node
NODE_LIBCOPY := $(NODE_PREBUILD)/libzbauth.so
# npm writes node_modules/.package-lock.json on every install: the stamp.
NODE_DEPS := $(NODE_DIR)/node_modules/.package-lock.json
NPM_FLAGS := --no-audit --no-fund --loglevel=error

.PHONY: node test-node demo-node bench-node

$(NODE_DEPS): $(NODE_DIR)/package.json $(NODE_DIR)/package-lock.json
	cd $(NODE_DIR) && npm ci $(NPM_FLAGS)
	@touch $@

$(NODE_ADDON): $(NODE_DIR)/src/addon.c capi/zbauth.h $(NODE_DEPS)
	@mkdir -p $(@D)
	cc -std=c11 -O2 -Wall -Wextra -Werror -shared -fPIC \
	  -I $(NODE_DIR)/node_modules/node-api-headers/include -I capi \
	  -o $@ $< -lpthread -ldl

$(NODE_LIBCOPY): $(LIB)
	@mkdir -p $(@D)
	install -m 0755 $$(readlink -f $(LIB)) $@

node: $(NODE_ADDON) $(NODE_LIBCOPY) ## the Node package in bindings/node, ready for npm pack

test-node: node $(ZBAUTH) ## Node binding tests (node --test) against dev clusters, tarball install included
	@echo "== Node tests (node --test)"
	cd $(NODE_DIR) && ZBAUTH_BIN=$(ZBAUTH) node --test --test-reporter=spec test/*.test.js
TESTS += test-node

demo-node: node $(ZBAUTH) ## the Node example prints the topology
	@echo "== Node example (bindings/node/examples/topology.mjs) against the dev cluster"
	$(WITH_CLUSTER) node $(NODE_DIR)/examples/topology.mjs
DEMOS += demo-node

bench-node: node $(ZBAUTH) ## Node: cached token() and topology() vs @camunda8/sdk
	@mkdir -p $(BUILD)/bench
	BENCH_RUNS=$(or $(BENCH_RUNS),5) $(WITH_CLUSTER) node $(NODE_DIR)/bench/bench.mjs $(BUILD)/bench/node.json
BENCHES += bench-node
