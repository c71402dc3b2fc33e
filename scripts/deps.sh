#!/usr/bin/env bash
# Install the Debian packages CPS needs for the given purposes, if missing.
#   scripts/deps.sh build [test] [demo] [bench] [fuzz]
# As root it runs apt-get; otherwise it prints the command to run and fails.
set -euo pipefail

declare -A groups=(
  [build]="gcc make cmake ninja-build pkg-config libpq-dev libjansson-dev libxxhash-dev"
  [test]="libcmocka-dev postgresql-15 postgresql-client-15 clang-format util-linux"
  [demo]="postgresql-15 postgresql-client-15 util-linux"
  [bench]="postgresql-15 postgresql-client-15 postgresql-15-pgrouting gnuplot-nox util-linux"
  # libFuzzer is in libclang-rt-14-dev (clang only recommends it), llvm-symbolizer in llvm-14
  [fuzz]="clang libclang-rt-14-dev llvm-14"
  [valgrind]="valgrind"
)

wanted=()
for g in "$@"; do
  [[ -n "${groups[$g]+x}" ]] || { echo "deps.sh: unknown group '$g'" >&2; exit 2; }
  # shellcheck disable=SC2206
  wanted+=(${groups[$g]})
done

missing=()
for p in $(printf '%s\n' "${wanted[@]}" | sort -u); do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "CPS needs these Debian packages: ${missing[*]}" >&2
  echo "Install them with:" >&2
  echo "  sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi

echo "Installing: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
# Keep the package from creating and starting a system cluster: CPS runs its own.
if [[ ! -e /etc/postgresql-common/createcluster.conf ]]; then
  mkdir -p /etc/postgresql-common
  echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf
fi
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends -o Dpkg::Options::=--force-confold \
  "${missing[@]}" >/dev/null
