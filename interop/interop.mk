# interop/interop.mk — zbauth against real token issuers (included by the
# Makefile). interop/run.sh does the work; interop/README.md explains it.
#
# Not part of `make test`: it downloads Keycloak once (~160 MB, cached in
# ~/.cache/zbauth/keycloak) and takes a minute or two. CI runs it on its own.

INTEROP_C := $(BUILD)/interop/interop-c

.PHONY: test-interop

# The C driver goes through the installed libzbauth like any C program, with
# the C tests' AddressSanitizer flags (capi/capi.mk).
$(INTEROP_C): interop/c/interop.c $(STAGE)/lib/libzbauth.so
	@mkdir -p $(@D)
	cc $(C_TEST_FLAGS) -o $@ $< $$($(STAGE_PC) pkg-config --cflags --libs zbauth) -Wl,-rpath,$(STAGE)/lib

test-interop: ## Keycloak and oauth2-mock-server issue tokens to every surface (downloads Keycloak once)
	MAKE="$(MAKE)" GO="$(GO)" BUILD="$(BUILD)" ZBAUTH="$(ZBAUTH)" \
	INTEROP_C="$(INTEROP_C)" INTEROP_C_ENV="$(C_TEST_ENV)" \
	PY_DIST="$(or $(PY_DIST),$(BUILD)/python)" WASM_MODULE="$(or $(WASM_MODULE),$(BUILD)/zbauth.wasm)" \
	HAVE_PYTHON="$(wildcard bindings/python/python.mk)" HAVE_NODE="$(wildcard bindings/node/node.mk)" \
	HAVE_WASM="$(wildcard wasm/wasm.mk)" \
	bash interop/run.sh
