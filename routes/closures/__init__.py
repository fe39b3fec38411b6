"""Road closures: drawn, changed and lifted by dispatchers (services, API, page), and the re-planning a
closure sets off for the day's dispatched plans (replanning, tasks). Above plans, which it re-plans."""
