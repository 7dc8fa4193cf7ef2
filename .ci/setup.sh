#!/usr/bin/env bash
# Everything the build and tests need beyond the .NET SDK. NuGet packages come with `dotnet restore`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v dotnet >/dev/null || { echo "setup: the .NET 10 SDK is required (dotnet not on PATH)" >&2; exit 1; }
[ -d ../shared/data/mlearn/Si ] || echo "setup: warning: ../shared/data/mlearn/Si not found; the mlearn tests will fail" >&2
dotnet restore Mlip.slnx -nologo -v quiet
