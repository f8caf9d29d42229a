#!/usr/bin/env bash
# CI/`./dev test` gate for the API: buf lint must be clean, buf breaking must find no incompatible change
# against the previous protos (below), and the committed clients/ must be exactly what scripts/gen_protos.sh
# produces from protos/ (regenerated into a temp dir and diffed). Exit 1 on any.
# Needs node_modules (npm ci) for buf and protoc-gen-es, and the venv's grpcio-tools + mypy-protobuf.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
py="${PYTHON:-$root/.venv/bin/python}"

buf="$root/node_modules/.bin/buf"
if [[ ! -x "$buf" ]]; then
  echo "check_protos: $buf is missing: run 'npm ci' in $root" >&2
  exit 1
fi
"$buf" lint protos

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# buf breaking against the protos of the previous commit on main: on a branch, where it left main (the
# merge-base); on main itself, the first parent. PROTOS_BREAKING_AGAINST=<git rev> overrides. A clone with
# no such commit (a first commit, a shallow clone) or a base without protos/ has nothing to break.
against="${PROTOS_BREAKING_AGAINST:-}"
if [[ -z "$against" ]] && git rev-parse --git-dir >/dev/null 2>&1; then
  head="$(git rev-parse -q --verify HEAD 2>/dev/null || true)"
  main="$(git rev-parse -q --verify refs/heads/main 2>/dev/null || git rev-parse -q --verify refs/remotes/origin/main 2>/dev/null || true)"
  if [[ -n "$head" && -n "$main" && "$head" != "$main" ]]; then
    against="$(git merge-base "$head" "$main" 2>/dev/null || true)"
  fi
  [[ -n "$against" && "$against" != "$head" ]] || against="$(git rev-parse -q --verify 'HEAD~1' 2>/dev/null || true)"
fi
if [[ -n "$against" ]] && git cat-file -e "$against:protos" 2>/dev/null; then
  mkdir -p "$work/against"
  git archive "$against" protos | tar -x -C "$work/against"
  if ! "$buf" breaking protos --against "$work/against/protos"; then
    echo "check_protos: incompatible change to protos/ against $(git rev-parse --short "$against")." >&2
    exit 1
  fi
  breaking="no breaking change against $(git rev-parse --short "$against")"
else
  breaking="buf breaking skipped: no previous commit with protos/"
fi
PYTHON="$py" bash scripts/gen_protos.sh "$work/clients"

stale=0
for tree in python/taskrouter typescript/src/gen go/taskrouter; do
  # diff exits 1 on differences and 2 when a tree is missing; both mean clients/ is stale.
  if ! diff -ru --exclude=__pycache__ "clients/$tree" "$work/clients/$tree" >"$work/diff.txt" 2>&1; then
    stale=1
    echo "check_protos: clients/$tree differs from what protos/ generates (- committed, + regenerated):" >&2
    head -n 300 "$work/diff.txt" >&2
    lines=$(wc -l <"$work/diff.txt")
    (( lines <= 300 )) || echo "... ($lines diff lines in all)" >&2
  fi
done
# The console bundle (scripts/gen_console.sh) is generated from console/ and the TypeScript stubs: drift-checked
# the same way.
bash scripts/gen_console.sh "$work/console_dist"
if ! diff -ru server/taskrouter_gateway/connect/console_dist "$work/console_dist" >"$work/diff.txt" 2>&1; then
  stale=1
  echo "check_protos: server/taskrouter_gateway/connect/console_dist differs from what console/ builds:" >&2
  head -n 40 "$work/diff.txt" | cut -c1-300 >&2
fi
if (( stale )); then
  echo "check_protos: run ./dev gen (scripts/gen_protos.sh) and commit clients/." >&2
  # A version skew in the generators changes headers in every file; say which versions ran here.
  echo "check_protos: generators here: $("$py" -m pip list 2>/dev/null | grep -iE '^(grpcio-tools|mypy-protobuf|protobuf) ' | tr -s ' ' | paste -sd, -)," \
    "protoc-gen-es $("$root/node_modules/.bin/protoc-gen-es" --version 2>/dev/null || echo '?')" >&2
  exit 1
fi
echo "check_protos: buf lint clean; $breaking; clients/ matches protos/; the console bundle matches console/"
