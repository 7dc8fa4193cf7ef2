#!/usr/bin/env bash
# Everything the build and tests need beyond the .NET SDK. NuGet packages come with `dotnet restore`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v dotnet >/dev/null || { echo "setup: the .NET 10 SDK is required (dotnet not on PATH)" >&2; exit 1; }
[ -d ../shared/data/mlearn/Si ] || echo "setup: warning: ../shared/data/mlearn/Si not found; the mlearn tests will fail" >&2

# LAMMPS with ML-SNAP, ML-IAP and MANYBODY, the tests' outside reference (tests/Mlip.Tests/Support/Lammps.cs).
# Built once from Debian's source package (about 2-3 minutes on 2 cores), then cached in MLIP_LAMMPS_DIR.
lammps_dir="${MLIP_LAMMPS_DIR:-$HOME/.cache/mlip/lammps}"
if [ -x "$lammps_dir/bin/lmp" ] && [ -f "$lammps_dir/reference/.complete" ] \
   && "$lammps_dir/bin/lmp" -h 2>/dev/null | grep -qw 'ML-IAP' && "$lammps_dir/bin/lmp" -h 2>/dev/null | grep -qw 'ML-PACE'; then
  echo "setup: LAMMPS present: $lammps_dir/bin/lmp"
else
  bash scripts/build-lammps.sh
fi

# ASE (Debian python3-ase) for the i-PI protocol tests (tests/Mlip.Tests/Interop/IpiTests.cs, IpiServerTests.cs:
# SocketIOCalculator, SocketClient, EMT, LennardJones); skipped when present.
if ! /usr/bin/python3 -c "import ase.calculators.socketio" 2>/dev/null; then
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq python3-ase
fi

# numpy and phonopy (Debian python3-numpy, python3-phonopy) read what Mlip writes for them: the .npy/.npz of
# `mlip descriptors` (tests/Mlip.Tests/Interop/NumpyInteropTests.cs) and the force constants of Phonons.cs
# (tests/Mlip.Tests/Simulation/PhonopyTests.cs); skipped when present.
if ! /usr/bin/python3 -c "import numpy, phonopy" 2>/dev/null; then
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq python3-numpy python3-phonopy
fi

# pip and setuptools (Debian python3-pip, python3-setuptools) for `pip install ./python`
# (tests/Mlip.Tests/Interop/PythonPackageTests.cs: an offline install, no build isolation); skipped when present.
if ! /usr/bin/python3 -c "import pip, setuptools" 2>/dev/null; then
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq python3-pip python3-setuptools
fi

# spglib (Debian libsymspg1) for space groups of random crystals (src/Mlip/Generation/Spglib.cs, P/Invoke); skipped when present.
if ! ldconfig -p 2>/dev/null | grep -q 'libsymspg\.so\.1'; then
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq libsymspg1
fi

# Open MPI (Debian openmpi-bin, libopenmpi-dev) for `mpirun -n N mlip train` (src/Mlip/Distributed/OpenMpi.cs, P/Invoke of
# libmpi.so.40) and its tests (tests/Mlip.Tests/Distributed: mpirun -n 2 as root); skipped when present.
if ! command -v mpirun >/dev/null || ! ldconfig -p 2>/dev/null | grep -q 'libmpi\.so\.40'; then
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq openmpi-bin libopenmpi-dev
fi

# Debian's chromium opens report.html of `mlip fit` headless in a test (tests/Mlip.Tests/AutoFit/FitReportBrowserTests.cs):
# the page loads and shows its figures; skipped when present.
if ! command -v chromium >/dev/null 2>&1; then
  sudo_cmd=""; [ "$(id -u)" = 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq && $sudo_cmd apt-get install -y -qq chromium
fi

dotnet restore Mlip.slnx -nologo -v quiet
