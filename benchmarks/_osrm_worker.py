"""OSRM's side of the side-by-side benchmarks, run by the OSRM venv's Python (>= 3.12).

    var/osrm/venv/bin/python benchmarks/_osrm_worker.py

The app runs on Python 3.11 and the `osrm-bindings` wheel needs 3.12, so the benchmarks start this
script in the venv scripts/install_osrm_bench.sh made and talk to it in JSON lines, one request per
line on stdin, one answer per line on stdout. Timings are taken here, around the OSRM call alone, so
the pipe and the JSON never count. Standard library only (the venv holds nothing but the wheel).

Requests (coordinates are [lon, lat], as OSRM takes them):
  {"op": "open", "engine": "ch", "path": ".../porto.osrm", "algorithm": "CH" | "MLD"}
      -> {"ok": true, "load_s": s}
  {"op": "route", "engine": "ch", "coordinates": [[lon, lat], ...]}
      -> {"ok": true, "duration": s, "distance": m, "nodes": [osm node ids], "snap_m": [m, ...],
          "geometry": [[lon, lat], ...], "elapsed_s": s}  or  {"ok": false, "error": "NoRoute ..."}
  {"op": "table", "engine": "ch", "coordinates": [...], "sources": [i, ...] | null,
   "destinations": [j, ...] | null, "out": "/path/file.bin", "repeat": 3}
      -> {"ok": true, "elapsed_s": [s per run], "convert_s": s, "rows": n, "cols": m, "unreachable": k}
      and writes the durations (s) then the distances (m) of the last run to "out", row-major float64,
      NaN where OSRM has no route.
  {"op": "quit"}
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from array import array

import osrm

# OSRM may log to stdout: keep the real stdout for answers, send everything else to stderr.
_ANSWERS = os.fdopen(os.dup(sys.stdout.fileno()), "w", buffering=1)
os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

_engines: dict[str, osrm.OSRM] = {}


def _open(request: dict) -> dict:
    started = time.perf_counter()
    _engines[request["engine"]] = osrm.OSRM(
        storage_config=request["path"], algorithm=request["algorithm"], use_shared_memory=False
    )
    return {"ok": True, "load_s": time.perf_counter() - started}


def _route(request: dict) -> dict:
    engine = _engines[request["engine"]]
    parameters = osrm.RouteParameters(
        coordinates=[tuple(c) for c in request["coordinates"]],
        annotations=["nodes", "distance", "duration"],
        overview="full",
        geometries="geojson",
        steps=False,
    )
    started = time.perf_counter()
    try:
        result = engine.Route(parameters)
    except RuntimeError as error:  # NoRoute, NoSegment: a fact about this pair, not a crash
        return {"ok": False, "error": str(error), "elapsed_s": time.perf_counter() - started}
    elapsed = time.perf_counter() - started
    route = result["routes"][0]
    nodes: list[int] = []
    for leg in route["legs"]:
        for node in leg["annotation"]["nodes"]:
            node = int(node)
            if not nodes or nodes[-1] != node:
                nodes.append(node)
    return {
        "ok": True,
        "duration": float(route["duration"]),
        "distance": float(route["distance"]),
        "nodes": nodes,
        "snap_m": [float(w["distance"]) for w in result["waypoints"]],
        "geometry": [[float(x), float(y)] for x, y in route["geometry"]["coordinates"]],
        "elapsed_s": elapsed,
    }


def _table(request: dict) -> dict:
    engine = _engines[request["engine"]]
    arguments = {
        "coordinates": [tuple(c) for c in request["coordinates"]],
        "annotations": ["duration", "distance"],
        "generate_hints": False,
    }
    if request.get("sources") is not None:
        arguments["sources"] = list(request["sources"])
    if request.get("destinations") is not None:
        arguments["destinations"] = list(request["destinations"])
    parameters = osrm.TableParameters(**arguments)
    parameters.skip_waypoints = True  # the snapped points are not wanted back, only the matrix
    elapsed = []
    result = None
    for _ in range(int(request.get("repeat", 1))):
        result = None  # free the last answer before the next run
        started = time.perf_counter()
        result = engine.Table(parameters)
        elapsed.append(time.perf_counter() - started)
    started = time.perf_counter()
    durations = array("d")
    distances = array("d")
    unreachable = 0
    for key, out in (("durations", durations), ("distances", distances)):
        for row in result[key]:
            for value in row:
                if value is None:
                    out.append(math.nan)
                    unreachable += key == "durations"
                else:
                    out.append(value)
    rows = len(result["durations"])
    convert = time.perf_counter() - started
    with open(request["out"], "wb") as handle:
        durations.tofile(handle)
        distances.tofile(handle)
    return {
        "ok": True,
        "elapsed_s": elapsed,
        "convert_s": convert,
        "rows": rows,
        "cols": len(durations) // max(rows, 1),
        "unreachable": unreachable,
    }


def main() -> None:
    handlers = {"open": _open, "route": _route, "table": _table}
    for line in sys.stdin:
        request = json.loads(line)
        if request["op"] == "quit":
            break
        try:
            answer = handlers[request["op"]](request)
        except Exception as error:  # answer every request: the caller waits for a line
            answer = {"ok": False, "error": f"{type(error).__name__}: {error}"}
        _ANSWERS.write(json.dumps(answer) + "\n")


if __name__ == "__main__":
    main()
