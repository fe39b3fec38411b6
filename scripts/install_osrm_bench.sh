#!/usr/bin/env bash
# OSRM side by side with the app's road engine (benchmarks/route_realism.py, benchmarks/matrix_osrm.py).
#
#   scripts/install_osrm_bench.sh [PBF ...]
#
# OSRM is a yardstick here, never a dependency of the app: nothing of it is committed or imported by the
# project. The `osrm-bindings` wheel needs Python >= 3.12 while the app runs on 3.11, so it gets a venv
# of its own under $OSRM_BENCH_DIR (default var/osrm, git-ignored); the benchmarks talk to it through
# benchmarks/_osrm_worker.py. Each PBF (default: the two routing extracts in benchmarks/data/osm/) is
# prepared with the car profile that ships in the wheel, both pipelines, into $OSRM_BENCH_DIR/<name>/:
#   ch/<name>.osrm    osrm-extract + osrm-contract                (contraction hierarchies)
#   mld/<name>.osrm   osrm-extract + osrm-partition + osrm-customize (multi-level Dijkstra)
# and the seconds of each step go to $OSRM_BENCH_DIR/<name>/prepare.json. A PBF whose data is already
# prepared from the same bytes with the same OSRM version is skipped (delete the folder to redo it).
set -euo pipefail

OSRM_BINDINGS_VERSION="26.10.0"
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${OSRM_BENCH_DIR:-$ROOT/var/osrm}"
VENV="$DIR/venv"

find_python312() {
  if [ -n "${OSRM_PYTHON:-}" ]; then echo "$OSRM_PYTHON"; return; fi
  # pyenv's shims answer `command -v` for versions that are not selected: ask each one to run
  for candidate in python3.12 "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.12*/bin/python python3.13 \
      "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.13*/bin/python; do
    if "$candidate" -c 'import sys; assert sys.version_info >= (3, 12)' 2>/dev/null; then
      command -v "$candidate"; return
    fi
  done
  echo "no Python >= 3.12 found (osrm-bindings needs it): install one or set OSRM_PYTHON=/path/to/python3.12" >&2
  exit 1
}

mkdir -p "$DIR"
if ! "$VENV/bin/python" -c "import osrm, importlib.metadata as m; assert m.version('osrm-bindings') == '$OSRM_BINDINGS_VERSION'" 2>/dev/null; then
  PYTHON="$(find_python312)"
  echo "OSRM venv: $VENV ($("$PYTHON" --version))"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q "osrm-bindings==$OSRM_BINDINGS_VERSION"
fi
PROFILE="$("$VENV/bin/python" -c 'import osrm, os; print(os.path.join(os.path.dirname(osrm.__file__), "share", "profiles", "car.lua"))')"
[ -f "$PROFILE" ] || { echo "the wheel has no car profile at $PROFILE" >&2; exit 1; }

if [ "$#" -eq 0 ]; then
  set -- "$ROOT/benchmarks/data/osm/porto.osm.pbf" "$ROOT/benchmarks/data/osm/heidelberg.osm.pbf"
fi

osrm() { "$VENV/bin/python" -m osrm "$@"; }
seconds() { local started=$1; python3 -c "import time; print(round(time.time() - $started, 3))"; }

for pbf in "$@"; do
  [ -f "$pbf" ] || { echo "no such extract: $pbf" >&2; exit 1; }
  name="$(basename "$pbf")"; name="${name%%.*}"
  out="$DIR/$name"
  stamp="$(sha256sum "$pbf" | cut -c1-16) osrm-bindings==$OSRM_BINDINGS_VERSION car.lua"
  if [ -f "$out/prepare.json" ] && [ "$(cat "$out/stamp" 2>/dev/null)" = "$stamp" ]; then
    echo "$name: already prepared ($out)"
    continue
  fi
  rm -rf "$out"; mkdir -p "$out/ch" "$out/mld"
  log="$out/prepare.log"
  echo "$name: preparing CH and MLD into $out (log: $log)"
  declare -A took=()
  for pipeline in ch mld; do
    base="$out/$pipeline/$name.osrm"
    started=$(date +%s.%N)
    osrm extract -p "$PROFILE" -o "$base" "$pbf" >>"$log" 2>&1
    took["${pipeline}_extract_s"]=$(seconds "$started")
    if [ "$pipeline" = ch ]; then
      started=$(date +%s.%N); osrm contract "$base" >>"$log" 2>&1; took[ch_contract_s]=$(seconds "$started")
    else
      started=$(date +%s.%N); osrm partition "$base" >>"$log" 2>&1; took[mld_partition_s]=$(seconds "$started")
      started=$(date +%s.%N); osrm customize "$base" >>"$log" 2>&1; took[mld_customize_s]=$(seconds "$started")
    fi
  done
  {
    echo "{"
    echo "  \"pbf\": \"$pbf\","
    echo "  \"osrm_bindings\": \"$OSRM_BINDINGS_VERSION\","
    echo "  \"prepared_at\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
    echo "  \"load_average\": \"$(cut -d' ' -f1-3 /proc/loadavg)\","
    echo "  \"ch_bytes\": $(du -sb "$out/ch" | cut -f1),"
    echo "  \"mld_bytes\": $(du -sb "$out/mld" | cut -f1),"
    for key in "${!took[@]}"; do echo "  \"$key\": ${took[$key]},"; done
    echo "  \"profile\": \"car.lua of osrm-bindings $OSRM_BINDINGS_VERSION\""
    echo "}"
  } >"$out/prepare.json"
  echo "$stamp" >"$out/stamp"
  unset took
  cat "$out/prepare.json"
done
