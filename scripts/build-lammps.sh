#!/usr/bin/env bash
# Builds a LAMMPS executable with the ML-SNAP, ML-IAP, ML-PACE and MANYBODY packages from Debian's
# source package (Debian's binary `lammps` lacks them). ML-PACE's cmake downloads the PACE library;
# here it is built offline from the archive in ../shared/vendor (MLIP_PACELIB_ARCHIVE overrides). The tests use it as an outside
# reference (compute sna/atom, snad/atom, snav/atom; pair_style snap, mliap, sw, tersoff, eam).
#
#   bash scripts/build-lammps.sh          # MLIP_LAMMPS_DIR defaults to ~/.cache/mlip/lammps
#
# Results:
#   $MLIP_LAMMPS_DIR/bin/lmp              serial LAMMPS (no MPI, no OpenMP), Release
#   $MLIP_LAMMPS_DIR/reference/           frozen reference files from the same source tree:
#       force-styles/*.yaml               unittest/force-styles/tests for snap, mliap, pace, sw, tersoff, eam
#       examples/mliap, examples/snap     inputs and coefficient files (small text files only)
#       potentials/                       Si.sw, SNAP, tersoff and EAM files (small text files only)
#   /usr/share/lammps/potentials          Debian's lammps-data package (Si.sw, SNAP files, ...)
#
# Idempotent: when lmp runs and lists both ML packages, and the reference files are in place, it
# exits at once. Needs root (or sudo) for apt-get; only the Debian archive is contacted.
# A full run on a 2-core machine takes about 2-3 minutes, nearly all of it compiling.
set -euo pipefail

start=$(date +%s)
LAMMPS_DIR="${MLIP_LAMMPS_DIR:-$HOME/.cache/mlip/lammps}"
LMP="$LAMMPS_DIR/bin/lmp"
SRC_ROOT="$LAMMPS_DIR/src"
BUILD="$LAMMPS_DIR/build"
REF="$LAMMPS_DIR/reference"
# The PACE evaluator library that ML-PACE's cmake would download (v.2021.4.9, MD5 checked by cmake).
REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PACELIB="${MLIP_PACELIB_ARCHIVE:-$REPO_ROOT/../shared/vendor/lammps-user-pace-v.2021.4.9.tar.gz}"
PACELIB_MD5=4db54962fbd6adcf8c18d46e1798ceb5
JOBS="${MLIP_LAMMPS_JOBS:-$(nproc 2>/dev/null || echo 2)}"

step() { echo "build-lammps: [$(( $(date +%s) - start ))s] $*"; }
fail() { echo "build-lammps: ERROR: $*" >&2; exit 1; }
trap 'rc=$?; [ $rc -eq 0 ] || echo "build-lammps: FAILED (exit $rc) after $(( $(date +%s) - start ))s" >&2' EXIT
trap 'echo "build-lammps: ERROR: command failed (line $LINENO): $BASH_COMMAND" >&2' ERR

# True when the installed lmp runs and was built with ML-SNAP and ML-IAP.
lmp_ok() {
  [ -x "$LMP" ] || return 1
  local help
  help="$("$LMP" -h 2>/dev/null)" || return 1
  grep -qw 'ML-SNAP' <<<"$help" && grep -qw 'ML-IAP' <<<"$help" && grep -qw 'MANYBODY' <<<"$help" \
    && grep -qw 'ML-PACE' <<<"$help"
}
reference_ok() { [ -f "$REF/.complete" ]; }
data_ok() { [ -f /usr/share/lammps/potentials/Si.sw ]; }

if lmp_ok && reference_ok && data_ok; then
  step "LAMMPS is ready: $LMP (ML-SNAP, ML-IAP, ML-PACE, MANYBODY); reference files in $REF"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || fail "apt-get needs root; run as root or install sudo"
  SUDO="sudo env DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes"
fi
export DEBIAN_FRONTEND=noninteractive DEBCONF_NOWARNINGS=yes
APT_INSTALL=($SUDO apt-get install -y -q --no-install-recommends)

# --- 1. deb-src entries, package lists --------------------------------------------------------
if ! apt-cache showsrc lammps 2>/dev/null | grep -q '^Package: lammps'; then
  step "adding deb-src entries for Debian's source packages"
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    # deb822 (Debian 12 images): the same archives, Types: deb-src, in a file of its own
    $SUDO sh -c "sed -e 's/^Types:.*/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > /etc/apt/sources.list.d/debian-src.sources"
  elif grep -qs '^deb ' /etc/apt/sources.list; then
    $SUDO sh -c "sed -n -e 's/^deb /deb-src /p' /etc/apt/sources.list > /etc/apt/sources.list.d/debian-src.list"
  else
    fail "no Debian apt sources found (/etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list)"
  fi
fi
step "apt-get update"
$SUDO apt-get update -q >/dev/null
apt-cache showsrc lammps 2>/dev/null | grep -q '^Package: lammps' \
  || fail "apt-cache knows no source package 'lammps' even after adding deb-src entries"

# --- 2. Debian's lammps-data (potential files), build tools ------------------------------------
if ! data_ok; then
  step "installing lammps-data (Debian's potential files, about 10 MB)"
  "${APT_INSTALL[@]}" lammps-data >/dev/null
fi
if ! lmp_ok; then
  # The minimal set: compilers, cmake, and dpkg-dev/xz-utils for `apt-get source` to unpack.
  # (apt-get build-dep lammps would pull MPI, FFTW, VTK, Python, docs tool chains: far too much.)
  step "installing build tools: cmake g++ make dpkg-dev xz-utils"
  "${APT_INSTALL[@]}" cmake g++ make dpkg-dev xz-utils ca-certificates >/dev/null
fi

# --- 3. source ---------------------------------------------------------------------------------
src_dir() { find "$SRC_ROOT" -mindepth 1 -maxdepth 1 -type d -name 'lammps-*' 2>/dev/null | head -n 1 || true; }
SRC="$(src_dir)"
if [ -z "$SRC" ] || [ ! -f "$SRC/cmake/CMakeLists.txt" ]; then
  step "apt-get source lammps into $SRC_ROOT"
  rm -rf "$SRC_ROOT"
  mkdir -p "$SRC_ROOT"
  # _apt cannot write into root's home; download as root without the sandbox warning noise
  (cd "$SRC_ROOT" && apt-get source -q -o APT::Sandbox::User=root lammps >/dev/null)
  SRC="$(src_dir)"
  [ -n "$SRC" ] && [ -f "$SRC/cmake/CMakeLists.txt" ] || fail "apt-get source lammps gave no cmake/CMakeLists.txt under $SRC_ROOT"
  rm -f "$SRC_ROOT"/*.tar.* "$SRC_ROOT"/*.dsc
fi
step "source: $SRC"

# --- 4. configure and build --------------------------------------------------------------------
if ! lmp_ok; then
  command -v cmake >/dev/null || fail "cmake not found after installing it"
  [ -f "$PACELIB" ] || fail "the PACE library archive is missing: $PACELIB (set MLIP_PACELIB_ARCHIVE)"
  PACELIB="$(cd "$(dirname "$PACELIB")" && pwd)/$(basename "$PACELIB")"
  step "configuring (cmake): ML-SNAP ML-IAP ML-PACE MANYBODY, serial, Release, no JPEG/PNG/FFmpeg/Python"
  rm -rf "$BUILD"
  mkdir -p "$BUILD"
  cmake -S "$SRC/cmake" -B "$BUILD" \
    -DCMAKE_BUILD_TYPE=Release \
    -DPKG_ML-SNAP=on -DPKG_ML-IAP=on -DPKG_MANYBODY=on \
    -DPKG_ML-PACE=on -DPACELIB_URL="file://$PACELIB" -DPACELIB_MD5="$PACELIB_MD5" \
    -DMLIAP_ENABLE_PYTHON=off -DPKG_PYTHON=off \
    -DBUILD_MPI=off -DBUILD_OMP=off \
    -DBUILD_SHARED_LIBS=off -DBUILD_TOOLS=off -DBUILD_LAMMPS_SHELL=off -DBUILD_DOC=off \
    -DENABLE_TESTING=off -DLAMMPS_EXCEPTIONS=on \
    -DWITH_JPEG=off -DWITH_PNG=off -DWITH_FFMPEG=off -DWITH_GZIP=off \
    > "$LAMMPS_DIR/cmake.log" 2>&1 || { tail -n 40 "$LAMMPS_DIR/cmake.log" >&2; fail "cmake configuration failed (log: $LAMMPS_DIR/cmake.log)"; }

  step "compiling with $JOBS jobs (the longest step; log: $LAMMPS_DIR/make.log)"
  cmake --build "$BUILD" --target lmp -j "$JOBS" > "$LAMMPS_DIR/make.log" 2>&1 \
    || { tail -n 40 "$LAMMPS_DIR/make.log" >&2; fail "compilation failed (log: $LAMMPS_DIR/make.log)"; }

  mkdir -p "$LAMMPS_DIR/bin"
  install -m 755 "$BUILD/lmp" "$LMP.new"
  mv -f "$LMP.new" "$LMP"
  lmp_ok || { "$LMP" -h | head -n 60 >&2 || true; fail "the new $LMP does not list ML-SNAP, ML-IAP, ML-PACE and MANYBODY"; }
  rm -rf "$BUILD"   # object files are not needed again (about 300 MB)
  step "installed $LMP"
fi

# --- 5. reference files -------------------------------------------------------------------------
# Copies small text files only (no model weights, no binaries).
copy_small_text() { # from to [find predicates...]
  local from="$1" to="$2"; shift 2
  mkdir -p "$to"
  find "$from" -maxdepth 1 -type f -size -2M "$@" -print0 | while IFS= read -r -d '' f; do
    if grep -Iq . "$f" 2>/dev/null; then cp -p "$f" "$to/"; fi
  done
}
if ! reference_ok; then
  step "copying reference files into $REF"
  rm -rf "$REF"
  tests="$SRC/unittest/force-styles/tests"
  copy_small_text "$tests" "$REF/force-styles" \( -name 'manybody-pair-snap*.yaml' -o -name 'manybody-pair-mliap*.yaml' \
    -o -name 'manybody-pair-pace*.yaml' -o -name 'manybody-pair-sw*.yaml' -o -name 'manybody-pair-tersoff*.yaml' \
    -o -name 'atomic-pair-eam*.yaml' \)
  # the yaml files read their structures from these inputs and data files
  copy_small_text "$tests" "$REF/force-styles" \( -name 'in.manybody' -o -name 'data.manybody' -o -name 'in.metal' -o -name 'data.metal' \)
  copy_small_text "$SRC/examples/mliap" "$REF/examples/mliap"
  copy_small_text "$SRC/examples/snap" "$REF/examples/snap"
  copy_small_text "$SRC/potentials" "$REF/potentials" \( -name '*.sw' -o -name '*.tersoff*' -o -name '*.snap*' \
    -o -name '*.mliap*' -o -name '*.eam*' -o -name '*.ace' -o -name '*.yace' -o -name 'README' \)
  n=$(find "$REF/force-styles" -name '*.yaml' | wc -l)
  [ "$n" -ge 10 ] || fail "expected the force-style yaml files in $tests; found $n"
  echo "LAMMPS $(basename "$SRC") (Debian source package)" > "$REF/.complete"
  step "reference: $n force-style yaml files, $(find "$REF" -type f | wc -l) files in all ($(du -sh "$REF" | cut -f1))"
fi

lmp_ok || fail "$LMP is not usable"
version="$("$LMP" -h | grep -m1 -E 'Large-scale|LAMMPS \(' || true)"
step "done: $LMP ${version:+($version) }in $(( $(date +%s) - start ))s"
