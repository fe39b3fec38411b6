"""The driver's phone app: the page that works offline, its API (the route, arrive, deliver with
proof, fail with a reason) and the positions it streams. Above live operations, whose positions and
live ETAs it feeds; below customers."""
