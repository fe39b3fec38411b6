"""manage.py backup and restore: a seeded database comes back in a fresh one, and works."""

import json
import os
import subprocess  # nosec B404 - the test runs manage.py and Python itself
import sys
import tarfile
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command

from customers.tracking_links import tracking_link_ensure
from customers.tracking_tokens import token_for_nonce
from dispatch.models import Order, ProofOfDelivery, Vehicle
from dispatch.orders.services import order_change_status
from routes.models import Plan, Stop
from tests.routes.test_plans import DAY, VADUZ_POINTS, import_orders

PHOTO = b"\xff\xd8\xff\xe0 a photo of the parcel at the door \xff\xd9"
MANAGE = str(Path(settings.BASE_DIR) / "manage.py")

CHECK_RESTORED = """
import json, sys, django
django.setup()
from django.contrib.auth import get_user_model
from django.test import Client
from routes.models import Plan, RoadNetworkBuild, Stop
from routes.road_network import get_road_network

expected = json.loads(sys.argv[1])
client = Client()
page = client.get(f"/t/{expected['token']}/")
photo = client.get(f"/t/{expected['token']}/proof/photo/")
staff = Client()
staff.force_login(get_user_model().objects.get(username="disp_a"))
plan = staff.get(f"/api/plans/{expected['plan']}/")
print(json.dumps({
    "tracking": page.status_code,
    "reference_shown": expected["reference"] in page.content.decode(),
    "photo": photo.status_code,
    "photo_bytes": b"".join(photo.streaming_content).hex() if photo.status_code == 200 else None,
    "plan": plan.status_code,
    "plan_stops": sum(len(route["stops"]) for route in plan.json()["routes"]) if plan.status_code == 200 else None,
    "stops": Stop.objects.filter(route__plan_id=expected["plan"]).count(),
    "plans": Plan.objects.count(),
    "network_loads": get_road_network() is not None,
    "network_path": RoadNetworkBuild.objects.get(active=True).path,
}))
"""


def _fresh_environment(tmp_path: Path) -> tuple[dict, callable]:
    """The environment of a second installation with an empty database; and how to drop it."""
    env = {**os.environ, "VAR_DIR": str(tmp_path / "restored-var"), "MEDIA_ROOT": str(tmp_path / "restored-media")}
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    if settings.DATABASES["default"]["ENGINE"].endswith("postgresql"):
        import psycopg

        database = settings.DATABASES["default"]
        name = f"{database['NAME']}_restored_{os.getpid()}"
        params = {
            k: database[v]
            for k, v in (("host", "HOST"), ("port", "PORT"), ("user", "USER"), ("password", "PASSWORD"))
            if database.get(v)
        }
        with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
            admin.execute(f'CREATE DATABASE "{name}"')
        user = database.get("USER") or "postgres"
        password = f":{database['PASSWORD']}" if database.get("PASSWORD") else ""
        env["DATABASE_URL"] = (
            f"postgres://{user}{password}@{database.get('HOST') or '127.0.0.1'}:{database.get('PORT') or 5432}/{name}"
        )

        def drop():
            with psycopg.connect(dbname="postgres", autocommit=True, **params) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

        return env, drop
    env.pop("DATABASE_URL", None)
    return env, lambda: None


def _manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, MANAGE, *args], env=env, capture_output=True, text=True, timeout=300)  # noqa: S603


@pytest.fixture
def seeded(transactional_db, settings, tmp_path, dispatcher_a_client, depot_a, vehicle_a, driver_a, road_network):
    """A day planned and dispatched, one order delivered with a photo, its tracking link (committed:
    pg_dump reads from another connection)."""
    settings.MEDIA_ROOT = tmp_path / "media"
    Vehicle.objects.filter(drivers__isnull=True).update(available=False)
    rows = [f"R{i},{DAY},{lat},{lon},,,{2 + i},,0" for i, (lat, lon) in enumerate(VADUZ_POINTS[:5])]
    import_orders(dispatcher_a_client, rows)
    response = dispatcher_a_client.post("/api/plans/", {"date": str(DAY)}, format="json")
    plan = Plan.objects.get(pk=response.json()["id"])
    assert plan.status == "done", plan.error
    assert dispatcher_a_client.post(f"/api/plans/{plan.pk}/dispatch/").status_code == 200
    stop = Stop.objects.filter(route__plan=plan).select_related("order").order_by("sequence").first()
    order = stop.order
    for status in ("en_route", "arrived", "delivered"):
        order_change_status(order=order, to_status=status)
    proof = ProofOfDelivery(order=order, recipient_name="Kim Muster", delivered_at=stop.eta)
    proof.photo.save("door.jpg", ContentFile(PHOTO), save=False)
    proof.save()
    link = tracking_link_ensure(order=Order.objects.get(pk=order.pk))
    return {"plan": plan.pk, "token": token_for_nonce(bytes(link.nonce)), "reference": order.reference}


def test_a_backup_restores_into_a_fresh_database_and_works_again(seeded, tmp_path):
    archive = tmp_path / "backup.tar"
    call_command("backup", output=archive)
    with tarfile.open(archive) as tar:
        manifest = json.loads(tar.extractfile("manifest.json").read())
    assert any(name.startswith("media/proof/") for name in manifest["files"])
    assert any(name.startswith("network/") for name in manifest["files"])
    assert manifest["database"]["file"] in manifest["files"]

    env, drop = _fresh_environment(tmp_path)
    try:
        restored = _manage(env, "restore", str(archive), "--network-dir", str(tmp_path / "restored-network"))
        assert restored.returncode == 0, restored.stderr[-3000:]
        assert "Restored" in restored.stdout
        check = subprocess.run(  # noqa: S603
            [sys.executable, "-c", CHECK_RESTORED, json.dumps(seeded)],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert check.returncode == 0, check.stderr[-3000:]
        result = json.loads(check.stdout.strip().splitlines()[-1])
        assert result["tracking"] == 200 and result["reference_shown"]
        assert result["photo"] == 200 and bytes.fromhex(result["photo_bytes"]) == PHOTO
        assert result["plan"] == 200 and result["plan_stops"] == result["stops"] == 5
        assert result["plans"] == Plan.objects.count()
        assert result["network_loads"] and result["network_path"] == str(tmp_path / "restored-network")

        again = _manage(env, "restore", str(archive))
        assert again.returncode != 0 and "already holds data" in again.stderr
        forced = _manage(env, "restore", str(archive), "--force", "--no-network")
        assert forced.returncode == 0, forced.stderr[-3000:]
    finally:
        drop()


def test_a_damaged_archive_is_refused_before_anything_is_touched(seeded, tmp_path):
    archive = tmp_path / "backup.tar"
    call_command("backup", output=archive, no_network=True)
    data = bytearray(archive.read_bytes())
    photo_at = data.find(PHOTO)
    assert photo_at > 0
    data[photo_at] ^= 0xFF
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(bytes(data))
    with pytest.raises(CommandError, match="damaged"):
        call_command("restore", str(damaged), verify_only=True)
    with pytest.raises(CommandError, match="damaged"):
        call_command("restore", str(damaged), force=True)
    assert Order.objects.filter(reference=seeded["reference"]).exists()


def test_it_refuses_to_restore_over_a_database_with_data(seeded, tmp_path):
    archive = tmp_path / "backup.tar"
    call_command("backup", output=archive, no_network=True, no_media=True)
    with pytest.raises(CommandError, match="already holds data"):
        call_command("restore", str(archive))
