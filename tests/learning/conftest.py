"""Fixtures of the learning tests: the hand-made town of tests/network (one-way Hauptstrasse) and
the demo region, each prepared once per session."""

import pytest
from django.conf import settings

from routes.models import RoadNetworkBuild
from routes.network import RoadNetwork, build_network
from routes.road_network import forget_loaded_network
from tests.network.conftest import write_town_osm


@pytest.fixture(scope="session")
def town_net(tmp_path_factory) -> RoadNetwork:
    base = tmp_path_factory.mktemp("learning-town")
    write_town_osm(str(base / "town.osm"))
    build_network(str(base / "town.osm"), str(base / "prepared"))
    return RoadNetwork.load(str(base / "prepared"))


@pytest.fixture(scope="session")
def demo_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("learning-network") / "liechtenstein"
    build_network(str(settings.DEMO_PBF), str(directory))
    return directory


@pytest.fixture
def demo_build(db, demo_dir):
    """The demo region as the active road network build of every process."""
    build = RoadNetworkBuild.objects.create(source=str(settings.DEMO_PBF), path=str(demo_dir), active=True)
    forget_loaded_network()
    yield build
    forget_loaded_network()


@pytest.fixture(scope="session")
def demo_net(demo_dir) -> RoadNetwork:
    return RoadNetwork.load(str(demo_dir))
