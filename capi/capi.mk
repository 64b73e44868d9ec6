# capi/capi.mk — libzbauth, the C shared library (included by the Makefile).

VERSION := $(shell sed -n 's/^const Version = "\(.*\)"/\1/p' core/version.go)
SONAME := libzbauth.so.$(firstword $(subst ., ,$(VERSION)))
LIBDIR := $(BUILD)/lib
LIB := $(LIBDIR)/libzbauth.so
PREFIX ?= /usr/local
# A private install used by the C tests and examples: they compile against
# the installed header and library, exactly as a user would.
STAGE := $(BUILD)/stage
STAGE_PC := PKG_CONFIG_PATH=$(STAGE)/lib/pkgconfig

.PHONY: lib install test-c demo-c

lib: $(LIB) ## build build/lib/libzbauth.so (soname libzbauth.so.N)

$(LIB): $(GO_SOURCES) $(wildcard capi/*.go capi/*.c capi/*.h) capi/libzbauth.map
	@mkdir -p $(LIBDIR)
	CGO_ENABLED=1 $(GO) build -trimpath -buildmode=c-shared \
	  -ldflags "-s -w -extldflags '-Wl,-soname,$(SONAME) -Wl,--version-script,$(CURDIR)/capi/libzbauth.map'" -o $(LIBDIR)/libzbauth.so.$(VERSION) ./capi
	rm -f $(LIBDIR)/libzbauth.so.$(VERSION:.so=).h $(LIBDIR)/*.h
	ln -sf libzbauth.so.$(VERSION) $(LIBDIR)/$(SONAME)
	ln -sf libzbauth.so.$(VERSION) $@

install: $(LIB) ## install library, header and zbauth.pc under PREFIX
	install -d $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include
	install -m 0755 $(LIBDIR)/libzbauth.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/
	ln -sf libzbauth.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/$(SONAME)
	ln -sf libzbauth.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libzbauth.so
	install -m 0644 capi/zbauth.h $(DESTDIR)$(PREFIX)/include/zbauth.h
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(VERSION)|' capi/zbauth.pc.in \
	  > $(DESTDIR)$(PREFIX)/lib/pkgconfig/zbauth.pc

$(STAGE)/lib/libzbauth.so: $(LIB) capi/zbauth.h capi/zbauth.pc.in
	$(MAKE) --no-print-directory install PREFIX=$(STAGE)

$(BUILD)/c/topology: capi/examples/topology.c $(STAGE)/lib/libzbauth.so
	@mkdir -p $(@D)
	cc -Wall -Wextra -o $@ $< $$($(STAGE_PC) pkg-config --cflags --libs zbauth) -Wl,-rpath,$(STAGE)/lib

# The test binary is built with AddressSanitizer and LeakSanitizer: every
# string the library returns must be freed as documented, or it fails.
C_TEST_FLAGS := -std=c11 -D_DEFAULT_SOURCE -Wall -Wextra -Werror -g -fsanitize=address -fno-omit-frame-pointer
$(BUILD)/c/%: capi/test/%.c capi/test/devctl.c capi/test/devctl.h $(STAGE)/lib/libzbauth.so
	@mkdir -p $(@D)
	cc $(C_TEST_FLAGS) -o $@ $< capi/test/devctl.c \
	  $$($(STAGE_PC) pkg-config --cflags --libs zbauth) -Wl,-rpath,$(STAGE)/lib -lpthread

# mirror.c against the shared table of the token rule (no library: the
# rule is internal).
$(BUILD)/c/tokenrule: capi/test/tokenrule.c capi/mirror.c capi/mirror.h
	@mkdir -p $(@D)
	cc $(C_TEST_FLAGS) -o $@ capi/test/tokenrule.c capi/mirror.c -lpthread

# The conformance vectors, flattened for C (which has no JSON parser).
$(BUILD)/conformance.tsv: testdata/conformance/vectors.json internal/tools/vectors2tsv/main.go internal/conformance/conformance.go
	@mkdir -p $(@D)
	$(GO) run ./internal/tools/vectors2tsv $< > $@

# The Go runtime turns SIGSEGV into panics itself: ASan must leave it alone.
C_TEST_ENV := ASAN_OPTIONS=detect_leaks=1:handle_segv=0:handle_sigbus=0:allow_user_segv_handler=1

test-c: $(ZBAUTH) $(BUILD)/c/test_zbauth $(BUILD)/c/conformance $(BUILD)/conformance.tsv $(BUILD)/c/tokenrule ## C ABI tests (ASan/LSan) against the dev cluster
	@echo "== C token copy against the rule's table (testdata/tokenrule.tsv)"
	$(C_TEST_ENV) $(BUILD)/c/tokenrule testdata/tokenrule.tsv
	@echo "== C tests (AddressSanitizer + LeakSanitizer)"
	$(C_TEST_ENV) $(WITH_CLUSTER) $(BUILD)/c/test_zbauth
	@echo "== C conformance vectors"
	$(C_TEST_ENV) $(WITH_CLUSTER) $(BUILD)/c/conformance $(BUILD)/conformance.tsv
TESTS += test-c

demo-c: $(ZBAUTH) $(BUILD)/c/topology ## the C example prints the topology
	@echo "== C example (capi/examples/topology.c) against the dev cluster"
	$(WITH_CLUSTER) $(BUILD)/c/topology
DEMOS += demo-c
