#!/usr/bin/env bash
# Makes sure the two Go binaries of mlpipe's embedded mode are in the cache,
# building whatever is missing:
#
#   mlpipe-devserver-<hash>  Temporal server + Web UI on SQLite (../devserver);
#                            <hash> = first 12 hex of sha256 over devserver's
#                            go.mod, go.sum and *.go, so a source change rebuilds
#   minio-<version>          MinIO server, `go install github.com/minio/minio@<version>`
#
# plus the stable symlinks `mlpipe-devserver` and `minio` pointing at them.
# Cache: ${MLPIPE_CACHE_DIR:-$HOME/.cache/mlpipe}/bin (outside git).
#
# Progress goes to stderr. On success the last lines on stdout are
#   devserver=/abs/path
#   minio=/abs/path
# (only the requested one with --devserver-only / --minio-only).
#
# Exit codes: 0 ok, 1 build failed, 2 bad option, 3 no usable Go toolchain.
set -euo pipefail

MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
MINIO_MODULE="github.com/minio/minio"
GO_MIN_MINOR=23 # Go >= 1.23; newer toolchains named by go.mod are fetched by `go` itself

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEVSERVER_SRC="$ROOT/devserver"
CACHE_DIR="${MLPIPE_CACHE_DIR:-$HOME/.cache/mlpipe}"
BIN_DIR="$CACHE_DIR/bin"
LOG_DIR="$CACHE_DIR/logs"

want_devserver=1
want_minio=1
quiet=0
for arg in "$@"; do
  case "$arg" in
    --devserver-only) want_minio=0 ;;
    --minio-only) want_devserver=0 ;;
    --quiet | -q) quiet=1 ;;
    -h | --help)
      sed -n '2,19p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      echo "Options: --devserver-only, --minio-only, --quiet"
      exit 0
      ;;
    *)
      echo "ensure-binaries: unknown option $arg (use --devserver-only, --minio-only, --quiet)" >&2
      exit 2
      ;;
  esac
done
if [[ $want_devserver == 0 && $want_minio == 0 ]]; then
  echo "ensure-binaries: --devserver-only and --minio-only exclude each other" >&2
  exit 2
fi

say() { [[ $quiet == 1 ]] || echo "mlpipe: $*" >&2; }

sha256() { # prints the sha256 hex of stdin
  if command -v sha256sum >/dev/null 2>&1; then sha256sum | cut -d' ' -f1
  else shasum -a 256 | cut -d' ' -f1; fi
}

elapsed() { # seconds -> "4m05s"
  printf '%dm%02ds' $(($1 / 60)) $(($1 % 60))
}

no_go() {
  cat >&2 <<EOF
mlpipe: $1
  The embedded mode builds its Temporal dev server and MinIO from source once,
  which needs Go >= 1.$GO_MIN_MINOR (https://go.dev/dl/).
  Or use servers you already run: set TEMPORAL_ADDRESS (e.g. 127.0.0.1:7233)
  and MLPIPE_S3_ENDPOINT (e.g. http://127.0.0.1:9000).
EOF
  exit 3
}

# ---- Go toolchain ---------------------------------------------------------
command -v go >/dev/null 2>&1 || no_go "Go is not installed (no 'go' on PATH)."
go_version="$(go env GOVERSION 2>/dev/null || true)" # e.g. go1.26.8
if [[ $go_version =~ ^go1\.([0-9]+) ]]; then
  ((BASH_REMATCH[1] >= GO_MIN_MINOR)) || no_go "Go $go_version is too old."
else
  no_go "cannot tell the version of $(command -v go) ('$go_version')."
fi
# devserver/go.mod asks for a newer Go than many installs have; let `go`
# fetch that toolchain from the module proxy instead of failing.
if [[ -z ${GOTOOLCHAIN:-} || ${GOTOOLCHAIN} == local ]]; then
  export GOTOOLCHAIN=auto
fi

mkdir -p "$BIN_DIR" "$LOG_DIR"

# One build at a time per cache (another mlpipe process may be here too).
if command -v flock >/dev/null 2>&1; then
  exec 9>"$BIN_DIR/.lock"
  if ! flock -n 9; then
    say "waiting for another build in $BIN_DIR to finish..."
    flock 9
  fi
fi

# run_build NAME LOGFILE CMD... : runs a build with its output in LOGFILE.
run_build() {
  local name="$1" log="$2"
  shift 2
  local t0=$SECONDS
  if ! "$@" >"$log" 2>&1; then
    echo "mlpipe: building $name failed; last lines of $log:" >&2
    tail -n 30 "$log" >&2
    return 1
  fi
  say "built $name in $(elapsed $((SECONDS - t0)))"
}

# link NAME TARGET : points the stable name at the versioned binary.
link() {
  ln -sfn "$2" "$BIN_DIR/$1.tmp.$$"
  mv -f "$BIN_DIR/$1.tmp.$$" "$BIN_DIR/$1"
}

# prune PREFIX KEEP : removes other versions of a binary.
prune() {
  local f
  for f in "$BIN_DIR/$1"-*; do
    [[ -e $f && $(basename "$f") != "$2" && $f != *.tmp.* ]] || continue
    rm -f "$f"
  done
}

# ---- mlpipe-devserver -------------------------------------------------------
ensure_devserver() {
  [[ -f $DEVSERVER_SRC/go.mod ]] || {
    echo "mlpipe: $DEVSERVER_SRC/go.mod not found; cannot build the dev server" >&2
    return 1
  }
  local hash name
  hash="$(
    cd "$DEVSERVER_SRC"
    for f in go.mod go.sum $(LC_ALL=C ls -1 -- *.go); do
      printf '%s %s\n' "$f" "$(sha256 <"$f")"
    done | sha256 | cut -c1-12
  )"
  name="mlpipe-devserver-$hash"
  if [[ ! -x $BIN_DIR/$name ]]; then
    if compgen -G "$BIN_DIR/mlpipe-devserver-*" >/dev/null; then
      say "rebuilding the Temporal dev server (devserver/ changed, ~1-10 min)..."
    else
      say "building the Temporal dev server (first time only, ~5-10 min)..."
    fi
    local tmp="$BIN_DIR/$name.tmp.$$"
    (cd "$DEVSERVER_SRC" && run_build "the Temporal dev server" "$LOG_DIR/devserver.log" \
      go build -trimpath -ldflags="-s -w" -o "$tmp" .) || { rm -f "$tmp"; return 1; }
    mv -f "$tmp" "$BIN_DIR/$name"
    prune mlpipe-devserver "$name"
  fi
  link mlpipe-devserver "$name"
  DEVSERVER_BIN="$BIN_DIR/$name"
}

# ---- minio ------------------------------------------------------------------
ensure_minio() {
  local name="minio-$MINIO_VERSION"
  # An earlier layout (or a manual `GOBIN=$BIN_DIR go install`) left a plain
  # `minio` file: adopt it if it is the pinned version, otherwise drop it.
  if [[ -f $BIN_DIR/minio && ! -L $BIN_DIR/minio ]]; then
    if [[ ! -x $BIN_DIR/$name ]] &&
      go version -m "$BIN_DIR/minio" 2>/dev/null | grep -Eq "^[[:space:]]+mod[[:space:]]+$MINIO_MODULE[[:space:]]+$MINIO_VERSION([[:space:]]|$)"; then
      mv -f "$BIN_DIR/minio" "$BIN_DIR/$name"
    else
      rm -f "$BIN_DIR/minio"
    fi
  fi
  if [[ ! -x $BIN_DIR/$name ]]; then
    say "building MinIO $MINIO_VERSION (first time only, ~5-10 min)..."
    local tmp="$BIN_DIR/.minio.tmp.$$"
    rm -rf "$tmp" && mkdir -p "$tmp"
    # Run outside any module so `go install pkg@version` uses minio's go.mod.
    (cd "$tmp" && export GOBIN="$tmp" && run_build "MinIO" "$LOG_DIR/minio.log" \
      go install -trimpath "$MINIO_MODULE@$MINIO_VERSION") || { rm -rf "$tmp"; return 1; }
    mv -f "$tmp/minio" "$BIN_DIR/$name"
    rm -rf "$tmp"
    prune minio "$name"
  fi
  link minio "$name"
  MINIO_BIN="$BIN_DIR/$name"
}

DEVSERVER_BIN=""
MINIO_BIN=""
# (called plainly so that set -e also covers the commands inside)
if [[ $want_devserver == 1 ]]; then ensure_devserver; fi
if [[ $want_minio == 1 ]]; then ensure_minio; fi
if [[ $want_devserver == 1 ]]; then echo "devserver=$DEVSERVER_BIN"; fi
if [[ $want_minio == 1 ]]; then echo "minio=$MINIO_BIN"; fi
