#!/usr/bin/env bash
# Regenerates the client stubs from protos/ (the one generation script; `./dev gen` runs it):
#   clients/python/taskrouter/gateway/v1/*_pb2.py(i), *_pb2_grpc.py(i)  grpc_tools.protoc + mypy-protobuf
#   clients/typescript/src/taskrouter/gateway/v1/*_pb.ts                 protoc-gen-es (node_modules/.bin)
# Usage: scripts/gen_protos.sh [OUT_DIR]   OUT_DIR defaults to <repo>/clients; check_protos.sh passes a temp dir.
# Output is byte-for-byte deterministic: inputs are relative paths in sorted order and no tool writes a date.
# Only the generated trees (python/taskrouter, typescript/src) are replaced; pyproject.toml/package.json stay.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/clients}"
py="${PYTHON:-$root/.venv/bin/python}"
bindir="$(dirname "$py")"

die() { echo "gen_protos: $*" >&2; exit 1; }
[[ -x "$py" ]] || command -v "$py" >/dev/null 2>&1 || die "no python at $py (run ./dev once, or set PYTHON)"
mypy_plugin="$bindir/protoc-gen-mypy"
mypy_grpc_plugin="$bindir/protoc-gen-mypy_grpc"
[[ -x "$mypy_plugin" ]] || mypy_plugin="$(command -v protoc-gen-mypy)" || die "protoc-gen-mypy not found: pip install mypy-protobuf"
[[ -x "$mypy_grpc_plugin" ]] || mypy_grpc_plugin="$(command -v protoc-gen-mypy_grpc)" || die "protoc-gen-mypy_grpc not found"
es_plugin="$root/node_modules/.bin/protoc-gen-es"
[[ -x "$es_plugin" ]] || die "missing $es_plugin: run 'npm ci' in $root"
# google/protobuf/*.proto ship inside grpc_tools, so imports of well-known types resolve offline.
wkt="$("$py" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')"

mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/python" "$work/typescript/src"

cd "$root/protos"
mapfile -t files < <(find taskrouter -name '*.proto' | LC_ALL=C sort)
(( ${#files[@]} )) || die "no .proto files under protos/taskrouter"

mapfile -t service_files < <(grep -l '^service ' "${files[@]}" || true)
protoc() { "$py" -m grpc_tools.protoc -I. -I"$wkt" "$@"; }

# Messages (+ .pyi) for every file; gRPC stubs only for files that declare a service, so resource-only
# files get no empty *_pb2_grpc modules.
protoc --plugin=protoc-gen-mypy="$mypy_plugin" \
  --python_out="$work/python" --mypy_out=quiet:"$work/python" "${files[@]}"
if (( ${#service_files[@]} )); then
  protoc --plugin=protoc-gen-mypy_grpc="$mypy_grpc_plugin" \
    --grpc_python_out="$work/python" --mypy_grpc_out=quiet:"$work/python" "${service_files[@]}"
fi

protoc --plugin=protoc-gen-es="$es_plugin" --es_out="$work/typescript/src" --es_opt=target=ts \
  "${files[@]}"

# Regular packages (setuptools' find_packages needs __init__.py) and a PEP 561 marker for the .pyi stubs.
while IFS= read -r dir; do : >"$dir/__init__.py"; done < <(find "$work/python/taskrouter" -type d)
: >"$work/python/taskrouter/py.typed"

mkdir -p "$out/python" "$out/typescript"
rm -rf "$out/python/taskrouter" "$out/typescript/src"
mv "$work/python/taskrouter" "$out/python/taskrouter"
mv "$work/typescript/src" "$out/typescript/src"
