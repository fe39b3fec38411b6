"""Make or buy: courier partners in the solver, as vehicles with a price list for a road network.

The encoding (benchmarks/OPTIMIZER.md, "Courier partners"): a partner is *just a vehicle* with its
own routing profile ``partner:<id>`` whose matrices are synthesized, so neither solver needs to
know what a partner is:

* durations: all 0 - a partner's day costs us no driving time, and no shift of ours;
* distances: the entry ``[i][j]`` of the column of job j's point is the partner's price for j, in
  cents, whatever i is (the hub, another job; the diagonal is 0); the vehicle costs 1000 cents per
  "km", so a VROOM or PyVRP cost of arriving at j is exactly that price, and a partner "route"
  costs the sum of its jobs' prices (``evaluator`` re-scores it that way, without time);
* it starts and ends at a hub point added to the matrices, which costs nothing to go back to;
* capacity: its kilograms, and its stops per day in a new amount dimension ``stops`` (every job
  delivers 1; our own vans declare no such limit, so for them it is unlimited);
* skills: the partner's; its service area: ``Vehicle.eligible_jobs`` (only the priced jobs).

Jobs that share a matrix point would share a column, and a partner visiting two of them in a
row would pay once (``[L][L]``). So every job a partner may take gets a point of its own: a copy
of its road point (same rows and columns in every road matrix, so our vans' costs do not change).

``solve_make_or_buy`` runs the day twice with the same budget - own fleet only, then with the
partners warm-started from that plan - and keeps the better by ``objective_key``; the own-fleet
plan is a valid plan of the problem with partners (partners unused), so the kept plan is never
worse: at least as many orders served, and for as many, never dearer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np

from .evaluator import evaluate, objective_key, sequences_of
from .portfolio import SolverSettings, solve
from .problem import (
    OPEN_SHIFT_END,
    PARTNER,
    Id,
    InitialRoute,
    Problem,
    ProblemError,
    RoadMatrix,
    Solution,
    Vehicle,
    padded,
)

UNLIMITED = 2**31 - 1
STOPS_UNIT = "stops"


@dataclass(frozen=True)
class PartnerOffer:
    """What a courier partner offers for the day.

    ``prices``: job id -> cents for each job it may take (its area, days and skills already
    checked by the caller); a job not listed is not its to take. ``capacity_stops`` and
    ``capacity_kg`` None: no limit. ``skills``: what it can serve (the jobs' skills must be a
    subset, as for a van).
    """

    id: Id
    prices: Mapping[Id, int]
    capacity_stops: int | None = None
    capacity_kg: int | None = None
    skills: frozenset[str] = frozenset()


def partner_profile(partner_id: Id) -> str:
    return f"partner:{partner_id}"


def with_partners(problem: Problem, offers: list[PartnerOffer]) -> Problem:
    """The problem with each offer as a partner vehicle (see the module docstring).

    Raises ProblemError for a negative price, a price for an unknown job, or a partner id that
    is already a vehicle id.
    """
    offers = [offer for offer in offers if offer.prices]
    if not offers:
        return problem
    known_jobs = problem.job_by_id()
    taken_ids = {vehicle.id for vehicle in problem.vehicles}
    for offer in offers:
        if offer.id in taken_ids:
            raise ProblemError(f"partner {offer.id!r}: the id is already a vehicle's")
        for job_id, price in offer.prices.items():
            if job_id not in known_jobs:
                raise ProblemError(f"partner {offer.id!r}.prices: unknown job {job_id!r}")
            if price < 0:
                raise ProblemError(f"partner {offer.id!r}.prices[{job_id!r}]: negative price {price}")
    size = min((np.asarray(m.durations).shape[0] for m in problem.matrices.values()), default=0)
    # A point of its own for every job a partner may take (copies of road points).
    source = list(range(size))
    claimed = {i for v in problem.vehicles for i in (v.start_index, v.end_index) if i is not None}
    priced = {job_id for offer in offers for job_id in offer.prices}
    location: dict[Id, int] = {}
    for job in problem.jobs:
        index = job.location_index
        if job.id in priced:
            if index in claimed:
                source.append(index)
                index = len(source) - 1
            claimed.add(index)
        location[job.id] = index
    hub = len(source)
    source.append(source[0] if size else 0)
    pick = np.ix_(source, source)
    matrices = {
        name: RoadMatrix(durations=np.asarray(m.durations)[pick], distances=np.asarray(m.distances)[pick])
        for name, m in problem.matrices.items()
    }
    points = len(source)
    for offer in offers:
        prices = np.zeros((points, points), dtype=np.int64)
        for job_id, price in offer.prices.items():
            prices[:, location[job_id]] = price
        prices[:, hub] = 0
        np.fill_diagonal(prices, 0)  # PyVRP wants it; no two priced jobs share a point, so no job is free
        matrices[partner_profile(offer.id)] = RoadMatrix(
            durations=np.zeros((points, points), dtype=np.int64), distances=prices
        )

    dims = problem.amount_dimensions
    units = tuple(problem.amount_units[:dims]) + tuple(f"unit#{k}" for k in range(len(problem.amount_units), dims))
    jobs = tuple(
        replace(job, location_index=location[job.id], delivery=padded(job.delivery, dims) + (1,))
        for job in problem.jobs
    )
    partners = []
    for offer in offers:
        capacity = [UNLIMITED] * dims + [UNLIMITED if offer.capacity_stops is None else offer.capacity_stops]
        if dims and offer.capacity_kg is not None:
            capacity[0] = offer.capacity_kg  # the first dimension is kilograms (Problem.amount_units)
        partners.append(
            Vehicle(
                id=offer.id,
                profile=partner_profile(offer.id),
                start_index=hub,
                end_index=hub,
                capacity=tuple(capacity),
                skills=frozenset(offer.skills),
                shift=(0, OPEN_SHIFT_END),
                cost_per_hour=0,
                cost_per_km=1000,  # a "metre" of its matrix is a cent: cost = price
                fixed_cost=0,
                kind=PARTNER,
                eligible_jobs=frozenset(offer.prices),
            )
        )
    return replace(
        problem,
        matrices=matrices,
        jobs=jobs,
        vehicles=tuple(problem.vehicles) + tuple(partners),
        amount_units=units + (STOPS_UNIT,),
    )


def own_fleet_only(problem: Problem) -> Problem:
    """The same problem (same points and amounts) without the partner vehicles."""
    return replace(problem, vehicles=tuple(v for v in problem.vehicles if v.kind != PARTNER))


@dataclass(frozen=True)
class MakeOrBuy:
    """Both plans of a day with partners: ``best`` is what to save; ``own_fleet`` the comparison."""

    best: Solution
    own_fleet: Solution
    with_partners: Solution


def solve_make_or_buy(problem: Problem, settings: SolverSettings = SolverSettings()) -> MakeOrBuy:
    """Solve ``problem`` (built by ``with_partners``) without and with its partners, same budget each.

    Returns the own-fleet plan re-scored on ``problem`` (partners idle), the solver's plan with
    partners, and the better of the two by ``objective_key``.
    """
    own = solve(own_fleet_only(problem), settings)
    own_scored = evaluate(
        problem, sequences_of(own), solver=own.solver, computing_time_s=own.computing_time_s, notes=own.notes
    )
    if not any(v.kind == PARTNER for v in problem.vehicles):
        return MakeOrBuy(best=own_scored, own_fleet=own_scored, with_partners=own_scored)
    warm = problem
    if not problem.initial_routes:
        # Start from our own plan: the search then only has to find what is cheaper to buy.
        warm = replace(
            problem,
            initial_routes=tuple(InitialRoute(r.vehicle_id, tuple(r.job_ids)) for r in own.routes if r.job_ids),
        )
    bought = solve(warm, settings)
    bought = evaluate(
        problem,
        sequences_of(bought),
        solver=bought.solver,
        computing_time_s=bought.computing_time_s,
        notes=bought.notes,
    )
    # min() keeps the first of equals: on a tie, our own fleet.
    best = min([own_scored, bought], key=lambda s: objective_key(problem, s))
    return MakeOrBuy(best=best, own_fleet=own_scored, with_partners=bought)


def partner_routes(problem: Problem, solution: Solution) -> dict[Id, list[Id]]:
    """Partner id -> the job ids the plan hands it."""
    partners = {v.id for v in problem.vehicles if v.kind == PARTNER}
    return {r.vehicle_id: list(r.job_ids) for r in solution.routes if r.vehicle_id in partners and r.job_ids}
