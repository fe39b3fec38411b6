import pytest
from django.conf import settings

from routes.models import RoadNetworkBuild
from routes.network import build_network
from routes.road_network import forget_loaded_network


@pytest.fixture(scope="session")
def demo_network_dir(tmp_path_factory):
    """The demo region prepared once per test session (about 4 s)."""
    directory = tmp_path_factory.mktemp("network") / "liechtenstein"
    build_network(str(settings.DEMO_PBF), str(directory))
    return directory


@pytest.fixture
def road_network(db, demo_network_dir):
    """The demo network registered as the active build, as `load_road_network` leaves it."""
    build = RoadNetworkBuild.objects.create(source=str(settings.DEMO_PBF), path=str(demo_network_dir), active=True)
    yield build
    forget_loaded_network()
