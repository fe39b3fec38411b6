"""The app's side of the OSRM yardstick: find the data scripts/install_osrm_bench.sh prepared and talk
to benchmarks/_osrm_worker.py (OSRM's Python 3.12 venv) over a pipe.

Nothing here is imported by the app; only the benchmarks use it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
INSTALL_HINT = "run scripts/install_osrm_bench.sh first (OSRM's venv and prepared data, see benchmarks/README.md)"


def osrm_dir() -> Path:
    """Where install_osrm_bench.sh put the venv and the data ($OSRM_BENCH_DIR, default var/osrm)."""
    return Path(os.environ.get("OSRM_BENCH_DIR") or ROOT / "var" / "osrm")


def extract_name(pbf: str) -> str:
    return Path(pbf).name.split(".")[0]


def prepared(pbf: str) -> dict:
    """Paths of the CH and MLD data of ``pbf`` and what the preparation took (prepare.json)."""
    folder = osrm_dir() / extract_name(pbf)
    info_path = folder / "prepare.json"
    if not info_path.exists():
        raise SystemExit(f"no OSRM data for {pbf} in {folder}: {INSTALL_HINT}")
    info = json.loads(info_path.read_text())
    name = extract_name(pbf)
    info["ch_path"] = str(folder / "ch" / f"{name}.osrm")
    info["mld_path"] = str(folder / "mld" / f"{name}.osrm")
    return info


class OsrmWorker:
    """One worker process; engines opened by name. Use as a context manager."""

    def __init__(self):
        python = osrm_dir() / "venv" / "bin" / "python"
        if not python.exists():
            raise SystemExit(f"no OSRM venv at {python}: {INSTALL_HINT}")
        self.python = python
        self.process = subprocess.Popen(
            [str(python), str(HERE / "_osrm_worker.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        self._scratch = tempfile.mkdtemp(prefix="osrm-bench-")

    def __enter__(self) -> OsrmWorker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        if self.process.poll() is None:
            try:
                self.process.stdin.write(json.dumps({"op": "quit"}) + "\n")
                self.process.stdin.flush()
                self.process.wait(timeout=30)
            except (BrokenPipeError, subprocess.TimeoutExpired):
                self.process.kill()
                self.process.wait(timeout=10)
        shutil.rmtree(self._scratch, ignore_errors=True)

    def request(self, payload: dict) -> dict:
        self.process.stdin.write(json.dumps(payload) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the OSRM worker died answering {payload['op']}")
        return json.loads(line)

    def open(self, engine: str, path: str, algorithm: str) -> float:
        answer = self.request({"op": "open", "engine": engine, "path": path, "algorithm": algorithm})
        if not answer["ok"]:
            raise RuntimeError(f"OSRM could not open {path} ({algorithm}): {answer['error']}")
        return answer["load_s"]

    def route(self, engine: str, points_latlon) -> dict:
        """Fastest route through (lat, lon) points; the worker's answer (``ok`` False: no route)."""
        coordinates = [[float(lon), float(lat)] for lat, lon in points_latlon]
        return self.request({"op": "route", "engine": engine, "coordinates": coordinates})

    def table(self, engine: str, points_latlon, *, repeat: int = 1) -> tuple[np.ndarray, np.ndarray, dict]:
        """All-pairs durations (s) and distances (m), NaN where unreachable, plus the timings."""
        out = os.path.join(self._scratch, "table.bin")
        coordinates = [[float(lon), float(lat)] for lat, lon in points_latlon]
        answer = self.request(
            {"op": "table", "engine": engine, "coordinates": coordinates, "out": out, "repeat": repeat}
        )
        if not answer["ok"]:
            raise RuntimeError(f"OSRM table failed: {answer['error']}")
        values = np.fromfile(out, dtype=np.float64)
        os.unlink(out)
        n, m = answer["rows"], answer["cols"]
        return values[: n * m].reshape(n, m), values[n * m :].reshape(n, m), answer


def customize_after_closures(mld_path: str, closed_segments: list[tuple[int, int]]) -> dict:
    """Time OSRM-MLD's re-weight: osrm-customize with the closed segments at speed 0, on a copy.

    ``closed_segments`` are (from OSM node, to OSM node) pairs, both directions wanted. The copy keeps
    the prepared data untouched for the other measurements.
    """
    python = osrm_dir() / "venv" / "bin" / "python"
    source = Path(mld_path)
    with tempfile.TemporaryDirectory(prefix="osrm-customize-") as scratch:
        for file in source.parent.iterdir():
            if file.name.startswith(source.name):
                shutil.copy2(file, scratch)
        speeds = Path(scratch) / "closures.csv"
        speeds.write_text("".join(f"{a},{b},0\n{b},{a},0\n" for a, b in closed_segments))
        base = str(Path(scratch) / source.name)
        started = time.perf_counter()
        done = subprocess.run(
            [str(python), "-m", "osrm", "customize", base, "--segment-speed-file", str(speeds)],
            capture_output=True,
            text=True,
        )
        elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"osrm-customize failed: {done.stderr[-500:]}")
    updated = re.search(r"used to update (\d+) segments", done.stdout + done.stderr)
    return {"customize_s": elapsed, "segments_updated": int(updated.group(1)) if updated else 0}
