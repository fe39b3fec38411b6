"""Small synthetic days for optimizer tests: points on a plane, 10 m/s."""

from __future__ import annotations

import numpy as np

from routes.optimizer import Job, Problem, RoadMatrix, Vehicle

HOUR = 3600


def plane_matrices(points: np.ndarray, speed_m_per_s: float = 10.0) -> RoadMatrix:
    """Straight-line metres and seconds between ``points`` (metres)."""
    metres = np.rint(np.hypot(*(points[:, None, :] - points[None, :, :]).transpose(2, 0, 1))).astype(np.int64)
    return RoadMatrix(durations=np.rint(metres / speed_m_per_s).astype(np.int64), distances=metres)


def random_day(seed: int, n_jobs: int = 25, n_vehicles: int = 4, objective: str = "cost") -> Problem:
    """A depot at the centre of a 20 km square, random orders, mixed fleet:
    vans with a fridge, bikes (faster matrix, small capacity), zones, pins,
    windows and priorities all drawn from ``seed``."""
    rng = np.random.default_rng(seed)
    points = np.vstack([[10_000, 10_000], rng.random((n_jobs, 2)) * 20_000])
    matrices = {"car": plane_matrices(points, 10.0), "bike": plane_matrices(points, 5.0)}
    vehicles = []
    for n in range(n_vehicles):
        bike = n % 4 == 3
        vehicles.append(
            Vehicle(
                id=f"v{n}",
                profile="bike" if bike else "car",
                start_index=0,
                end_index=0,
                capacity=(40, 8) if bike else (400, 30),
                skills=frozenset({"fridge"}) if n % 2 == 0 else frozenset(),
                shift=(8 * HOUR, int(rng.integers(14, 19)) * HOUR),
                cost_per_hour=2000,
                cost_per_km=30 if not bike else 0,
                fixed_cost=5000,
                zone_ids=frozenset({"north"}) if n == 1 else None,
            )
        )
    jobs = []
    for i in range(1, n_jobs + 1):
        start = int(rng.integers(8, 15)) * HOUR
        windows = ((start, start + 2 * HOUR),) if rng.random() < 0.5 else ()
        jobs.append(
            Job(
                id=i,
                location_index=i,
                service_s=int(rng.integers(60, 600)),
                delivery=(int(rng.integers(1, 60)), int(rng.integers(1, 4))),
                skills=frozenset({"fridge"}) if rng.random() < 0.2 else frozenset(),
                time_windows=windows,
                priority=int(rng.integers(0, 3)) * 50,
                zone_id="north" if points[i][1] > 10_000 else "south",
                pinned_vehicle_id=f"v{int(rng.integers(0, n_vehicles))}" if rng.random() < 0.1 else None,
            )
        )
    return Problem(matrices=matrices, vehicles=tuple(vehicles), jobs=tuple(jobs), objective=objective)


def simple_day(n_jobs: int = 12, n_vehicles: int = 3, seed: int = 0, **vehicle_fields) -> Problem:
    """One profile, identical vans, no skills: a problem PyVRP can also model."""
    rng = np.random.default_rng(seed)
    points = np.vstack([[5_000, 5_000], rng.random((n_jobs, 2)) * 10_000])
    fields = dict(start_index=0, end_index=0, capacity=(100,), shift=(8 * HOUR, 18 * HOUR), cost_per_km=30)
    fields.update(vehicle_fields)
    vehicles = tuple(Vehicle(id=f"van{n}", **fields) for n in range(n_vehicles))
    jobs = tuple(Job(id=i, location_index=i, service_s=120, delivery=(5,)) for i in range(1, n_jobs + 1))
    return Problem(matrices={"car": plane_matrices(points)}, vehicles=vehicles, jobs=jobs)
