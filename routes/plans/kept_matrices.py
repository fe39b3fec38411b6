"""A big day's road matrices, kept on disk from its split to its merge (issue 19).

Splitting a big day and merging its regions both build the day's inputs from the same moment, and
the road matrices are most of that: 5,000 points took 90 s on this machine's busy cores, twice per
plan. The split keeps them under VAR_DIR/plan-matrices/<plan id>/ and the merge reads them back
when it runs where they were written (one machine, or a VAR_DIR every worker machine shares) and
asks for exactly the same points, profile, hour and options; anywhere else it computes them again,
as before. Only the matrices are kept: the snaps are cheap and are taken again from the network.

Plain .npy files read with allow_pickle=False: a kept matrix is data, never code. They are removed
once the plan is saved or failed; a directory left by a plan that never came back (its machine
gone) is swept after a day by the next split.
"""

import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path

import numpy as np
from django.conf import settings

from routes.network import MatrixResult

logger = logging.getLogger(__name__)

STALE_AFTER_S = 24 * 3600


def directory_for(plan_id: int) -> Path:
    return Path(settings.VAR_DIR) / "plan-matrices" / str(plan_id)


class KeptMatrices:
    """The road network, with its matrix() answers for one plan kept on disk or read back from it.
    Everything else (snaps, routes, timing legs) is the network's own."""

    def __init__(self, network, plan_id: int):
        self._network = network
        self._directory = directory_for(plan_id)

    def __getattr__(self, name):
        return getattr(self._network, name)

    def matrix(self, points, profile="car", departure=None, *, max_snap_m=None, with_distances=True):
        key = _key(points, profile, departure, max_snap_m, with_distances)
        kept = self._read(key, with_distances)
        if kept is not None:
            durations, distances = kept
            snaps = self._network.snap_many(points, profile, max_snap_m)
            return MatrixResult(durations, distances, snaps)
        result = self._network.matrix(points, profile, departure, max_snap_m=max_snap_m, with_distances=with_distances)
        self._write(key, result)
        return result

    def _read(self, key: str, with_distances: bool):
        durations_file = self._directory / f"{key}.durations.npy"
        distances_file = self._directory / f"{key}.distances.npy"
        if not durations_file.exists() or (with_distances and not distances_file.exists()):
            return None
        try:
            durations = np.load(durations_file, allow_pickle=False)
            distances = np.load(distances_file, allow_pickle=False) if with_distances else None
        except (OSError, ValueError):  # half written by a killed worker: compute again
            logger.warning("kept matrices %s unreadable; computing them again", self._directory, exc_info=True)
            return None
        return durations, distances

    def _write(self, key: str, result) -> None:
        try:
            self._directory.mkdir(parents=True, exist_ok=True)
            for name, array in (("durations", result.durations_s), ("distances", result.distances_m)):
                if array is None:
                    continue
                final = self._directory / f"{key}.{name}.npy"
                partial = self._directory / f"{key}.{name}.{os.getpid()}.partial"
                with open(partial, "wb") as handle:
                    np.save(handle, array, allow_pickle=False)
                os.replace(partial, final)  # a reader sees the whole file or none
        except OSError:  # a full disk costs the merge its time, never the plan
            logger.warning("could not keep the matrices in %s", self._directory, exc_info=True)


def _key(points, profile, departure, max_snap_m, with_distances) -> str:
    digest = hashlib.sha256(np.asarray(points, dtype=np.float64).tobytes())
    digest.update(
        json.dumps([profile, departure.isoformat() if departure else None, max_snap_m, with_distances]).encode()
    )
    return digest.hexdigest()[:32]


def forget(plan_id: int) -> None:
    shutil.rmtree(directory_for(plan_id), ignore_errors=True)


def sweep_stale() -> None:
    """Remove the kept matrices of plans that never came back to this machine (older than a day)."""
    root = Path(settings.VAR_DIR) / "plan-matrices"
    if not root.is_dir():
        return
    for directory in root.iterdir():
        try:
            if time.time() - directory.stat().st_mtime > STALE_AFTER_S:
                shutil.rmtree(directory, ignore_errors=True)
        except OSError:
            continue
