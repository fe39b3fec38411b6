"""Fault injection for the tests that kill a worker half-way; inert unless FAULT_PAUSES is set.

FAULT_PAUSES="name=seconds[,name=seconds]" makes `pause(name)` sleep that long, once per
FAULT_MARKER_DIR (a file marks that it happened), so the retry after the kill runs straight through.
"""

import os
import time
from pathlib import Path


def pause(name: str) -> None:
    spec = os.environ.get("FAULT_PAUSES")
    if not spec:
        return
    pauses = dict(item.split("=", 1) for item in spec.split(",") if "=" in item)
    if name not in pauses:
        return
    # The test's own directory, never a shared default like /tmp where anyone could plant the marker.
    marker_dir = os.environ.get("FAULT_MARKER_DIR")
    if not marker_dir:
        raise RuntimeError("FAULT_PAUSES needs FAULT_MARKER_DIR (a directory of the test's own)")
    marker = Path(marker_dir) / f"fault-{name}"
    if marker.exists():
        return
    marker.write_text(str(os.getpid()))
    time.sleep(float(pauses[name]))
