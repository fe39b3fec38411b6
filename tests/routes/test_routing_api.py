"""Routing, geocoding and closures through the API, on the real demo region (Liechtenstein)."""

import json
import math
from pathlib import Path

import pytest
from django.core.management import call_command

from dispatch.geometry import haversine_m
from routes.models import RoadClosure, RoadNetworkBuild

VADUZ_CENTRE = {"lat": 47.1410, "lon": 9.5215}
ESCHEN = {"lat": 47.2060, "lon": 9.5268}
SCHAAN = {"lat": 47.1660, "lon": 9.5100}
# A band across the whole valley between Vaduz and Schaan: every road through it is closed.
VALLEY_BAND = {
    "type": "Polygon",
    "coordinates": [[[9.40, 47.155], [9.70, 47.155], [9.70, 47.158], [9.40, 47.158], [9.40, 47.155]]],
}


def matrix(client, points, profile="car", **extra):
    response = client.post("/api/routing/matrix/", {"profile": profile, "points": points, **extra}, format="json")
    assert response.status_code == 200, response.json()
    return response.json()


def test_it_answers_503_naming_the_missing_network(dispatcher_a_client):
    response = dispatcher_a_client.post("/api/routing/matrix/", {"points": [VADUZ_CENTRE]}, format="json")
    assert response.status_code == 503
    assert "load_road_network" in response.json()["detail"]


def test_it_computes_road_matrices_never_shorter_than_the_straight_line(dispatcher_a_client, road_network):
    points = [VADUZ_CENTRE, ESCHEN, SCHAAN]
    result = matrix(dispatcher_a_client, points)
    for i, a in enumerate(points):
        assert result["durations"][i][i] == 0
        for j, b in enumerate(points):
            if i != j:
                straight = haversine_m(a["lat"], a["lon"], b["lat"], b["lon"])
                assert result["distances"][i][j] >= straight
                assert 0 < result["durations"][i][j] < 3600


def test_it_slows_cars_in_the_rush_hour(dispatcher_a_client, road_network):
    night = matrix(dispatcher_a_client, [VADUZ_CENTRE, ESCHEN], departure="2026-11-24T03:00:00+01:00")
    rush = matrix(dispatcher_a_client, [VADUZ_CENTRE, ESCHEN], departure="2026-11-24T08:00:00+01:00")
    assert rush["durations"][0][1] > night["durations"][0][1] * 1.1


def test_it_routes_through_points_with_a_road_geometry(dispatcher_a_client, road_network):
    response = dispatcher_a_client.post(
        "/api/routing/route/", {"profile": "bike", "points": [VADUZ_CENTRE, SCHAAN, ESCHEN]}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["geometry"]["type"] == "LineString"
    first, last = body["geometry"]["coordinates"][0], body["geometry"]["coordinates"][-1]
    assert math.isclose(first[1], VADUZ_CENTRE["lat"], abs_tol=1e-3) and math.isclose(
        last[1], ESCHEN["lat"], abs_tol=1e-3
    )
    assert len(body["legs"]) == 2
    assert body["distance_m"] == pytest.approx(sum(leg["distance_m"] for leg in body["legs"]), abs=1)


def test_it_detours_around_a_closure_and_restores_when_lifted(dispatcher_a_client, road_network):
    before = matrix(dispatcher_a_client, [VADUZ_CENTRE, ESCHEN])["durations"][0][1]
    created = dispatcher_a_client.post("/api/closures/", {"geometry": VALLEY_BAND, "reason": "flood"}, format="json")
    assert created.status_code == 201
    closure_id = created.json()["id"]
    during = matrix(dispatcher_a_client, [VADUZ_CENTRE, ESCHEN])["durations"][0][1]
    assert during is None or during > before * 1.2
    assert dispatcher_a_client.delete(f"/api/closures/{closure_id}/").status_code == 204
    assert RoadClosure.objects.get(id=closure_id).lifted_at is not None
    after = matrix(dispatcher_a_client, [VADUZ_CENTRE, ESCHEN])["durations"][0][1]
    assert after == pytest.approx(before, rel=1e-6)


def test_it_ignores_a_closure_that_has_not_started(dispatcher_a_client, road_network):
    before = matrix(dispatcher_a_client, [VADUZ_CENTRE, ESCHEN])["durations"][0][1]
    dispatcher_a_client.post(
        "/api/closures/",
        {"geometry": VALLEY_BAND, "reason": "works next year", "starts_at": "2030-01-01T00:00:00Z"},
        format="json",
    )
    assert matrix(dispatcher_a_client, [VADUZ_CENTRE, ESCHEN])["durations"][0][1] == pytest.approx(before)


def test_it_bumps_the_version_when_a_closure_changes(dispatcher_a_client, road_network):
    closure_id = dispatcher_a_client.post(
        "/api/closures/", {"geometry": VALLEY_BAND, "reason": "x"}, format="json"
    ).json()["id"]
    response = dispatcher_a_client.patch(f"/api/closures/{closure_id}/", {"reason": "bridge repair"}, format="json")
    assert response.status_code == 200
    assert response.json()["version"] == 2


@pytest.mark.parametrize(
    "geometry",
    [
        {"type": "Point", "coordinates": [9.5, 47.1]},
        {"type": "LineString", "coordinates": [[9.5, 47.1]]},
        {"type": "Polygon", "coordinates": [[[9.5, 47.1], [9.6, 47.1], [9.6, 47.2], [9.5, 47.1 + 1e-3]]]},
        {"type": "LineString", "coordinates": [[9.5, 95], [9.6, 47.1]]},
    ],
)
def test_it_rejects_bad_closure_geometry_and_writes_nothing(dispatcher_a_client, geometry):
    response = dispatcher_a_client.post("/api/closures/", {"geometry": geometry, "reason": "x"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["field"] == "geometry"
    assert not RoadClosure.objects.exists()


def test_it_geocodes_tolerantly_from_the_extract(dispatcher_a_client, road_network):
    response = dispatcher_a_client.get("/api/routing/geocode/", {"q": "dorfstr. 24 triesen"})
    assert response.status_code == 200
    best = response.json()[0]
    assert best["label"].startswith("Dorfstrasse 24") and "Triesen" in best["label"]
    assert 47.0 < best["lat"] < 47.3 and best["score"] > 0.8


def test_it_imports_address_only_rows_by_geocoding_them(dispatcher_a_client, depot_a, road_network):
    csv = 'reference,date,address\nGEO-1,2026-11-24,"Dorfstrasse 24, 9495 Triesen"\nGEO-2,2026-11-24,Nowhere Lane 999 Atlantis\n'
    response = dispatcher_a_client.post("/api/orders/import/", {"file": _upload(csv)}, format="multipart")
    assert response.status_code == 400
    assert response.json()["errors"] == [
        {
            "row": 3,
            "field": "address",
            "value": "Nowhere Lane 999 Atlantis",
            "message": "address not found in the region's address data",
        }
    ]
    response = dispatcher_a_client.post(
        "/api/orders/import/", {"file": _upload(csv.rsplit("GEO-2", 1)[0])}, format="multipart"
    )
    assert response.status_code == 201
    order = dispatcher_a_client.get(f"/api/orders/{response.json()['orders'][0]}/").json()
    assert order["geocoded"] is True
    assert order["lat"] == pytest.approx(47.108, abs=0.002)
    assert order["snap_distance_m"] < 100


def test_it_flags_orders_far_from_any_road(dispatcher_a_client, depot_a, road_network, settings):
    csv = "reference,date,latitude,longitude\nFAR-1,2026-11-24,47.30,9.80\n"
    response = dispatcher_a_client.post("/api/orders/import/", {"file": _upload(csv)}, format="multipart")
    assert response.status_code == 201
    warning = response.json()["warnings"][0]
    assert warning["row"] == 2 and "from the nearest road" in warning["message"]
    order = dispatcher_a_client.get(f"/api/orders/{response.json()['orders'][0]}/").json()
    assert order["snap_distance_m"] > settings.SNAP_LIMIT_M


def test_it_loads_a_network_with_the_command(db, tmp_path, settings):
    settings.ROAD_NETWORK_DIR = tmp_path
    call_command("load_road_network")
    build = RoadNetworkBuild.objects.get(active=True)
    assert build.summary["profiles"]["car"]["arcs"] > 1000
    call_command("load_road_network", "--if-missing")
    assert RoadNetworkBuild.objects.count() == 1

    # after an upgrade to a new prepared format, `make run` (--if-missing) prepares it again
    manifest = Path(build.path) / "manifest.json"
    manifest.write_text(json.dumps({**json.loads(manifest.read_text()), "format_version": 1}))
    call_command("load_road_network", "--if-missing")
    rebuilt = RoadNetworkBuild.objects.get(active=True)
    assert rebuilt.pk != build.pk and RoadNetworkBuild.objects.count() == 2
    assert json.loads((Path(rebuilt.path) / "manifest.json").read_text())["format_version"] > 1


def _upload(text: str):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("orders.csv", text.encode(), content_type="text/csv")


def test_a_closure_dated_outside_our_times_is_refused_naming_the_field(dispatcher_a_client):
    """The fuzzer's PATCH of a closure to the year 156 came back with a local offset of +00:38:04
    (Vaduz's mean solar time), which no RFC 3339 client reads: such dates are typos, refused."""
    line = {"type": "LineString", "coordinates": [[9.5213, 47.1399], [9.5235, 47.145]]}
    body = {"geometry": line, "reason": "works", "starts_at": "0156-02-18T06:17:26+13:33"}
    response = dispatcher_a_client.post("/api/closures/", body, format="json")
    assert response.status_code == 400
    [error] = response.json()["errors"]
    assert error["field"] == "starts_at" and "the year 156" in error["message"]
    body = {"geometry": line, "reason": "works", "ends_at": "7421-01-16T04:10:40Z"}
    response = dispatcher_a_client.post("/api/closures/", body, format="json")
    assert response.status_code == 400 and response.json()["errors"][0]["field"] == "ends_at"
