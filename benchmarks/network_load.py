"""Build a prepared road network and time loading it in a fresh process.

    python benchmarks/network_load.py [PBF] [OUT_DIR]

Prints build time per step, size on disk, load time in a new interpreter
(median of 3) and node/arc counts per profile. Default PBF: Porto.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from routes.network import build_network  # noqa: E402

DEFAULT_PBF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "osm", "porto.osm.pbf")

LOAD_SNIPPET = """
import sys, time
sys.path.insert(0, {root!r})
started = time.perf_counter()
from routes.network import RoadNetwork
imported = time.perf_counter()
net = RoadNetwork.load({out!r})
loaded = time.perf_counter()
net.snap(float(net.node_lat.mean()), float(net.node_lon.mean()), "car")
snapped = time.perf_counter()
print(imported - started, loaded - imported, snapped - loaded)
"""


def main() -> None:
    pbf = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_PBF
    out = sys.argv[2] if len(sys.argv) > 2 else tempfile.mkdtemp(prefix="network-")
    summary = build_network(pbf, out)
    print(f"source        {pbf}")
    print(f"prepared dir  {out}")
    print(f"build total   {summary['timings']['total_s']:.2f} s  {json.dumps(summary['timings'])}")
    print(f"on disk       {summary['bytes_on_disk'] / 1e6:.1f} MB")
    print(f"road nodes    {summary['road_nodes']:,}   addresses {summary['addresses']:,}")
    for name, counts in summary["profiles"].items():
        print(
            f"  {name:5s} graph nodes {counts['nodes']:,}  arcs {counts['arcs']:,}"
            f"  chains {counts['chains']:,}  road {counts['road_km']:,} km"
        )
    runs = []
    for _ in range(3):
        output = subprocess.run(
            [sys.executable, "-c", LOAD_SNIPPET.format(root=ROOT, out=out)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        runs.append([float(x) for x in output.split()])
    imports, loads, first_snaps = zip(*runs)
    print(
        f"fresh process: import {statistics.median(imports):.2f} s, "
        f"RoadNetwork.load {statistics.median(loads):.2f} s (median of 3), "
        f"first snap (builds the k-d tree) {statistics.median(first_snaps):.2f} s"
    )
    print(f"load average  {os.getloadavg()}")


if __name__ == "__main__":
    main()
