# Shared with the planning suite: the demo region prepared once, a day of orders on it, and its
# on-commit capture (plans are computed when the request's transaction commits).
from tests.routes.conftest import demo_network_dir, road_network  # noqa: F401
from tests.routes.test_plans import _run_on_commit, day_of_orders  # noqa: F401
