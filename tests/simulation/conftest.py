import pytest

from dispatch.demo.seeding import demo_seed_company
from tests.routes.conftest import demo_network_dir, road_network  # noqa: F401 - fixtures for these tests


@pytest.fixture
def company(request):
    """The demo company (depots, zones, vans and bikes with their drivers, shifts 08:00-18:00) on the demo region."""
    request.getfixturevalue("road_network")
    depots, _ = demo_seed_company()
    return depots
