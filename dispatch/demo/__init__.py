"""The demo: the Liechtenstein company `make run` loads (depots, fleet, drivers, orders from real
addresses, 90 days of history) and the fleet simulator that drives its phones (SIMULATION.md). It
builds on every layer, so it sits with the pages at the top; nothing but commands imports it."""
