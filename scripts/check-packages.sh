#!/usr/bin/env bash
# Packs the library (Mlip) and the command (Mlip.Cli, a .NET tool) into a local feed, installs the tool into a
# temporary --tool-path from that feed, runs `mlip --help` and `mlip demo --quick` through it, and builds and runs
# examples/dotnet against the packed library. Offline: everything else comes from the NuGet cache or mirror.
# Each run packs a unique prerelease version (0.1.0-check.N), so the NuGet cache never serves an older pack; the
# temporary folder and that version's cache entries are removed at the end.
# Usage: scripts/check-packages.sh [--no-build] [--keep DIR]   (run by tests/Mlip.Tests/Packaging/PackageTests.cs)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build=""
work=""
while [ $# -gt 0 ]; do
  case "$1" in
    --no-build) build="--no-build" ;;
    --keep) work="$2"; shift ;;
    *) echo "check-packages: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
keep=1
if [ -z "$work" ]; then work="$(mktemp -d /tmp/mlip-packages.XXXXXX)"; keep=0; fi
mkdir -p "$work"
version="0.1.0-check.$(date +%s).$$"
cache="${NUGET_PACKAGES:-$HOME/.nuget/packages}"
cleanup() {
  rm -rf "$cache/mlip/$version" "$cache/mlip.cli/$version"
  if [ "$keep" = 0 ]; then rm -rf "$work"; fi
}
trap cleanup EXIT
feed="$work/nupkg"
step() { echo "check-packages: $1 ($(( $(date +%s) - t0 )) s)"; }
t0=$(date +%s)

dotnet pack "$root/src/Mlip" -c Release $build -nologo -v quiet -p:PackageVersion="$version" -o "$feed"
step "packed Mlip $version"
listing="$(unzip -l "$feed/Mlip.$version.nupkg")"
for f in lib/net10.0/Mlip.dll lib/net10.0/Mlip.xml buildTransitive/Mlip.targets PACKAGE.md; do
  grep -q "$f" <<<"$listing" || { echo "check-packages: Mlip.$version.nupkg has no $f" >&2; exit 1; }
done
# the tool is packed from a publish folder: in the temporary folder, not beside the build (it holds libtorch, 600 MB)
dotnet pack "$root/src/Mlip.Cli" -c Release $build -nologo -v quiet -p:PackageVersion="$version" -p:PublishDir="$work/publish/" -o "$feed"
step "packed Mlip.Cli $version ($(du -m "$feed/Mlip.Cli.$version.nupkg" | cut -f1) MB)"

dotnet tool install --tool-path "$work/tools" --add-source "$feed" Mlip.Cli --version "$version" >/dev/null
step "installed the tool into $work/tools"
"$work/tools/mlip" --help > "$work/help.txt"
head -2 "$work/help.txt"
(cd "$work" && "$work/tools/mlip" demo --quick --output "$work/demo" | tail -3)
step "mlip --help and mlip demo --quick ran through the installed tool"

cp -r "$root/examples/dotnet" "$work/example"
# the example's nuget.config points at ../../nupkg beside the repository; here at the fresh feed
sed -i "s#value=\"../../nupkg\"#value=\"$feed\"#" "$work/example/nuget.config"
cp "$root/Directory.Build.props" "$work/"   # the repository's build settings (net10.0, warnings as errors), not its targets:
# the library's own buildTransitive/Mlip.targets must bring the libstdc++ fix
dotnet build "$work/example" -c Release -nologo -v quiet -p:MlipVersion="$version" >/dev/null
step "built examples/dotnet against Mlip $version"
dotnet "$work/example/bin/Release/net10.0/MdExample.dll" "$work/demo/model/model.json"
step "ran examples/dotnet"
# TorchSharp's native library, in the installed tool and in the example's output, loads with libstdc++ older than GCC 13
if command -v readelf >/dev/null; then
  for f in "$(find "$work/tools/.store" -name libLibTorchSharp.so | head -1)" "$(find "$work/example/bin" -name libLibTorchSharp.so | head -1)"; do
    if readelf -V "$f" | grep -q "GLIBCXX_3.4.32" && ! readelf -V "$f" | grep "Name: GLIBCXX_3.4.32" | grep -q WEAK; then
      echo "check-packages: $f still requires GLIBCXX_3.4.32 (not marked weak)" >&2; exit 1
    fi
  done
  echo "check-packages: libLibTorchSharp.so of the tool and of the example: GLIBCXX_3.4.32 weak or absent"
fi
echo "check-packages: ok"
