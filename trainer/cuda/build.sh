#!/usr/bin/env bash
# Builds recode-train with the `cuda` feature on a machine that has no GPU
# and no system CUDA (DESIGN.md §5): CUDA 13.0 comes from pinned PyPI wheels
# and the driver library from a stub that only satisfies the linker.
#
#   bash trainer/cuda/build.sh            # prints the binary's path
#
# The binary needs, where it runs, the NVIDIA driver (libcuda.so.1) and the
# CUDA 13 runtime libraries (libcudart.so.13, libcublas.so.13,
# libcublasLt.so.13, libcurand.so.10, libnvrtc.so.13): the same wheels in any
# venv, with LD_LIBRARY_PATH pointing at their nvidia/cu13/lib. The stub is
# never carried: it lives in the link-only folder below.
#
# Environment: RECODE_CUDA_DIR (default ~/.cache/recode-cuda) holds the venv,
# the link-only folder and the target directory; CUDA_COMPUTE_CAP (default 90:
# H100/H200) picks the GPU architecture the kernels are compiled for.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
WORK=${RECODE_CUDA_DIR:-$HOME/.cache/recode-cuda}
VENV=$WORK/venv
LINK=$WORK/link
mkdir -p "$WORK"

# Every version pinned: unpinned, nvcc drags in 13.5 parts, and cudarc 0.19
# accepts toolkits up to 13.4 only.
WHEELS=(
    nvidia-cuda-nvcc==13.0.88 nvidia-nvvm==13.0.88 nvidia-cuda-crt==13.0.88
    nvidia-cuda-runtime==13.0.96 nvidia-cuda-cccl==13.0.85 nvidia-cuda-nvrtc==13.0.88
    nvidia-cublas==13.1.0.3 nvidia-curand==10.4.0.35
)
if [ ! -x "$VENV/bin/nvcc-installed" ]; then
    echo "installing CUDA 13.0 from PyPI into $VENV" >&2
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check "${WHEELS[@]}"
    touch "$VENV/bin/nvcc-installed" && chmod +x "$VENV/bin/nvcc-installed"
fi
CU13=$("$VENV/bin/python" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13"))')
[ -x "$CU13/bin/nvcc" ] || { echo "no nvcc in $CU13/bin: the nvidia-cuda-nvcc wheel did not unpack as expected" >&2; exit 1; }

# The wheels ship only versioned libraries: the linker wants unversioned
# names, and a libcuda.so, which only the driver provides.
mkdir -p "$LINK/lib"
for name in cudart nvrtc curand cublas cublasLt; do
    versioned=$(ls "$CU13"/lib/lib$name.so.* | sort | head -n 1)
    ln -sf "$versioned" "$LINK/lib/lib$name.so"
done
CUDARC=$(cd "$ROOT" && cargo metadata --format-version 1 --features recode-train/cuda 2>/dev/null \
    | python3 -c 'import json,sys; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"] == "cudarc" and p["version"].startswith("0.19")))')
DRIVER_BINDINGS=$(dirname "$CUDARC")/src/driver/sys/mod.rs
# One empty function per driver entry point cudarc declares: the stub only
# has to resolve names at link time; at run time the real driver is loaded.
grep -oE "fn cu[A-Z][A-Za-z0-9_]*" "$DRIVER_BINDINGS" | sort -u | sed -E 's/^fn (.*)$/void \1(void) {}/' > "$LINK/libcuda-stub.c"
cc -shared -fPIC -Wl,-soname,libcuda.so.1 -o "$LINK/lib/libcuda.so" "$LINK/libcuda-stub.c"

export CUDA_ROOT=$CU13 NVCC=$CU13/bin/nvcc CUDA_TOOLKIT_ROOT_DIR=$LINK PATH=$CU13/bin:$PATH
export CUDA_COMPUTE_CAP=${CUDA_COMPUTE_CAP:-90}
export CARGO_TARGET_DIR=$WORK/target
# A small binary to carry: no debug info, symbols stripped.
export CARGO_PROFILE_RELEASE_DEBUG=false CARGO_PROFILE_RELEASE_STRIP=true
export RUSTFLAGS="${RUSTFLAGS:-} -L native=$LINK/lib -C link-arg=-Wl,-rpath-link,$CU13/lib"
(cd "$ROOT" && cargo build --release -p recode-train --features cuda >&2)
echo "$CARGO_TARGET_DIR/release/recode-train"
