#!/usr/bin/env bash
# Regenerates every client's stubs from protos/ (the one generation script; `./dev gen` runs it):
#   clients/python/taskrouter/...      *_pb2.py(i), *_pb2_grpc.py(i)   grpc_tools.protoc + mypy-protobuf (venv, pinned)
#   clients/typescript/src/gen/...     *_pb.ts (+ google/rpc)          protoc-gen-es (node_modules, pinned)
#   clients/go/taskrouter/...          *.pb.go, *_grpc.pb.go           protoc-gen-go, protoc-gen-go-grpc (Debian)
#   service_config.json in each        retry policy from the protos' idempotency_level (gen_service_config.py)
# Usage: scripts/gen_protos.sh [OUT_DIR]   OUT_DIR defaults to <repo>/clients; check_protos.sh passes a temp dir.
# Output is byte-for-byte deterministic: inputs are relative paths in sorted order and no tool writes a date.
# Only the generated trees (GENERATED_TREES below) are replaced; hand-written code beside them stays.
# Every .proto under protos/taskrouter is picked up: a new file needs no edit here.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${1:-$root/clients}"
py="${PYTHON:-$root/.venv/bin/python}"
bindir="$(dirname "$py")"
go_module="taskrouter.example/gateway"  # clients/go/go.mod's module path

die() { echo "gen_protos: $*" >&2; exit 1; }
[[ -x "$py" ]] || command -v "$py" >/dev/null 2>&1 || die "no python at $py (run ./dev once, or set PYTHON)"
mypy_plugin="$bindir/protoc-gen-mypy"
mypy_grpc_plugin="$bindir/protoc-gen-mypy_grpc"
[[ -x "$mypy_plugin" ]] || mypy_plugin="$(command -v protoc-gen-mypy)" || die "protoc-gen-mypy not found: pip install mypy-protobuf"
[[ -x "$mypy_grpc_plugin" ]] || mypy_grpc_plugin="$(command -v protoc-gen-mypy_grpc)" || die "protoc-gen-mypy_grpc not found"
es_plugin="$root/node_modules/.bin/protoc-gen-es"
[[ -x "$es_plugin" ]] || die "missing $es_plugin: run 'npm ci' in $root"
go_plugin="$(command -v protoc-gen-go)" || die "protoc-gen-go not found: apt-get install protoc-gen-go protoc-gen-go-grpc"
go_grpc_plugin="$(command -v protoc-gen-go-grpc)" || die "protoc-gen-go-grpc not found: apt-get install protoc-gen-go-grpc"
# google/protobuf/*.proto ship inside grpc_tools, so imports of well-known types resolve offline.
wkt="$("$py" -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')"
third_party="$root/third_party/protos"  # google/rpc error details, for the TypeScript client

mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/python" "$work/typescript/src/gen" "$work/go"

cd "$root/protos"
mapfile -t files < <(find taskrouter -name '*.proto' | LC_ALL=C sort)
(( ${#files[@]} )) || die "no .proto files under protos/taskrouter"
mapfile -t rpc_files < <(cd "$third_party" && find google -name '*.proto' | LC_ALL=C sort)

mapfile -t service_files < <(grep -l '^service ' "${files[@]}" || true)
protoc() { "$py" -m grpc_tools.protoc -I. -I"$wkt" -I"$third_party" "$@"; }

# -- Python. Messages (+ .pyi) for every file; gRPC stubs only for files that declare a service, so
# resource-only files get no empty *_pb2_grpc modules.
protoc --plugin=protoc-gen-mypy="$mypy_plugin" \
  --python_out="$work/python" --mypy_out=quiet:"$work/python" "${files[@]}"
if (( ${#service_files[@]} )); then
  protoc --plugin=protoc-gen-mypy_grpc="$mypy_grpc_plugin" \
    --grpc_python_out="$work/python" --mypy_grpc_out=quiet:"$work/python" "${service_files[@]}"
fi
# Regular packages (setuptools' find_packages needs __init__.py) and a PEP 561 marker for the .pyi stubs.
while IFS= read -r dir; do : >"$dir/__init__.py"; done < <(find "$work/python/taskrouter" -type d)
: >"$work/python/taskrouter/py.typed"

# -- TypeScript: ESM with explicit .js import extensions, so tsc under nodenext and plain Node accept it.
protoc --plugin=protoc-gen-es="$es_plugin" --es_out="$work/typescript/src/gen" \
  --es_opt=target=ts,import_extension=js "${files[@]}" "${rpc_files[@]}"

# -- Go. The import path of each proto directory is derived here (M options), so a new file generates
# even before it carries its own go_package option; package name = last two directories (gatewayv1).
go_opts=()
for f in "${files[@]}"; do
  dir="$(dirname "$f")"
  pkg="$(basename "$(dirname "$dir")")$(basename "$dir")"
  go_opts+=("M$f=$go_module/$dir;$pkg")
done
go_opt_list="module=$go_module$(printf ',%s' "${go_opts[@]}")"
protoc --plugin=protoc-gen-go="$go_plugin" --go_out="$work/go" --go_opt="$go_opt_list" "${files[@]}"
if (( ${#service_files[@]} )); then
  protoc --plugin=protoc-gen-go-grpc="$go_grpc_plugin" --go-grpc_out="$work/go" \
    --go-grpc_opt="$go_opt_list" "${service_files[@]}"
fi

# -- The retry policy, as data, into every package (gen_service_config.py says which methods).
protoc --include_imports --descriptor_set_out="$work/descriptors.pb" "${files[@]}"
"$py" "$root/scripts/gen_service_config.py" <"$work/descriptors.pb" >"$work/service_config.json"
v1=taskrouter/gateway/v1
cp "$work/service_config.json" "$work/python/$v1/service_config.json"
{
  echo "// Generated by scripts/gen_protos.sh from the protos' idempotency_level options. Do not edit."
  printf 'export const serviceConfig = %s;\n' "$(cat "$work/service_config.json")"
} >"$work/typescript/src/gen/service_config.ts"
{
  echo "// Code generated by scripts/gen_protos.sh from the protos' idempotency_level options. DO NOT EDIT."
  echo
  echo "package gatewayv1"
  echo
  echo "// ServiceConfigJSON is the gRPC service config (retryPolicy per idempotent method) clients dial with."
  printf 'const ServiceConfigJSON = `%s`\n' "$(cat "$work/service_config.json")"
} >"$work/go/$v1/service_config.go"

# -- Replace only the generated trees.
GENERATED_TREES=(python/taskrouter typescript/src/gen go/taskrouter)
mkdir -p "$out/python" "$out/typescript/src" "$out/go"
for tree in "${GENERATED_TREES[@]}"; do
  rm -rf "${out:?}/$tree"
  mv "$work/$tree" "$out/$tree"
done
