"""Order import throughput: N rows through the same service as the API, on SQLite or PostgreSQL.

    .venv/bin/python benchmarks/import_orders.py                       # SQLite in a temp dir
    .venv/bin/python benchmarks/import_orders.py --database-url postgres://postgres@127.0.0.1:5432/dispatch_bench

Prints rows/s for a first import (all creates), a re-import where every row changed (all updates)
and the same file sent again (nothing to write).
Target (issue 2): 10,000 rows in under 10 s on each database.
"""

import argparse
import csv
import io
import random
import resource
import time

from _django import describe_database, setup_django


def make_csv(rows: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["reference", "date", "depot", "customer_name", "phone", "email", "latitude", "longitude",
         "window_start", "window_end", "weight_kg", "items", "skills", "priority"]
    )  # fmt: skip
    for number in range(rows):
        start = rng.randint(8, 15)
        writer.writerow(
            [f"BENCH-{number:06d}", "2026-11-24", rng.choice(["A", "B"]), f"Customer {number}",
             f"+423 {rng.randint(200, 799)} {rng.randint(1000, 9999)}", f"c{rng.randint(0, rows // 2)}@example.li",
             round(rng.uniform(47.05, 47.24), 6), round(rng.uniform(9.49, 9.60), 6), f"{start:02d}:00",
             f"{start + rng.choice([2, 3]):02d}:00", round(rng.uniform(0.1, 30), 1), rng.randint(1, 5),
             rng.choice(["", "", "", "fridge"]), rng.choice([0, 0, 10, 50])]
        )  # fmt: skip
    return out.getvalue().encode()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--database-url", default=None, help="postgres://... (default: SQLite in a temp dir)")
    args = parser.parse_args()
    setup_django(args.database_url)

    from dispatch.models import Depot, Order
    from dispatch.orders.importing import orders_import_csv

    Depot.objects.create(code="A", name="A", lat=47.14, lon=9.52)
    Depot.objects.create(code="B", name="B", lat=47.20, lon=9.53)
    data = make_csv(args.rows)
    print(f"database: {describe_database()}  rows: {args.rows}  file: {len(data) / 1e6:.1f} MB")
    runs = (
        ("first import (creates)", data),
        ("re-import, all changed", make_csv(args.rows, seed=8)),
        ("re-import, unchanged", make_csv(args.rows, seed=8)),
    )
    for label, data in runs:
        started = time.perf_counter()
        result = orders_import_csv(data=data, user=None)
        elapsed = time.perf_counter() - started
        print(
            f"{label:<24} {elapsed:6.2f} s  {args.rows / elapsed:8.0f} rows/s  "
            f"created={len(result.created)} updated={len(result.updated)} unchanged={len(result.unchanged)}  target <10 s: {'met' if elapsed < 10 else 'MISSED'}"
        )
    assert Order.objects.count() == args.rows
    print(f"peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
