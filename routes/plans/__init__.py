"""Plans: what to optimize from (inputs), the solve (optimization), saving versions, edits, mid-day
re-plans and the proposals a dispatcher approves, dispatching, and the plan pages and API. Above
orders and the fleet, below live operations."""
