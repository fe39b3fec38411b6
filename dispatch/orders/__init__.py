"""Orders: who sees which, their status lifecycle (services), and the CSV import with its row-by-row
errors. The base of dispatch with the fleet: planning and everything above build on it."""
