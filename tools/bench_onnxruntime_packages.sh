#!/usr/bin/env bash
# ONNX Runtime's CPU provider inside the CUDA package against the CPU-only package (onnxruntime issue #19451):
# the benchmark's evaluation section from two builds of this checkout, alternated over ROUNDS rounds in one session
# (one process cannot load two ONNX Runtimes). Usage: tools/bench_onnxruntime_packages.sh [ROUNDS] [extra bench args]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
rounds="${1:-2}"; shift || true
cpu="$(mktemp -d /tmp/vaccnn-ort-cpu.XXXXXX)"
trap 'git -C "$root" worktree remove --force "$cpu" >/dev/null 2>&1 || true' EXIT
git -C "$root" worktree add -q --detach "$cpu" HEAD
ln -s "$root/host/VacCnn.Web/node_modules" "$cpu/host/VacCnn.Web/node_modules"
dotnet build -c Release "$root/tools/VacCnn.Bench" -v q -nologo >/dev/null
dotnet build -c Release "$cpu/tools/VacCnn.Bench" -v q -nologo -p:VacCnnOnnxRuntime=cpu >/dev/null
for r in $(seq 1 "$rounds"); do
  for tree in "$root" "$cpu"; do
    label=$([ "$tree" = "$root" ] && echo "GPU package (CPU provider)" || echo "CPU-only package")
    echo "=== round $r: $label"
    (cd "$tree" && dotnet run -c Release --no-build --project tools/VacCnn.Bench -- --section evaluation --no-torch \
        --shared "$root/../shared/data" "$@" | grep -E '^\| ')
  done
done
