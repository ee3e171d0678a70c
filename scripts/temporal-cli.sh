#!/usr/bin/env bash
# Prints the path of a Temporal CLI to run the dev server with, building it if need be.
# Order: a `temporal` on PATH, then .tools/bin/temporal, else build it from its Go module.
# (TEMPORAL_ADDRESS, when set, means no dev server at all: callers check that first.)
# v1.5.1 is pinned: later tags carry a `replace` directive in go.mod that `go install` refuses.
set -euo pipefail
VERSION=v1.5.1
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools/bin"

if command -v temporal >/dev/null 2>&1; then command -v temporal; exit 0; fi
if [ -x "$tools/temporal" ]; then echo "$tools/temporal"; exit 0; fi

go_bin=$(command -v go || true)
[ -n "$go_bin" ] || { [ -x /usr/local/go/bin/go ] && go_bin=/usr/local/go/bin/go; }
if [ -z "$go_bin" ]; then
  echo "temporal-cli: no 'temporal' on PATH and no Go toolchain to build it; install Go or set TEMPORAL_ADDRESS" >&2
  exit 1
fi

# Build into a scratch folder and move into place only when complete: never a half-built binary.
scratch=$(mktemp -d "$root/.tools/build.XXXXXX" 2>/dev/null || { mkdir -p "$root/.tools"; mktemp -d "$root/.tools/build.XXXXXX"; })
trap 'rm -rf "$scratch"' EXIT
echo "temporal-cli: building the Temporal CLI $VERSION from its Go module (first run only; takes several minutes)..." >&2
log="$scratch/build.log"
GOBIN="$scratch" "$go_bin" install -v "github.com/temporalio/cli/cmd/temporal@$VERSION" 2>&1 | tee "$log" \
  | awk '{ n++; if (n % 25 == 0) { printf "temporal-cli: ... %d packages compiled (%s)\n", n, $0 > "/dev/stderr" } }'
if [ "${PIPESTATUS[0]}" -ne 0 ]; then
  echo "temporal-cli: go install failed:" >&2; tail -n 30 "$log" >&2; exit 1
fi
mkdir -p "$tools"
mv "$scratch/temporal" "$tools/temporal"
echo "temporal-cli: built $tools/temporal" >&2
echo "$tools/temporal"
