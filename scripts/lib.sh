# shellcheck shell=bash
# Shared helpers for scripts/run and scripts/test. Source it; do not run it.
#
# Every function installs only what is missing, so running the scripts again is cheap.

set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

# Tools installed by `cargo install` land here.
export PATH="${CARGO_HOME:-$HOME/.cargo}/bin:$PATH"

# cargo honours CARGO_TARGET_DIR itself; the scripts need the same path to find the outputs.
TARGET_DIR="${CARGO_TARGET_DIR:-$REPO_ROOT/target}"
case "$TARGET_DIR" in
  /*) ;;
  *) TARGET_DIR="$REPO_ROOT/$TARGET_DIR" ;;
esac
SITE_DIR="$TARGET_DIR/site"

header() {
  printf '\n\033[1;34m==> %s\033[0m\n' "$*"
}

die() {
  printf '\033[1;31merror: %s\033[0m\n' "$*" >&2
  exit 1
}

# The exact wasm-bindgen version that Cargo.lock resolved.
wasm_bindgen_lock_version() {
  awk '
    /^\[\[package\]\]/ { in_pkg = 1; name = ""; next }
    in_pkg && /^name = / { gsub(/"/, "", $3); name = $3; next }
    in_pkg && /^version = / && name == "wasm-bindgen" { gsub(/"/, "", $3); print $3; exit }
  ' "$REPO_ROOT/Cargo.lock"
}

ensure_wasm_target() {
  if rustup target list --installed | grep -qx 'wasm32-unknown-unknown'; then
    return 0
  fi
  header "Installing the wasm32-unknown-unknown Rust target"
  rustup target add wasm32-unknown-unknown
}

ensure_wasm_bindgen() {
  local want have=""
  want="$(wasm_bindgen_lock_version)"
  [ -n "$want" ] || die "could not read the wasm-bindgen version from Cargo.lock"
  if command -v wasm-bindgen >/dev/null 2>&1; then
    have="$(wasm-bindgen --version 2>/dev/null | awk '{print $2}' || true)"
  fi
  if [ "$have" = "$want" ]; then
    return 0
  fi
  header "Installing wasm-bindgen-cli $want (found: ${have:-none})"
  # No --locked: the CLI's own lockfile pins a crate version the registry here does not list.
  cargo install wasm-bindgen-cli --version "$want" --force
}

ensure_build_tools() {
  command -v cargo >/dev/null 2>&1 || die "cargo is not on PATH (install Rust with rustup)"
  ensure_wasm_target
  ensure_wasm_bindgen
}

# Debian packages the tests need: chromium (browser tests) and postgresql (storage tests).
ensure_test_packages() {
  local pkgs=()
  [ -x /usr/bin/chromium ] || pkgs+=(chromium)
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || pkgs+=(postgresql)
  if [ "${#pkgs[@]}" -eq 0 ]; then
    return 0
  fi
  command -v apt-get >/dev/null 2>&1 || die "need ${pkgs[*]} but apt-get is not available"
  header "Installing Debian packages: ${pkgs[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y "${pkgs[@]}"
}

ensure_end2end_deps() {
  header "Installing browser-test dependencies (npm ci)"
  (cd "$REPO_ROOT/end2end" && npm ci --no-audit --no-fund)
}

# ensure_okta_sdk: a Python venv with Okta's Python SDK at the versions pinned in
# end2end/okta_sdk/requirements.txt, under $TARGET_DIR/okta-sdk-venv. pip runs only
# when that file (or the Python it was made with) changed since the last install.
OKTA_SDK_VENV="$TARGET_DIR/okta-sdk-venv"

ensure_okta_sdk() {
  local req="$REPO_ROOT/end2end/okta_sdk/requirements.txt" stamp want
  stamp="$OKTA_SDK_VENV/.requirements.sha256"
  # A minimal Debian may lack python3 itself (free_port uses it too), or only its venv module.
  if ! command -v python3 >/dev/null 2>&1 || ! python3 -c 'import ensurepip, venv' >/dev/null 2>&1; then
    command -v apt-get >/dev/null 2>&1 || die "python3 with its venv module is missing and apt-get is not available"
    header "Installing Debian packages: python3 python3-venv"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y python3 python3-venv
  fi
  want="$( (sha256sum "$req" && python3 -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)"
  if [ -x "$OKTA_SDK_VENV/bin/python" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
    return 0
  fi
  header "Installing Okta's Python SDK into $OKTA_SDK_VENV"
  rm -rf "$OKTA_SDK_VENV"
  python3 -m venv "$OKTA_SDK_VENV"
  "$OKTA_SDK_VENV/bin/python" -m pip install --disable-pip-version-check --no-input -q -r "$req"
  echo "$want" >"$stamp"
}

# build_site <debug|release>: server binary + hydrate wasm + static files into $SITE_DIR.
build_site() {
  local profile="${1:-debug}" server_flags=() wasm_flags=() wasm_dir
  case "$profile" in
    debug)
      wasm_dir=debug
      ;;
    release)
      server_flags=(--release)
      wasm_flags=(--profile wasm-release)
      wasm_dir=wasm-release
      ;;
    *) die "build_site: unknown profile '$profile' (use debug or release)" ;;
  esac

  header "Building the server ($profile)"
  cargo build "${server_flags[@]}" -p riskline

  header "Building the hydrate wasm ($profile)"
  cargo build "${wasm_flags[@]}" -p riskline-frontend --lib --target wasm32-unknown-unknown

  header "Generating the JS bindings into $SITE_DIR/pkg"
  rm -rf "$SITE_DIR"
  mkdir -p "$SITE_DIR/pkg"
  wasm-bindgen --target web --no-typescript \
    --out-dir "$SITE_DIR/pkg" --out-name riskline \
    "$TARGET_DIR/wasm32-unknown-unknown/$wasm_dir/riskline_frontend.wasm"

  cp "$REPO_ROOT/style/main.css" "$SITE_DIR/pkg/riskline.css"
  if [ -d "$REPO_ROOT/public" ]; then
    cp -R "$REPO_ROOT/public/." "$SITE_DIR/"
  fi
}

# start_test_postgres: a throw-away cluster owned by the postgres user.
# Sets PG_TMP, PG_BIN, PG_PORT and exports RISKLINE_TEST_POSTGRES_URL. Pair with stop_test_postgres.
PG_TMP=""
PG_BIN=""
PG_PORT=""

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

start_test_postgres() {
  header "Starting a throw-away PostgreSQL cluster"
  local initdb
  initdb="$(compgen -G '/usr/lib/postgresql/*/bin/initdb' | sort -V | tail -n1 || true)"
  [ -n "$initdb" ] && [ -x "$initdb" ] || die "PostgreSQL's initdb was not found under /usr/lib/postgresql"
  PG_BIN="$(dirname "$initdb")"
  PG_TMP="$(mktemp -d -t riskline-pg.XXXXXX)"
  chmod 700 "$PG_TMP"
  local as_pg=()
  if [ "$(id -u)" -eq 0 ]; then
    # initdb refuses to run as root.
    chown postgres: "$PG_TMP"
    as_pg=(runuser -u postgres --)
  fi
  "${as_pg[@]}" "$PG_BIN/initdb" -D "$PG_TMP/data" -A trust -U postgres >"$PG_TMP/initdb.log" 2>&1 \
    || { cat "$PG_TMP/initdb.log" >&2; die "initdb failed"; }

  local attempt
  for attempt in 1 2 3 4 5; do
    PG_PORT="$(free_port)"
    if "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -w -t 60 -l "$PG_TMP/postgres.log" \
        -o "-p $PG_PORT -k $PG_TMP -c listen_addresses=127.0.0.1" start >/dev/null; then
      export RISKLINE_TEST_POSTGRES_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
      echo "PostgreSQL is listening on 127.0.0.1:$PG_PORT (data in $PG_TMP)"
      return 0
    fi
    echo "pg_ctl start failed on port $PG_PORT (attempt $attempt); retrying" >&2
    tail -n 20 "$PG_TMP/postgres.log" >&2 || true
  done
  die "could not start PostgreSQL"
}

stop_test_postgres() {
  if [ -n "$PG_TMP" ] && [ -d "$PG_TMP" ]; then
    if [ -f "$PG_TMP/data/postmaster.pid" ]; then
      local as_pg=()
      if [ "$(id -u)" -eq 0 ]; then as_pg=(runuser -u postgres --); fi
      "${as_pg[@]}" "$PG_BIN/pg_ctl" -D "$PG_TMP/data" -m fast -w stop >/dev/null 2>&1 || true
    fi
    rm -rf "$PG_TMP"
  fi
  PG_TMP=""
}
