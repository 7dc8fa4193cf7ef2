#!/usr/bin/env bash
# Sets up what the tests need (idempotent: .ci/setup.sh installs the Debian packages and builds LAMMPS
# only when missing), then runs every test (xunit, Release) and ends with one plain line:
# "N passed, N failed, N skipped". MLIP_SKIP_SETUP=1 skips the set-up step.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
if [ "${MLIP_SKIP_SETUP:-0}" != 1 ]; then
  if ! bash .ci/setup.sh; then
    echo "test.sh: set-up failed (see above); no tests were run" >&2
    echo "0 passed, 1 failed, 0 skipped"
    exit 1
  fi
fi
# the whole solution first: dotnet test builds only the test project and what it references, and the Scalar-lifetime guard
# also reads the benchmarks' assembly
if ! dotnet build Mlip.slnx -c Release -nologo -v quiet; then
  echo "test.sh: the build failed (see above); no tests were run" >&2
  echo "0 passed, 1 failed, 0 skipped"
  exit 1
fi
log="$(mktemp)"
dotnet test Mlip.slnx -c Release -nologo "$@" 2>&1 | tee "$log"
code=${PIPESTATUS[0]}
# dotnet test prints one summary per test assembly: "Passed!  - Failed: 0, Passed: 62, Skipped: 0, Total: 62"
read -r passed failed skipped < <(awk '
  /(Passed|Failed)! +- +Failed:/ {
    gsub(/,/, " ");
    for (i = 1; i <= NF; i++) {
      if ($i == "Failed:") f += $(i+1);
      if ($i == "Passed:") p += $(i+1);
      if ($i == "Skipped:") s += $(i+1);
    }
  }
  END { printf "%d %d %d\n", p, f, s }' "$log")
rm -f "$log"
if [ "$code" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi  # build failure: no summary line
echo "${passed} passed, ${failed} failed, ${skipped} skipped"
exit "$code"
