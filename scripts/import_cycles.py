"""Import cycles between the project's modules (`make lint`, and tests/test_architecture.py).

import-linter (.importlinter) checks the direction between layers; this checks what it does not: that
no two modules anywhere import each other, directly or around a longer loop, counting the imports made
inside functions too (grimp reads them all). Prints each cycle; exits 1 when there is one.
"""

import sys
from pathlib import Path

import grimp

PACKAGES = ("config", "dispatch", "routes", "customers", "analytics")


def import_cycles(packages=PACKAGES) -> list[list[str]]:
    """Each group of modules that import one another in a loop (Tarjan's strongly connected components)."""
    graph = grimp.build_graph(*packages, cache_dir=None)
    modules = sorted(m for m in graph.modules if ".migrations" not in m)
    known = set(modules)
    imports = {m: sorted(graph.find_modules_directly_imported_by(m) & known) for m in modules}
    index: dict[str, int] = {}
    lowest: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles = []
    for root in modules:
        if root in index:
            continue
        # Iterative, so a deep import chain cannot hit the recursion limit.
        work = [(root, iter(imports[root]))]
        index[root] = lowest[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            module, pending = work[-1]
            for imported in pending:
                if imported not in index:
                    index[imported] = lowest[imported] = len(index)
                    stack.append(imported)
                    on_stack.add(imported)
                    work.append((imported, iter(imports[imported])))
                    break
                if imported in on_stack:
                    lowest[module] = min(lowest[module], index[imported])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    lowest[parent] = min(lowest[parent], lowest[module])
                if lowest[module] == index[module]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == module:
                            break
                    if len(group) > 1:
                        cycles.append(sorted(group))
    return cycles


def main() -> int:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    cycles = import_cycles()
    for group in cycles:
        print("import cycle: " + " <-> ".join(group))
    print(f"{len(cycles)} import cycles")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main())
