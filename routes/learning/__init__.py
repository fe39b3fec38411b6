"""Learning travel and doorstep times from the fleet's own positions and stop actions (issue 18).

matching (map matching on our road graph), speeds (per road stretch and hour), doorstep (service and
access times) are plain Python; services (the nightly learning, choosing the active version),
selectors (the active version, the time at an order's door) and tasks sit on the Django models.
The road network applies the active version's speeds in every process (routes.road_network).
"""
