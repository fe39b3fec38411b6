"""Big days in parts: split a day into regions, merge the regions' plans, mend the borders.

A day of thousands of stops is too big for one solve within a dispatcher's wait, but it is made of
neighbourhoods: a van serving the north-east of the city never comes near the south-west. So a big
day is cut into regions (angular sectors around each depot, the classic sweep, balanced by
workload), each region gets a share of the fleet proportional to its demand, the regions are solved
independently (in parallel, by the planning service's Celery workers), their plans are put
together, and the routes along each border between two neighbouring regions are re-solved together
(warm-started from the merged routes) so that a stop cut off on the wrong side of a border moves to
the route that passes by.

Plain Python (no Django): the planning service (routes.plans.splitting) stores the parts and runs
them as tasks. Job and vehicle ids are kept in every part, so a region's plan is already a plan of
the day: merging is a union of sequences. Locations are matrix indices; ``points`` gives each
index's coordinates (lat/lon or plane metres), used only to draw the regions.
"""

from __future__ import annotations

import io
import json
import math
import time
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, fields, replace

import numpy as np

from .evaluator import BreakVisit, ReloadVisit, Sequences, evaluate, is_job, objective_key, sequences_of
from .problem import Break, Id, InitialRoute, Job, Problem, ProblemError, RoadMatrix, Vehicle, can_serve

# A stop is on the border between its region and another when the other region's centre is at
# most this much farther from it than its own region's centre.
BORDER_RATIO = 1.35


@dataclass(frozen=True)
class Region:
    """One part of a big day: its stops and the vehicles that serve them (each vehicle in one region)."""

    index: int
    job_ids: tuple[Id, ...]
    vehicle_ids: tuple[Id, ...]


def region_count(n_jobs: int, region_jobs: int) -> int:
    return max(1, round(n_jobs / max(1, region_jobs)))


def split_day(problem: Problem, points: Sequence[tuple[float, float]], *, region_jobs: int = 350) -> list[Region]:
    """Cut ``problem`` into regions of about ``region_jobs`` stops.

    Every job is in exactly one region, every vehicle in exactly one region, and every region has at
    least one vehicle. Vehicles are grouped by their depot (the end of their route); each depot's
    stops (those nearest to it) are cut into angular sectors of equal workload, and the depot's
    vehicles are dealt to its sectors in proportion to their demand, type by type, so every sector
    gets its share of vans, bikes and fridges. A stop pinned to a vehicle goes to that vehicle's
    region; a stop no vehicle of its region can serve (skills, zone) goes to the nearest region
    with one that can.
    """
    if not problem.vehicles:
        raise ProblemError("split: no vehicle to share between regions")
    if len(points) < max((j.location_index for j in problem.jobs), default=-1) + 1:
        raise ProblemError(f"split: {len(points)} points do not cover every job's location index")
    xy = _plane(points)
    locks = problem.locked_vehicle_of()
    groups: dict[Hashable, list[Vehicle]] = {}
    for vehicle in problem.vehicles:
        groups.setdefault(_anchor(vehicle), []).append(vehicle)
    anchors = list(groups)
    vehicle_anchor = {v.id: _anchor(v) for v in problem.vehicles}

    # Each stop to its nearest depot (by driving time from it), a pinned stop to its vehicle's.
    jobs_of: dict[Hashable, list[Job]] = {a: [] for a in anchors}
    durations = np.asarray(problem.matrices[problem.vehicles[0].profile].durations)
    for job in problem.jobs:
        locked_to = locks.get(job.id)
        if locked_to in vehicle_anchor:
            jobs_of[vehicle_anchor[locked_to]].append(job)
            continue
        best = min(anchors, key=lambda a: (a is None, 0 if a is None else int(durations[a, job.location_index])))
        jobs_of[best].append(job)

    regions: list[tuple[list[Job], list[Vehicle]]] = []
    spare: list[Vehicle] = []  # vehicles of a depot no stop is nearest to
    for anchor in anchors:
        jobs, fleet = jobs_of[anchor], groups[anchor]
        if not jobs:
            spare.extend(fleet)
            continue
        k = min(len(fleet), region_count(len(jobs), region_jobs))
        centre = xy[anchor] if anchor is not None else xy[[j.location_index for j in jobs]].mean(axis=0)
        sectors = _sweep(jobs, xy, centre, k, problem.amount_dimensions)
        regions.extend(zip(sectors, _deal(fleet, sectors, locks)))
    if not regions:  # no job at all: one region with the whole fleet
        return [Region(0, (), tuple(v.id for v in problem.vehicles))]
    for vehicle in spare:  # to the region with the most demand per vehicle
        jobs, fleet = max(regions, key=lambda r: len(r[0]) / max(1, len(r[1])))
        fleet.append(vehicle)

    # Pinned stops follow their vehicle; stops their region cannot serve go to the nearest that can.
    region_of_vehicle = {v.id: n for n, (_, fleet) in enumerate(regions) for v in fleet}
    members: list[list[Job]] = [[] for _ in regions]
    centres = [xy[[j.location_index for j in jobs]].mean(axis=0) for jobs, _ in regions]
    for n, (jobs, fleet) in enumerate(regions):
        for job in jobs:
            locked_to = locks.get(job.id)
            if locked_to in region_of_vehicle:
                members[region_of_vehicle[locked_to]].append(job)
            elif any(can_serve(v, job, locks) for v in fleet):
                members[n].append(job)
            else:
                able = [m for m, (_, other) in enumerate(regions) if any(can_serve(v, job, locks) for v in other)]
                here = xy[job.location_index]
                members[min(able, key=lambda m: float(np.hypot(*(centres[m] - here)))) if able else n].append(job)
    return [
        Region(n, tuple(j.id for j in members[n]), tuple(v.id for v in fleet)) for n, (_, fleet) in enumerate(regions)
    ]


def _anchor(vehicle: Vehicle) -> int | None:
    return vehicle.end_index if vehicle.end_index is not None else vehicle.start_index


def _plane(points: Sequence[tuple[float, float]]) -> np.ndarray:
    """Coordinates where angles and distances make sense: lat/lon scaled by the latitude's cosine
    (plane coordinates in metres pass through unchanged)."""
    xy = np.asarray(points, dtype=float).reshape(-1, 2)
    if len(xy) and np.abs(xy).max() <= 180:
        lat, lon = xy[:, 0], xy[:, 1]
        return np.column_stack([lon * math.cos(math.radians(float(lat.mean()))), lat])
    return xy


def _sweep(jobs: list[Job], xy: np.ndarray, centre: np.ndarray, k: int, dims: int) -> list[list[Job]]:
    """``k`` angular sectors around ``centre`` of equal workload (half stops, half first-dimension
    load), starting at the widest empty angle so that no sector is split across a gap."""
    if k <= 1:
        return [list(jobs)]
    offsets = xy[[j.location_index for j in jobs]] - centre
    angles = np.arctan2(offsets[:, 1], offsets[:, 0])
    order = np.argsort(angles, kind="stable")
    ordered = angles[order]
    gaps = np.diff(np.concatenate([ordered, [ordered[0] + 2 * math.pi]]))
    start = (int(np.argmax(gaps)) + 1) % len(order)
    order = np.roll(order, -start)
    loads = np.array([float(j.delivery[0]) if dims and j.delivery else 0.0 for j in jobs])
    weights = np.full(len(jobs), 0.5 / len(jobs)) + (0.5 * loads / loads.sum() if loads.sum() > 0 else 0.5 / len(jobs))
    cumulative = np.cumsum(weights[order])
    cuts = np.searchsorted(cumulative, [cumulative[-1] * (n + 1) / k for n in range(k - 1)], side="right")
    return [[jobs[i] for i in part] for part in np.split(order, cuts) if len(part)] or [list(jobs)]


def _deal(fleet: list[Vehicle], sectors: list[list[Job]], locks: Mapping[Id, Id]) -> list[list[Vehicle]]:
    """The depot's vehicles to its sectors in proportion to their load (a sector with none gets one).

    A vehicle with pinned stops goes to the sector holding most of them; the others are dealt type
    by type (profile, skills, zones, capacity) to the sector furthest below its share of capacity.
    """
    dealt: list[list[Vehicle]] = [[] for _ in sectors]
    demand = np.array([sum((j.delivery[0] if j.delivery else 0) for j in s) + len(s) for s in sectors], dtype=float)
    share = demand / demand.sum()
    sector_of_job = {j.id: n for n, s in enumerate(sectors) for j in s}
    rest = []
    for vehicle in fleet:
        pinned_in = [sector_of_job[j] for j, v in locks.items() if v == vehicle.id and j in sector_of_job]
        if pinned_in:
            dealt[max(set(pinned_in), key=pinned_in.count)].append(vehicle)
        else:
            rest.append(vehicle)
    rest.sort(key=lambda v: (v.profile, sorted(v.skills), sorted(map(str, v.zone_ids or ())), -_size(v), str(v.id)))
    total = sum(_size(v) for v in fleet)
    for vehicle in rest:
        got = np.array([sum(_size(v) for v in d) for d in dealt], dtype=float)
        empty = [n for n, d in enumerate(dealt) if not d]
        # A sector without a vehicle first, however small: every region needs one to be solved at all.
        target = empty[int(np.argmax(share[empty]))] if empty else int(np.argmax(share * total - got))
        dealt[target].append(vehicle)
    return dealt


def _size(vehicle: Vehicle) -> int:
    """What a vehicle carries in a day, for dealing the fleet to regions: a bike that may reload
    carries its capacity once per trip."""
    trips = vehicle.max_trips if vehicle.reloads else 1
    return (min(vehicle.capacity[0], 10**6) if vehicle.capacity else 1) * trips


# --- parts: a region as a problem of its own --------------------------------------------------------


def sub_problem(
    problem: Problem, job_ids: Sequence[Id], vehicle_ids: Sequence[Id], *, warm: Sequences = None
) -> Problem:
    """The part of ``problem`` with these jobs and vehicles, its matrices cut down to the points they
    use (re-indexed). Ids stay as they are, so the part's plan is a plan of the whole day.
    ``warm``: sequences to start from (replacing the day's initial routes), e.g. the merged plan."""
    jobs_by_id, vehicles_by_id = problem.job_by_id(), problem.vehicle_by_id()
    jobs = [jobs_by_id[j] for j in job_ids]
    vehicles = [vehicles_by_id[v] for v in vehicle_ids]
    used = sorted(
        {j.location_index for j in jobs}
        | {i for v in vehicles for i in (v.start_index, v.end_index) if i is not None}
        | {i for v in vehicles for i in v.reload_indices}
    )
    new = {old: n for n, old in enumerate(used)}
    cut = np.ix_(used, used)
    profiles = {v.profile for v in vehicles} or set(problem.matrices)
    matrices = {
        p: RoadMatrix(
            durations=np.ascontiguousarray(np.asarray(m.durations)[cut]),
            distances=np.ascontiguousarray(np.asarray(m.distances)[cut]),
        )
        for p, m in problem.matrices.items()
        if p in profiles
    }
    kept_jobs, kept_vehicles = set(job_ids), set(vehicle_ids)
    if warm is None:
        initial = tuple(
            replace(r, job_ids=tuple(j for j in r.job_ids if j in kept_jobs))
            for r in problem.initial_routes
            if r.vehicle_id in kept_vehicles
        )
    else:
        locked = {r.vehicle_id for r in problem.initial_routes if r.locked}
        initial = tuple(
            InitialRoute(v, tuple(i for i in items if is_job(i) and i in kept_jobs), v in locked)
            for v, items in warm.items()
            if v in kept_vehicles
        )
    return Problem(
        matrices=matrices,
        vehicles=tuple(
            replace(
                v,
                start_index=None if v.start_index is None else new[v.start_index],
                end_index=None if v.end_index is None else new[v.end_index],
                reload_indices=tuple(new[i] for i in v.reload_indices),
                reload_windows={new[i]: w for i, w in v.reload_windows.items()},
            )
            for v in vehicles
        ),
        jobs=tuple(replace(j, location_index=new[j.location_index]) for j in jobs),
        initial_routes=tuple(r for r in initial if r.job_ids),
        objective=problem.objective,
        amount_units=problem.amount_units,
    )


def merge(problem: Problem, parts: Sequence[Sequences]) -> dict[Id, list]:
    """The regions' plans as one plan of the day. A job planned twice (it cannot happen with the
    regions of ``split_day``; a defence against a part stored twice) stays where it was first; ids
    the day no longer has (an order cancelled meanwhile) are left out."""
    jobs, vehicles = problem.job_by_id(), problem.vehicle_by_id()
    merged: dict[Id, list] = {}
    seen: set[Id] = set()
    for part in parts:
        for vehicle_id, items in part.items():
            if vehicle_id not in vehicles or vehicle_id in merged:
                continue
            kept = []
            for item in items:
                if isinstance(item, BreakVisit | ReloadVisit):
                    kept.append(item)
                elif item in jobs and item not in seen:
                    seen.add(item)
                    kept.append(item)
            merged[vehicle_id] = kept
    return merged


# --- mending the borders ------------------------------------------------------------------------


def border_pairs(problem: Problem, regions: Sequence[Region], points) -> list[tuple[int, int, list[Id]]]:
    """Neighbouring regions and the stops along their border, the longest borders first.

    A stop of region r is on its border with s when s's centre is at most BORDER_RATIO times farther
    from it than r's own centre.
    """
    xy = _plane(points)
    jobs = problem.job_by_id()
    located = [(r, [jobs[j] for j in r.job_ids if j in jobs]) for r in regions]
    located = [(r, js) for r, js in located if js]
    if len(located) < 2:
        return []
    centres = np.array([xy[[j.location_index for j in js]].mean(axis=0) for _, js in located])
    borders: dict[tuple[int, int], list[Id]] = {}
    for n, (region, js) in enumerate(located):
        here = xy[[j.location_index for j in js]]
        distance = np.hypot(here[:, None, 0] - centres[None, :, 0], here[:, None, 1] - centres[None, :, 1])
        own = distance[:, n].copy()
        distance[:, n] = np.inf
        nearest = distance.argmin(axis=1)
        for job, other, far, near in zip(js, nearest, distance[np.arange(len(js)), nearest], own):
            if far <= BORDER_RATIO * near:
                a, b = sorted((region.index, located[int(other)][0].index))
                borders.setdefault((a, b), []).append(job.id)
    return sorted(((a, b, ids) for (a, b), ids in borders.items()), key=lambda p: (-len(p[2]), p[0], p[1]))


SolveFn = Callable[[Problem, float], Sequences]


def improve_borders(
    problem: Problem,
    sequences: Mapping[Id, list],
    regions: Sequence[Region],
    points,
    *,
    budget_s: float,
    solve: SolveFn,
    max_jobs: int = 400,
    min_step_s: float = 1.0,
) -> tuple[dict[Id, list], list[str]]:
    """Re-solve, pair of neighbouring regions by pair, the routes that touch their border.

    Each step takes the routes of both regions serving a stop on that border (whole routes, at most
    ``max_jobs`` stops), the idle vehicles of both regions and their unplanned stops, and hands them
    to ``solve`` warm-started from the current routes; the answer replaces those routes only if it
    is better for the evaluator (more served, then cheaper) and breaks no rule. Stops elsewhere are
    never touched, so each step keeps the whole day valid. Stops within ``budget_s`` of wall time.
    """
    started = time.monotonic()
    current = {v: list(items) for v, items in sequences.items()}
    notes: list[str] = []
    pairs = border_pairs(problem, regions, points)
    region_of_vehicle = {v: r.index for r in regions for v in r.vehicle_ids}
    region_of_job = {j: r.index for r in regions for j in r.job_ids}
    for step, (a, b, border) in enumerate(pairs):
        left = budget_s - (time.monotonic() - started)
        if left < min_step_s:
            notes.append(f"borders: {step} of {len(pairs)} pairs mended before the budget ran out")
            break
        step_s = max(min_step_s, left / (len(pairs) - step))
        route_of = {j: v for v, items in current.items() for j in items if is_job(j)}
        touching: dict[Id, int] = {}
        for job_id in border:
            if job_id in route_of:
                touching[route_of[job_id]] = touching.get(route_of[job_id], 0) + 1
        vehicles, job_ids = [], []
        for vehicle_id in sorted(touching, key=lambda v: -touching[v]):
            route_jobs = [j for j in current[vehicle_id] if is_job(j)]
            if vehicles and len(job_ids) + len(route_jobs) > max_jobs:
                continue
            vehicles.append(vehicle_id)
            job_ids.extend(route_jobs)
        used = {v for v, items in current.items() if any(is_job(i) for i in items)}
        vehicles += [v for v, r in region_of_vehicle.items() if r in (a, b) and v not in used]
        planned = set(route_of)
        job_ids += [j.id for j in problem.jobs if j.id not in planned and region_of_job.get(j.id) in (a, b)]
        if not vehicles or not job_ids:
            continue
        warm = {v: current.get(v, []) for v in vehicles}
        part = sub_problem(problem, job_ids, vehicles, warm=warm)
        before = evaluate(part, {v: current[v] for v in vehicles if v in current}, solver="merged")
        after = evaluate(part, solve(part, step_s), solver="border")
        if after.feasible and objective_key(part, after) < objective_key(part, before):
            for vehicle_id in vehicles:
                current.pop(vehicle_id, None)
            current.update(sequences_of(after))
            notes.append(
                f"borders {a}/{b}: {len(job_ids)} stops on {len(vehicles)} vehicles, cost "
                f"{before.cost:.0f} -> {after.cost:.0f}, unplanned {len(before.unassigned)} -> {len(after.unassigned)}"
            )
    return current, notes


# --- storing a part (the planning service keeps parts in the database between tasks) ----------------


def encode_problem(problem: Problem) -> bytes:
    """A part's problem as bytes: a JSON description and the matrices as .npz (no pickle, so a
    stored part is data, never code). Every field of Vehicle, Job and InitialRoute is kept, those
    added later too (tuples, frozensets and breaks are tagged so they come back as they were)."""
    header = {
        "objective": problem.objective,
        "amount_units": list(problem.amount_units),
        "profiles": sorted(problem.matrices),
        "vehicles": [_plain_fields(v) for v in problem.vehicles],
        "jobs": [_plain_fields(j) for j in problem.jobs],
        "initial_routes": [_plain_fields(r) for r in problem.initial_routes],
    }
    arrays = {}
    for n, profile in enumerate(header["profiles"]):
        arrays[f"durations{n}"] = np.asarray(problem.matrices[profile].durations)
        arrays[f"distances{n}"] = np.asarray(problem.matrices[profile].distances)
    buffer = io.BytesIO()
    np.savez_compressed(buffer, header=np.frombuffer(json.dumps(header).encode(), dtype=np.uint8), **arrays)
    return buffer.getvalue()


def decode_problem(data: bytes) -> Problem:
    with np.load(io.BytesIO(bytes(data)), allow_pickle=False) as stored:
        header = json.loads(stored["header"].tobytes().decode())
        matrices = {
            p: RoadMatrix(durations=stored[f"durations{n}"], distances=stored[f"distances{n}"])
            for n, p in enumerate(header["profiles"])
        }
    return Problem(
        matrices=matrices,
        vehicles=tuple(Vehicle(**{k: _typed(v) for k, v in item.items()}) for item in header["vehicles"]),
        jobs=tuple(Job(**{k: _typed(v) for k, v in item.items()}) for item in header["jobs"]),
        initial_routes=tuple(InitialRoute(**{k: _typed(v) for k, v in r.items()}) for r in header["initial_routes"]),
        objective=header["objective"],
        amount_units=tuple(header["amount_units"]),
    )


def _plain_fields(item) -> dict:
    return {f.name: _plain(getattr(item, f.name)) for f in fields(item)}


def _plain(value):
    if isinstance(value, Break):
        return {"break": _plain_fields(value)}
    if isinstance(value, frozenset):
        return {"set": sorted((_plain(v) for v in value), key=str)}
    if isinstance(value, Mapping):  # reload_windows: JSON object keys would turn the indices into strings
        return {"map": [[_plain(k), _plain(v)] for k, v in value.items()]}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, np.integer):
        return int(value)
    return value


def _typed(value):
    if isinstance(value, dict) and "break" in value:
        return Break(**{k: _typed(v) for k, v in value["break"].items()})
    if isinstance(value, dict) and "set" in value:
        return frozenset(_typed(v) for v in value["set"])
    if isinstance(value, dict) and "map" in value:
        return {_typed(k): _typed(v) for k, v in value["map"]}
    if isinstance(value, list):
        return tuple(_typed(v) for v in value)
    return value


def sequences_to_json(sequences: Sequences) -> list:
    """[[vehicle id, [job id, {"break": n} or {"reload": n}, ...]], ...]: JSON keeps the ids' types
    (int stays int)."""
    return [[v, [_item_to_json(i) for i in items]] for v, items in sequences.items()]


def _item_to_json(item):
    if isinstance(item, BreakVisit):
        return {"break": item.index}
    if isinstance(item, ReloadVisit):
        return {"reload": item.index}
    return item


def sequences_from_json(data: list) -> dict[Id, list]:
    return {v: [_item_from_json(i) for i in items] for v, items in data}


def _item_from_json(item):
    if isinstance(item, dict):
        return ReloadVisit(item["reload"]) if "reload" in item else BreakVisit(item["break"])
    return item


def budgets(total_s: float, n_regions: int, parallel: int, border_share: float) -> tuple[float, float]:
    """(seconds per region solve, seconds for the borders) so that the regions, ``parallel`` at a
    time, and then the borders fit in ``total_s``."""
    rounds = math.ceil(n_regions / max(1, parallel))
    border = total_s * border_share if n_regions > 1 else 0.0
    return max(1.0, (total_s - border) / rounds), border
