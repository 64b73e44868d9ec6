#!/usr/bin/env bash
# interop/run.sh — `make test-interop`: zbauth against real, independent
# token issuers on loopback. See interop/README.md.
#
#   1. Keycloak (org.keycloak:keycloak-quarkus-dist from Maven Central,
#      cached outside the repo) starts in dev mode on a free loopback port
#      with the realm interop/keycloak/camunda-platform-realm.json, and
#      oauth2-mock-server (npm, pinned by package-lock.json) on another.
#   2. Meanwhile every surface is built: CLI, Go test binary, C, Python
#      wheel, Node package, Wasm plugin. A build that fails fails that
#      surface's steps; a surface whose make fragment does not exist yet is
#      reported as TODO (skipped).
#   3. For each issuer, each surface runs its scenarios against the REST
#      side, `zbauth dev-cluster --issuer ISSUER --audience zeebe-api`,
#      which verifies the issuer's tokens against its JWKS.
#   4. Services are stopped on exit, failure or Ctrl-C; the steps and the
#      total time are reported.
#
# interop/interop.mk passes MAKE, GO, ZBAUTH, BUILD, INTEROP_C,
# INTEROP_C_ENV, PY_DIST, WASM_MODULE and HAVE_PYTHON/HAVE_NODE/HAVE_WASM.
# Knobs: ZBAUTH_KEYCLOAK_VERSION, ZBAUTH_KEYCLOAK_JAVA_VERSIONS,
# ZBAUTH_KEYCLOAK_CACHE, ZBAUTH_KEYCLOAK_JAVA_HOME,
# ZBAUTH_KEYCLOAK_START_TIMEOUT (seconds), ZBAUTH_INTEROP_GO_FLAGS (more
# flags for the Go scenarios' test binary, e.g. -test.count=5 to repeat),
# ZBAUTH_INTEROP_ISSUE16=1 (the steps that wait for the core's issue-16
# features; off by default).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
SELF=$ROOT/interop/run.sh

export MAKE=${MAKE:-make}
export GO=${GO:-go}
export BUILD=${BUILD:-$ROOT/build}
export ZBAUTH=${ZBAUTH:-$ROOT/bin/zbauth}
export INTEROP_C=${INTEROP_C:-$BUILD/interop/interop-c}
export INTEROP_C_ENV=${INTEROP_C_ENV:-}
export PY_DIST=${PY_DIST:-$BUILD/python}
export WASM_MODULE=${WASM_MODULE:-$BUILD/zbauth.wasm}
HAVE_PYTHON=${HAVE_PYTHON:-}
HAVE_NODE=${HAVE_NODE:-}
HAVE_WASM=${HAVE_WASM:-}

export RUN=$BUILD/interop
LOGS=$RUN/logs
export KC_VERSION=${ZBAUTH_KEYCLOAK_VERSION:-26.5.6}
# The Java versions Keycloak 26.5 supports (its "Supported Configurations":
# OpenJDK 17, 21 and 25, 25 recommended). The newest one installed is used.
KC_JAVA_VERSIONS=${ZBAUTH_KEYCLOAK_JAVA_VERSIONS:-17 21 25}
KC_START_TIMEOUT=${ZBAUTH_KEYCLOAK_START_TIMEOUT:-240}
export KC_HOME=$RUN/keycloak
KC_ADMIN_USER=interop-admin
KC_ADMIN_PASSWORD=interop-admin-password
KC_REALM=camunda-platform
AUDIENCE=zeebe-api
# The realm file's main client, and the one server.mjs accepts.
KC_CLIENT_ID=zeebe KC_CLIENT_SECRET=zeebe-interop-secret
KC_BASIC_SECRET='zeebe+basic:%41/&=interop-secret' # the realm file's zeebe-basic
OMS_CLIENT_ID=zeebe OMS_CLIENT_SECRET=zeebe-mock-interop-secret
export OMS_DIR=$RUN/oauth2-mock-server
# private_key_jwt: keys made by prepare_assertion_keys, and the passwords
# of its PKCS#12 files.
export ASSERTION_DIR=$RUN/assertion
export P12_PASSWORD=interop-openssl-p12-password KEYTOOL_PASSWORD=interop-keytool-p12-password
# ZBAUTH_INTEROP_ISSUE16=1: the steps of issue 16 that need the core's
# client_secret_basic, private_key_jwt and issuer URL (and the Go tests
# under the interop16 build tag); the scope steps then read
# CAMUNDA_TOKEN_SCOPE instead of ZEEBE_TOKEN_SCOPE.
ISSUE16=${ZBAUTH_INTEROP_ISSUE16:-}
[ "$ISSUE16" = 0 ] && ISSUE16=
SCOPE_VAR=ZEEBE_TOKEN_SCOPE
[ -n "$ISSUE16" ] && SCOPE_VAR=CAMUNDA_TOKEN_SCOPE

elapsed() { echo $((($(date +%s%N) - $1) / 1000000)); } # ms since $1 (ns)
fmt_ms() { printf '%d.%ds' $(($1 / 1000)) $(($1 % 1000 / 100)); }

# --- sub-commands: each step that is shell code runs as `run.sh --sub FN`,
# in its own bash with errexit in force ---------------------------------------

# The Keycloak distribution, unpacked in the cache (downloaded with Maven,
# which keeps the zip in ~/.m2 too, on first use), and a fresh home for this
# run: its own data/ (H2 database, the realm imported anew) and conf/, with
# lib/, themes/ and providers/ linked to the cache, so that Quarkus's build
# of the server (lib/quarkus, ~15 s) is made once and kept there.
prepare_keycloak() {
	local cache=$1 dist
	echo "Java for Keycloak: $KC_JAVA ($("$KC_JAVA/bin/java" -version 2>&1 | head -n1))"
	mkdir -p "$cache"
	dist=$cache/keycloak-$KC_VERSION
	exec 9>"$cache/.lock"
	flock -w 600 9
	if [ -f "$dist/.zbauth-complete" ]; then
		echo "Keycloak $KC_VERSION: cached in $dist"
	else
		echo "Keycloak $KC_VERSION: not cached; downloading org.keycloak:keycloak-quarkus-dist:$KC_VERSION:zip with Maven into $cache"
		rm -rf "$dist" "$cache/tmp"
		mkdir -p "$cache/tmp"
		(cd "$cache/tmp" && mvn -q -B -Dstyle.color=never dependency:copy \
			-Dartifact="org.keycloak:keycloak-quarkus-dist:$KC_VERSION:zip" -DoutputDirectory="$cache/tmp")
		unzip -q "$cache/tmp/keycloak-quarkus-dist-$KC_VERSION.zip" -d "$cache/tmp"
		mv "$cache/tmp/keycloak-$KC_VERSION" "$dist"
		rm -rf "$cache/tmp"
		touch "$dist/.zbauth-complete"
	fi
	flock -u 9
	rm -rf "$KC_HOME"
	mkdir -p "$KC_HOME/data/import"
	cp -a "$dist/bin" "$dist/conf" "$KC_HOME/"
	local d
	for d in lib providers themes; do ln -s "$dist/$d" "$KC_HOME/$d"; done
	cp interop/keycloak/camunda-platform-realm.json "$KC_HOME/data/import/"
	echo "Keycloak home: ${KC_HOME#"$ROOT"/} (realm $KC_REALM from interop/keycloak/camunda-platform-realm.json)"
}

# oauth2-mock-server at the version package-lock.json pins, installed into
# build/ (npm's own cache makes a reinstall fast).
prepare_mock_server() {
	mkdir -p "$OMS_DIR"
	cp interop/oauth2-mock-server/package.json interop/oauth2-mock-server/package-lock.json \
		interop/oauth2-mock-server/server.mjs "$OMS_DIR/"
	if ! cmp -s "$OMS_DIR/package-lock.json" "$OMS_DIR/.installed-lock" || [ ! -d "$OMS_DIR/node_modules" ]; then
		(cd "$OMS_DIR" && npm ci --no-audit --no-fund --loglevel=error)
		cp "$OMS_DIR/package-lock.json" "$OMS_DIR/.installed-lock"
	fi
	echo "oauth2-mock-server $(cd "$OMS_DIR" && node -p 'require("./node_modules/oauth2-mock-server/package.json").version') in ${OMS_DIR#"$ROOT"/}"
}

# wait_http URL PID NAME TIMEOUT LOG: until URL answers 2xx; fails when PID
# is gone or TIMEOUT seconds have passed, showing the end of LOG.
wait_http() {
	local url=$1 pid=$2 name=$3 timeout=$4 log=$5 t
	t=$(date +%s%N)
	until curl -fsS -o /dev/null --max-time 2 "$url" 2>/dev/null; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "$name exited before it was ready; the end of its log:"
			tail -n 30 "$log"
			return 1
		fi
		if (($(elapsed "$t") > timeout * 1000)); then
			echo "$name was not ready after ${timeout}s; the end of its log:"
			tail -n 30 "$log"
			return 1
		fi
		sleep 0.5
	done
	echo "$name is ready: $url"
}

# wait_line LOG PATTERN PID NAME TIMEOUT: until LOG has a line matching
# PATTERN (fixed string).
wait_line() {
	local log=$1 pat=$2 pid=$3 name=$4 timeout=$5 t
	t=$(date +%s%N)
	until grep -qF -- "$pat" "$log" 2>/dev/null; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "$name exited before it was ready:"
			tail -n 30 "$log"
			return 1
		fi
		if (($(elapsed "$t") > timeout * 1000)); then
			echo "$name was not ready after ${timeout}s:"
			tail -n 30 "$log"
			return 1
		fi
		sleep 0.2
	done
	grep -F -- "$pat" "$log" | head -n1
}

# Client-assertion keys for private_key_jwt, made anew each run and never
# committed: an RSA key (PKCS#8 and PKCS#1 PEM) with a self-signed
# certificate, the same key and certificate as PKCS#12 written by
# `openssl pkcs12 -export` with its defaults and converted by Java's
# keytool, and an EC P-256 key with its certificate. setup.py registers
# the certificates with Keycloak's zeebe-jwt and zeebe-jwt-es256 clients.
quiet() { # cmd...: its output only when it fails
	local out
	out=$("$@" 2>&1) || {
		echo "$out"
		return 1
	}
}

prepare_assertion_keys() {
	local d=$ASSERTION_DIR keytool=keytool
	[ -n "${KC_JAVA:-}" ] && [ -x "$KC_JAVA/bin/keytool" ] && keytool=$KC_JAVA/bin/keytool
	rm -rf "$d"
	mkdir -p "$d"
	chmod 700 "$d"
	quiet openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/key.pem" -out "$d/cert.pem" \
		-days 2 -subj /CN=zeebe-jwt
	openssl pkey -in "$d/key.pem" -traditional -out "$d/key-pkcs1.pem"
	openssl pkcs12 -export -in "$d/cert.pem" -inkey "$d/key.pem" -name zeebe-jwt \
		-passout "pass:$P12_PASSWORD" -out "$d/openssl.p12"
	quiet "$keytool" -importkeystore -noprompt -srckeystore "$d/openssl.p12" -srcstoretype PKCS12 \
		-srcstorepass "$P12_PASSWORD" -srcalias zeebe-jwt -destkeystore "$d/keytool.p12" \
		-deststoretype PKCS12 -deststorepass "$KEYTOOL_PASSWORD" -destalias zeebe-jwt-keytool
	# A key and certificate Keycloak has never seen, to be refused.
	quiet openssl req -x509 -newkey rsa:2048 -nodes -keyout "$d/other-key.pem" -out "$d/other-cert.pem" \
		-days 2 -subj /CN=zeebe-jwt
	quiet openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$d/ec-key.pem" \
		-out "$d/ec-cert.pem" -days 2 -subj /CN=zeebe-jwt-es256
	echo "$(openssl version); keytool of $("$keytool" -J-version 2>&1 | head -n1)"
	openssl pkcs12 -in "$d/openssl.p12" -info -noout -passin "pass:$P12_PASSWORD" 2>&1 | grep -E '^(MAC|PKCS7|Shrouded)' || true
	echo "keytool.p12:"
	openssl pkcs12 -in "$d/keytool.p12" -info -noout -passin "pass:$KEYTOOL_PASSWORD" 2>&1 | grep -E '^(MAC|PKCS7|Shrouded)' || true
	echo "keys and certificates in ${d#"$ROOT"/}"
}

build_python() {
	"$MAKE" --no-print-directory python
	local whl venv=$RUN/venv-python
	# shellcheck disable=SC2012 # wheel names are plain
	whl=$(ls -t "$PY_DIST"/*.whl | head -n1)
	[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
	"$venv/bin/python" -m pip install --quiet --disable-pip-version-check --no-index --no-deps --force-reinstall "$whl"
	echo "installed $(basename "$whl") into ${venv#"$ROOT"/}"
}

build_node() {
	"$MAKE" --no-print-directory node
}

build_wasm() {
	"$MAKE" --no-print-directory wasm
	test -f "$WASM_MODULE" || {
		echo "make wasm did not produce $WASM_MODULE (set WASM_MODULE in interop/interop.mk)"
		return 1
	}
	"$GO" build -o "$RUN/interop-wasm" ./interop/wasm
}

cli_wrong_secret() { # CODE
	local out rc=0
	out=$(ZEEBE_CLIENT_SECRET=wrong-secret "$ZBAUTH" topology 2>&1) || rc=$?
	echo "zbauth topology, wrong secret: exit $rc: $out"
	[ "$rc" -eq 4 ] || {
		echo "want exit 4 (authentication)"
		return 1
	}
	[[ $out == *"$1"* ]] || {
		echo "the message must carry $1"
		return 1
	}
	[[ $out != *wrong-secret* ]] || {
		echo "the message leaks the secret"
		return 1
	}
}

# The CLI as the other surfaces' drivers: `cli success` (the topology) or
# `cli refused CODE` (exit 4, the message carrying the issuer's OAuth error
# CODE and not the configured secret).
cli() {
	local out rc=0 secret=${CAMUNDA_CLIENT_SECRET:-${ZEEBE_CLIENT_SECRET:-}}
	case ${1:-} in
	success) "$ZBAUTH" topology ;;
	refused)
		out=$("$ZBAUTH" topology 2>&1) || rc=$?
		echo "zbauth topology: exit $rc: $out"
		[ "$rc" -eq 4 ] || {
			echo "want exit 4 (authentication)"
			return 1
		}
		[[ $out == *"$2"* ]] || {
			echo "the message must carry $2"
			return 1
		}
		[[ -z $secret || $out != *"$secret"* ]] || {
			echo "the message leaks the secret"
			return 1
		}
		;;
	*) return 2 ;;
	esac
}

# scope_case VAR DRIVER...: with VAR (the scope's environment name)
# naming Keycloak's optional scope zeebe-scope the driver gets a token and
# the topology; naming a scope the client does not have, Keycloak refuses
# with invalid_scope, which shows the scope reached it.
scope_case() {
	local var=$1
	shift
	echo "-- $var=zeebe-scope"
	env "$var=zeebe-scope" "$@" success
	echo "-- $var=not-a-zeebe-scope"
	env "$var=not-a-zeebe-scope" "$@" refused invalid_scope
}

# refused_too CODE ENV... -- DRIVER...: the driver succeeds, then, with the
# assignments ENV added, is refused with CODE.
refused_too() {
	local code=$1 more=()
	shift
	while [ "$1" != -- ]; do
		more+=("$1")
		shift
	done
	shift
	echo "-- as configured"
	"$@" success
	echo "-- with ${more[*]%%=*} changed"
	env "${more[@]}" "$@" refused "$code"
}

if [ "${1:-}" = --sub ]; then
	shift
	"$@"
	exit
fi

# --- the driver -----------------------------------------------------------------

T0=$(date +%s%N)
mkdir -p "$RUN" "$LOGS"
rm -f "$LOGS"/*.log
say() { printf '== [%6s] %s\n' "$(fmt_ms "$(elapsed "$T0")")" "$*"; }

# Services run in their own session (setsid), so that a whole process
# group (kc.sh and its JVM; node) is stopped at once. Their ids are kept in
# $RUN/*.pid, so that the services of a run killed with SIGKILL are
# stopped by the next run.
PIDS=()
STEP_PID=

stop_group() { # PID NAME
	local pid=$1 i
	if kill -0 -- "-$pid" 2>/dev/null; then
		kill -TERM -- "-$pid" 2>/dev/null || true
		for i in $(seq 1 300); do
			kill -0 -- "-$pid" 2>/dev/null || break
			sleep 0.1
		done
		if kill -0 -- "-$pid" 2>/dev/null; then
			say "$2 did not stop within 30 s: killing it"
			kill -KILL -- "-$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$RUN/$2.pid"
}

stop_stale() { # recognised by their working directory, under $RUN
	local f pid
	for f in "$RUN"/*.pid; do
		[ -e "$f" ] || continue
		pid=$(cat "$f")
		if [[ $(readlink "/proc/$pid/cwd" 2>/dev/null) == "$RUN"/* ]]; then
			say "stopping $(basename "$f" .pid) left over from an earlier run (pid $pid)"
			stop_group "$pid" "$(basename "$f" .pid)"
		fi
		rm -f "$f"
	done
}

cleanup() {
	local rc=$? i
	trap - EXIT INT TERM
	if [ -n "${STEP_PID:-}" ]; then
		kill -TERM "$STEP_PID" 2>/dev/null || true
		wait "$STEP_PID" 2>/dev/null || true
	fi
	for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
		stop_group "${PIDS[$i]%%:*}" "${PIDS[$i]#*:}"
	done
	say "make test-interop took $(fmt_ms "$(elapsed "$T0")") (target: under 5 minutes)"
	exit "$rc"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT
trap 'say "terminated"; exit 143' TERM

# start NAME DIR LOG cmd... : cmd in DIR, in a new session, in the background.
start() {
	local name=$1 dir=$2 log=$3 pid
	shift 3
	(cd "$dir" && exec setsid "$@") >"$log" 2>&1 </dev/null &
	pid=$!
	PIDS+=("$pid:$name")
	echo "$pid" >"$RUN/$name.pid"
	LAST_PID=$pid
}

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

declare -A STATE # build or service → ok | failed | todo
REPORT=()
FAILED_LOGS=() # logs of the failed steps, shown again after the summary
PASSED=0 FAILED=0 TODO=0

record() { # STATUS NAME MS NOTE
	REPORT+=("$(printf '%-5s %-40s %7s  %s' "$1" "$2" "$(fmt_ms "$3")" "${4:-}")")
	case $1 in
	PASS) PASSED=$((PASSED + 1)) ;;
	FAIL) FAILED=$((FAILED + 1)) ;;
	TODO) TODO=$((TODO + 1)) ;;
	esac
	LAST=$1
}

show_log() { # short logs whole; go test -v filtered; otherwise the tail
	if (($(wc -l <"$1") <= 15)); then
		sed 's/^/   | /' "$1"
	elif grep -qE '^(=== RUN|--- )' "$1"; then
		grep -E '^ *(--- |interop_test\.go:|PASS$|FAIL$|ok )' "$1" | sed 's/^/   | /'
	else
		tail -n 40 "$1" | sed 's/^/   | /'
	fi
}

# step NAME NEEDS cmd... : runs cmd, bounded to 5 minutes, when everything
# in NEEDS (comma-separated builds and services) is ok; a failed need fails
# the step, a surface that is not there yet makes it TODO.
step() {
	local name=$1 needs=$2 need log t rc=0
	shift 2
	for need in ${needs//,/ }; do
		case ${STATE[$need]:-missing} in
		ok) ;;
		todo)
			say "TODO  $name: $need is not wired up yet"
			record TODO "$name" 0 "TODO: $need not wired up yet"
			return 0
			;;
		*)
			say "FAIL  $name: $need failed"
			record FAIL "$name" 0 "$need failed"
			return 0
			;;
		esac
	done
	log=$LOGS/${name//\//_}.log
	say "run   $name"
	t=$(date +%s%N)
	# In the background, so that Ctrl-C or TERM interrupts the wait at once
	# (cleanup stops the step).
	if declare -F "$1" >/dev/null; then
		timeout --kill-after=10 600 bash "$SELF" --sub "$@" >"$log" 2>&1 &
	else
		timeout --kill-after=10 300 "$@" >"$log" 2>&1 &
	fi
	STEP_PID=$!
	wait "$STEP_PID" || rc=$?
	STEP_PID=
	show_log "$log"
	if ((rc == 0)); then
		say "PASS  $name ($(fmt_ms "$(elapsed "$t")"))"
		record PASS "$name" "$(elapsed "$t")"
	else
		say "FAIL  $name (exit $rc after $(fmt_ms "$(elapsed "$t")"); log: ${log#"$ROOT"/})"
		record FAIL "$name" "$(elapsed "$t")" "exit $rc; ${log#"$ROOT"/}"
		FAILED_LOGS+=("$name=$log")
	fi
}

# gate NAME STEP-ARGS... : a step whose outcome gates the steps needing NAME.
gate() {
	local name=$1
	shift
	STATE[$name]=ok
	step "$name" "$@"
	[ "$LAST" = PASS ] || STATE[$name]=failed
}

todo() { # NAME WHY
	STATE[$1]=todo
	say "TODO  $1: $2"
	record TODO "$1" 0 "TODO: $2"
}

java_major() { "$1/bin/java" -version 2>&1 | sed -n 's/.* version "\([0-9][0-9]*\).*/\1/p' | head -n1; }

# The newest JDK whose major version Keycloak supports: $ZBAUTH_KEYCLOAK_JAVA_HOME,
# or the best of $JAVA_HOME and /usr/lib/jvm/*.
pick_java() {
	if [ -n "${ZBAUTH_KEYCLOAK_JAVA_HOME:-}" ]; then
		echo "$ZBAUTH_KEYCLOAK_JAVA_HOME"
		return
	fi
	local c v best="" bestv=0
	for c in ${JAVA_HOME:-} /usr/lib/jvm/*; do
		[ -x "$c/bin/java" ] || continue
		v=$(java_major "$c")
		case " $KC_JAVA_VERSIONS " in
		*" $v "*) if ((v > bestv)); then best=$c bestv=$v; fi ;;
		esac
	done
	[ -n "$best" ] && echo "$best"
}

# The cache outside the repository, kept between runs on this machine; a
# folder under build/ where that is not writable.
kc_cache() {
	local cache=${ZBAUTH_KEYCLOAK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/zbauth/keycloak}
	if mkdir -p "$cache" 2>/dev/null && [ -w "$cache" ]; then
		echo "$cache"
	else
		echo "$RUN/cache"
	fi
}

stop_stale
say "make test-interop: Keycloak $KC_VERSION and oauth2-mock-server on loopback; logs in ${LOGS#"$ROOT"/}"
STATE[none]=ok

# 1. The issuers, started in the background.
if KC_JAVA=$(pick_java); then
	export KC_JAVA
	gate prep/keycloak none prepare_keycloak "$(kc_cache)"
else
	say "FAIL  prep/keycloak: no JDK with a major version in ($KC_JAVA_VERSIONS) in \$JAVA_HOME or /usr/lib/jvm; set ZBAUTH_KEYCLOAK_JAVA_HOME"
	record FAIL prep/keycloak 0 "no suitable Java"
	STATE[prep/keycloak]=failed
fi
if [ "${STATE[prep/keycloak]}" = ok ]; then
	KC_PORT=$(free_port)
	KC_URL=http://127.0.0.1:$KC_PORT
	# C1 only: less compilation competing for 2 cores while it starts.
	start keycloak "$KC_HOME" "$LOGS/service-keycloak.log" env JAVA_HOME="$KC_JAVA" \
		JAVA_OPTS_APPEND="-XX:TieredStopAtLevel=1" \
		KC_BOOTSTRAP_ADMIN_USERNAME="$KC_ADMIN_USER" KC_BOOTSTRAP_ADMIN_PASSWORD="$KC_ADMIN_PASSWORD" \
		bin/kc.sh start-dev --http-host=127.0.0.1 --http-port="$KC_PORT" --hostname-strict=false --import-realm
	KC_PID=$LAST_PID
	say "Keycloak is starting on $KC_URL (log: ${LOGS#"$ROOT"/}/service-keycloak.log)"
fi

gate prep/assertion-keys none prepare_assertion_keys
gate prep/oauth2-mock-server none prepare_mock_server
if [ "${STATE[prep/oauth2-mock-server]}" = ok ]; then
	start oauth2-mock-server "$OMS_DIR" "$LOGS/service-oauth2-mock-server.log" env PORT=0 \
		CLIENT_ID="$OMS_CLIENT_ID" CLIENT_SECRET="$OMS_CLIENT_SECRET" TOKEN_TTL=300 node server.mjs
	OMS_PID=$LAST_PID
fi

# 2. The surfaces, built while the issuers start.
gate build/cli none "$MAKE" --no-print-directory build
gate build/go none "$GO" test -c ${ISSUE16:+-tags interop16} -o "$RUN/interop-go.test" ./interop/go
gate build/c none "$MAKE" --no-print-directory "$INTEROP_C"
if [ -n "$HAVE_PYTHON" ]; then gate build/python none build_python; else todo build/python "bindings/python/python.mk is not there"; fi
# `make node` readies the package in bindings/node (index.js, prebuilds/),
# which the Node steps load; `make wasm` builds $WASM_MODULE.
if [ -n "$HAVE_NODE" ]; then gate build/node none build_node; else todo build/node "bindings/node/node.mk is not there"; fi
if [ -n "$HAVE_WASM" ]; then gate build/wasm none build_wasm; else todo build/wasm "wasm/wasm.mk is not there"; fi

# 3. The issuers must be ready.
if [ -n "${KC_PID:-}" ]; then
	gate keycloak none wait_http "$KC_URL/realms/$KC_REALM/.well-known/openid-configuration" \
		"$KC_PID" Keycloak "$KC_START_TIMEOUT" "$LOGS/service-keycloak.log"
	grep -aE 'started in|augmentation completed|Realm .* imported' "$LOGS/service-keycloak.log" | cut -c1-160 | sed 's/^/   | /' || true
	# What the realm file cannot know: this run's certificates; and the
	# client scope (see setup.py).
	gate keycloak/setup keycloak,prep/assertion-keys python3 interop/keycloak/setup.py "$KC_URL" "$KC_REALM" \
		"$KC_ADMIN_USER" "$KC_ADMIN_PASSWORD" "$ASSERTION_DIR"
else
	STATE[keycloak]=failed STATE[keycloak/setup]=failed
fi
if [ -n "${OMS_PID:-}" ]; then
	gate oauth2-mock-server none wait_line "$LOGS/service-oauth2-mock-server.log" '"issuer"' "$OMS_PID" oauth2-mock-server 30
	OMS_ISSUER=$(sed -n 's/.*"issuer":"\([^"]*\)".*/\1/p' "$LOGS/service-oauth2-mock-server.log" | head -n1)
else
	STATE[oauth2-mock-server]=failed
fi
STATE[oauth2-mock-server/setup]=${STATE[oauth2-mock-server]} # nothing to set up

# 4. The scenarios, per issuer. The REST side of each step is a fresh
# `zbauth dev-cluster` in JWKS mode, which finds the issuer's JWKS and
# token endpoint by OpenID discovery and exports ZEEBE_REST_ADDRESS,
# ZEEBE_AUTHORIZATION_SERVER_URL and ZEEBE_TOKEN_AUDIENCE; the credentials
# come from ZEEBE_CLIENT_ID and ZEEBE_CLIENT_SECRET.
#
# The scope steps (Keycloak) and, with ZBAUTH_INTEROP_ISSUE16=1, the
# client_secret_basic, private_key_jwt and issuer-URL steps drive every
# surface through driver(): `DRIVER... success | refused CODE`.
scenarios() { # KIND ISSUER CLIENT_ID SECRET WRONG_SECRET_ERROR BASIC_CLIENT_ID BASIC_SECRET
	local kind=$1 issuer=$2 wrong=$5 s
	local rest=("$ZBAUTH" dev-cluster --issuer "$issuer" --audience "$AUDIENCE" --)
	export ZEEBE_CLIENT_ID=$3 ZEEBE_CLIENT_SECRET=$4
	say "-- $kind: $issuer (wrong secret → $wrong)"
	step "$kind/cli/success" "$kind,build/cli" "${rest[@]}" "$ZBAUTH" topology
	step "$kind/cli/wrong-secret" "$kind,build/cli" "${rest[@]}" bash "$SELF" --sub cli_wrong_secret "$wrong"
	# shellcheck disable=SC2086 # INTEROP_C_ENV is a list of assignments
	step "$kind/c/success" "$kind,build/c" "${rest[@]}" env $INTEROP_C_ENV "$INTEROP_C" success
	# shellcheck disable=SC2086
	step "$kind/c/wrong-secret" "$kind,build/c" "${rest[@]}" env $INTEROP_C_ENV "$INTEROP_C" wrong-secret "$wrong"
	step "$kind/python/success" "$kind,build/python" "${rest[@]}" \
		env -u ZBAUTH_LIBRARY -u PYTHONPATH "$RUN/venv-python/bin/python" interop/python/interop.py success
	step "$kind/python/wrong-secret" "$kind,build/python" "${rest[@]}" \
		env -u ZBAUTH_LIBRARY -u PYTHONPATH "$RUN/venv-python/bin/python" interop/python/interop.py wrong-secret "$wrong"
	step "$kind/node/success" "$kind,build/node" "${rest[@]}" \
		env -u ZBAUTH_LIBRARY node interop/node/interop.cjs "$ROOT/bindings/node" success
	step "$kind/node/wrong-secret" "$kind,build/node" "${rest[@]}" \
		env -u ZBAUTH_LIBRARY node interop/node/interop.cjs "$ROOT/bindings/node" wrong-secret "$wrong"
	step "$kind/wasm/success" "$kind,build/wasm" "${rest[@]}" "$RUN/interop-wasm" -module "$WASM_MODULE" success
	step "$kind/wasm/wrong-secret" "$kind,build/wasm" "${rest[@]}" "$RUN/interop-wasm" -module "$WASM_MODULE" wrong-secret "$wrong"
	if [ "$kind" = keycloak ]; then
		for s in "${SURFACES[@]}"; do
			driver "$s"
			step "$kind/$s/scope" "$kind/setup,build/$s" "${rest[@]}" bash "$SELF" --sub scope_case "$SCOPE_VAR" "${DRIVER[@]}"
		done
	fi
	if [ -n "$ISSUE16" ]; then
		# A dead loopback proxy for every address but loopback (which is never
		# proxied): a surface that ignored, say, CAMUNDA_ISSUER_URL would
		# otherwise try the SaaS default token endpoint.
		local offline=(HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 NO_PROXY=
			https_proxy=http://127.0.0.1:9 http_proxy=http://127.0.0.1:9 no_proxy=)
		for s in "${SURFACES[@]}"; do
			driver "$s"
			# client_secret_basic, and a wrong secret sent that way refused.
			step "$kind/$s/basic" "$kind/setup,build/$s" "${rest[@]}" env "${offline[@]}" CAMUNDA_CLIENT_ID="$6" \
				CAMUNDA_CLIENT_SECRET="$7" CAMUNDA_TOKEN_AUTH_METHOD=client_secret_basic \
				bash "$SELF" --sub refused_too "$wrong" CAMUNDA_CLIENT_SECRET=wrong-secret -- "${DRIVER[@]}"
			# The token endpoint from the issuer's discovery document only.
			step "$kind/$s/issuer" "$kind,build/$s" "${rest[@]}" env -u ZEEBE_AUTHORIZATION_SERVER_URL "${offline[@]}" \
				CAMUNDA_ISSUER_URL="$issuer" "${DRIVER[@]}" success
			[ "$kind" = keycloak ] || continue
			# private_key_jwt with the registered key, no secret; a key
			# Keycloak does not know is refused.
			step "$kind/$s/jwt" "$kind/setup,build/$s" "${rest[@]}" env -u ZEEBE_CLIENT_SECRET "${offline[@]}" \
				CAMUNDA_CLIENT_ID=zeebe-jwt CAMUNDA_TOKEN_AUTH_METHOD=private_key_jwt \
				CAMUNDA_CLIENT_ASSERTION_KEY_PATH="$ASSERTION_DIR/key.pem" CAMUNDA_CLIENT_ASSERTION_CERT_PATH="$ASSERTION_DIR/cert.pem" \
				bash "$SELF" --sub refused_too invalid_client CAMUNDA_CLIENT_ASSERTION_KEY_PATH="$ASSERTION_DIR/other-key.pem" \
				CAMUNDA_CLIENT_ASSERTION_CERT_PATH="$ASSERTION_DIR/other-cert.pem" -- "${DRIVER[@]}"
		done
		if [ "$kind" = keycloak ]; then
			# PKCS#12 by OpenSSL and by keytool, method inferred from the keystore.
			step "$kind/cli/keystore-openssl" "$kind/setup,build/cli" "${rest[@]}" env -u ZEEBE_CLIENT_SECRET "${offline[@]}" \
				CAMUNDA_CLIENT_ID=zeebe-jwt CAMUNDA_CLIENT_ASSERTION_KEYSTORE_PATH="$ASSERTION_DIR/openssl.p12" \
				CAMUNDA_CLIENT_ASSERTION_KEYSTORE_PASSWORD="$P12_PASSWORD" "$ZBAUTH" topology
			step "$kind/cli/keystore-keytool" "$kind/setup,build/cli" "${rest[@]}" env -u ZEEBE_CLIENT_SECRET "${offline[@]}" \
				CAMUNDA_CLIENT_ID=zeebe-jwt CAMUNDA_CLIENT_ASSERTION_KEYSTORE_PATH="$ASSERTION_DIR/keytool.p12" \
				CAMUNDA_CLIENT_ASSERTION_KEYSTORE_PASSWORD="$KEYTOOL_PASSWORD" \
				CAMUNDA_CLIENT_ASSERTION_KEYSTORE_KEY_ALIAS=zeebe-jwt-keytool "$ZBAUTH" topology
		fi
	else
		todo "$kind/issue16" "client_secret_basic, private_key_jwt and issuer-URL steps are off (ZBAUTH_INTEROP_ISSUE16=1 turns them on)"
	fi
	# The Go core's scenarios (interop/go): success, wrong secret, audience
	# enforced, scope, and for Keycloak the client disabled mid-run and the
	# short token lifespan; with the interop16 build tag also
	# client_secret_basic, private_key_jwt and the issuer URL. They start
	# their own REST side, in-process.
	step "$kind/go" "$kind/setup,build/go" env ZBAUTH_INTEROP_KIND="$kind" ZBAUTH_INTEROP_ISSUER="$issuer" \
		ZBAUTH_INTEROP_CLIENT_ID="$3" ZBAUTH_INTEROP_CLIENT_SECRET="$4" ZBAUTH_INTEROP_AUDIENCE="$AUDIENCE" \
		ZBAUTH_INTEROP_WRONG_SECRET_ERROR="$wrong" ZBAUTH_INTEROP_KEYCLOAK_URL="${KC_URL:-}" \
		ZBAUTH_INTEROP_KEYCLOAK_ADMIN_USER="$KC_ADMIN_USER" ZBAUTH_INTEROP_KEYCLOAK_ADMIN_PASSWORD="$KC_ADMIN_PASSWORD" \
		ZBAUTH_INTEROP_BASIC_CLIENT_ID="$6" ZBAUTH_INTEROP_BASIC_CLIENT_SECRET="$7" \
		ZBAUTH_INTEROP_ASSERTION_DIR="$ASSERTION_DIR" ZBAUTH_INTEROP_P12_PASSWORD="$P12_PASSWORD" \
		ZBAUTH_INTEROP_KEYTOOL_PASSWORD="$KEYTOOL_PASSWORD" \
		"$RUN/interop-go.test" -test.v -test.count=1 -test.timeout=4m ${ZBAUTH_INTEROP_GO_FLAGS:-}
}

# driver SURFACE: DRIVER=(the command that takes success | refused CODE).
SURFACES=(cli c python node wasm)
driver() {
	case $1 in
	cli) DRIVER=(bash "$SELF" --sub cli) ;;
	# shellcheck disable=SC2206 # INTEROP_C_ENV is a list of assignments
	c) DRIVER=(env $INTEROP_C_ENV "$INTEROP_C") ;;
	python) DRIVER=(env -u ZBAUTH_LIBRARY -u PYTHONPATH "$RUN/venv-python/bin/python" interop/python/interop.py) ;;
	node) DRIVER=(env -u ZBAUTH_LIBRARY node interop/node/interop.cjs "$ROOT/bindings/node") ;;
	wasm) DRIVER=("$RUN/interop-wasm" -module "$WASM_MODULE") ;;
	esac
}

# Keycloak answers a wrong secret for a known client with
# unauthorized_client (and an unknown client with invalid_client).
# client_secret_basic: Keycloak's zeebe-basic, whose secret has characters
# RFC 6749 §2.3.1 form-encodes; the mock server's one client.
scenarios keycloak "${KC_URL:-none}/realms/$KC_REALM" "$KC_CLIENT_ID" "$KC_CLIENT_SECRET" unauthorized_client \
	zeebe-basic "$KC_BASIC_SECRET"
scenarios oauth2-mock-server "${OMS_ISSUER:-none}" "$OMS_CLIENT_ID" "$OMS_CLIENT_SECRET" invalid_client \
	"$OMS_CLIENT_ID" "$OMS_CLIENT_SECRET"

# 5. The report.
say "summary"
printf '   %s\n' "${REPORT[@]}"
# The failed steps' logs once more, last, where a CI log's tail shows them.
for f in "${FAILED_LOGS[@]}"; do
	say "log of the failed step ${f%%=*} (${f#*=}), its last 60 lines:"
	tail -n 60 "${f#*=}" | cut -c1-400 | sed 's/^/   | /'
done
echo "interop: $PASSED passed, $FAILED failed, $TODO skipped"
((FAILED == 0))
