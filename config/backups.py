"""One archive holds what a restore needs: the database, the media files, the prepared road network.

manage.py backup writes it; manage.py restore puts it back (docs/deployment.md, Backups).

The archive is a plain tar (the database dump and the photos are compressed already):

    database.pgdump     pg_dump --format=custom (PostgreSQL), or
    database.sqlite3    a copy made with SQLite's backup API (the embedded mode; safe while it runs)
    media/...           MEDIA_ROOT: proofs of delivery (photos, signatures)
    network/...         the active prepared road network (its directory as it was)
    manifest.json       what is inside, with each file's size and SHA-256, written last

A restore checks every checksum before it touches anything, refuses a database that already holds
data (orders, depots, users) unless --force, and refuses an archive made by a newer release.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import subprocess  # nosec B404 - pg_dump and pg_restore, with argument lists, never a shell
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.db import connection, connections
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from routes.models import RoadNetworkBuild

FORMAT = "dispatch-backup"
VERSION = 1
MANIFEST = "manifest.json"
CHUNK = 1024 * 1024


class BackupError(Exception):
    """What went wrong, in words for the person at the console."""


@dataclass
class BackupResult:
    path: Path
    files: int
    size: int


# --- helpers --------------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _vendor() -> str:
    return connection.vendor  # "postgresql" or "sqlite"


def _pg_args_and_env() -> tuple[list[str], dict]:
    database = settings.DATABASES["default"]
    args = ["--dbname", str(database["NAME"])]
    if database.get("HOST"):
        args += ["--host", str(database["HOST"])]
    if database.get("PORT"):
        args += ["--port", str(database["PORT"])]
    if database.get("USER"):
        args += ["--username", str(database["USER"])]
    env = {**os.environ}
    if database.get("PASSWORD"):
        env["PGPASSWORD"] = str(database["PASSWORD"])  # not on the command line, where `ps` shows it
    return args, env


def _run(command: list[str], env: dict) -> None:
    tool = command[0]
    if shutil.which(tool) is None:
        raise BackupError(f"{tool} not found: install PostgreSQL's client tools (Debian: postgresql-client)")
    result = subprocess.run(command, env=env, capture_output=True, text=True)  # noqa: S603  # nosec B603
    if result.returncode != 0:
        raise BackupError(f"{tool} failed (exit {result.returncode}): {result.stderr.strip()[-2000:]}")


def _applied_migrations() -> dict[str, list[str]]:
    applied: dict[str, list[str]] = {}
    for app, name in MigrationRecorder(connection).applied_migrations():
        applied.setdefault(app, []).append(name)
    return {app: sorted(names) for app, names in sorted(applied.items())}


def _active_network_dir() -> Path | None:
    build = RoadNetworkBuild.objects.filter(active=True).order_by("-built_at").first()
    if build is None or not Path(build.path).is_dir():
        return None
    return Path(build.path)


def _files_under(root: Path) -> list[Path]:
    return sorted(path for path in root.rglob("*") if path.is_file() and not path.is_symlink())


# --- backup ---------------------------------------------------------------------------------------


def backup_create(*, output: Path | None = None, media: bool = True, network: bool = True) -> BackupResult:
    """Write one archive; returns where. The file appears only when complete (written aside, renamed)."""
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    if output is None:
        output = Path(settings.VAR_DIR) / "backups" / f"dispatch-{stamp}.tar"
    output = Path(output)
    output.parent.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(output.name + ".partial")
    files: dict[str, dict] = {}
    manifest = {
        "format": FORMAT,
        "version": VERSION,
        "created_at": timezone.now().isoformat(),
        "database": {"vendor": _vendor()},
        "migrations": _applied_migrations(),
        "time_zone": settings.TIME_ZONE,
        "media": None,
        "network": None,
        "files": files,
    }
    with tempfile.TemporaryDirectory(dir=output.parent, prefix=".backup-") as scratch:
        dump = _dump_database(Path(scratch))
        manifest["database"]["file"] = dump.name
        with tarfile.open(partial, "w", format=tarfile.PAX_FORMAT) as archive:
            _add(archive, files, dump, dump.name)
            if media and Path(settings.MEDIA_ROOT).is_dir():
                root = Path(settings.MEDIA_ROOT)
                manifest["media"] = {"path": str(root)}
                for path in _files_under(root):
                    _add(archive, files, path, f"media/{path.relative_to(root).as_posix()}")
            network_dir = _active_network_dir() if network else None
            if network_dir is not None:
                manifest["network"] = {"path": str(network_dir)}
                for path in _files_under(network_dir):
                    _add(archive, files, path, f"network/{path.relative_to(network_dir).as_posix()}")
            manifest_path = Path(scratch) / MANIFEST
            manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True))
            archive.add(manifest_path, arcname=MANIFEST)
    os.replace(partial, output)
    return BackupResult(path=output, files=len(files), size=output.stat().st_size)


def _add(archive: tarfile.TarFile, files: dict, path: Path, name: str) -> None:
    files[name] = {"size": path.stat().st_size, "sha256": _sha256(path)}
    archive.add(path, arcname=name, recursive=False)


def _dump_database(scratch: Path) -> Path:
    if _vendor() == "postgresql":
        target = scratch / "database.pgdump"
        args, env = _pg_args_and_env()
        # Custom format: compressed, restorable table by table; no owner or grants, so it restores
        # under whichever role the new server gives the application.
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-acl", "--file", str(target), *args], env)
        return target
    if _vendor() == "sqlite":
        target = scratch / "database.sqlite3"
        connection.ensure_connection()
        destination = sqlite3.connect(target)
        try:
            # The backup API copies a consistent state even while the server writes (WAL).
            connection.connection.backup(destination)
        finally:
            destination.close()
        return target
    raise BackupError(f"cannot back up a {_vendor()} database")


# --- restore --------------------------------------------------------------------------------------


def _read_manifest(archive: tarfile.TarFile) -> dict:
    try:
        member = archive.getmember(MANIFEST)
    except KeyError:
        raise BackupError(f"not a Dispatch backup: no {MANIFEST} in the archive") from None
    manifest = json.loads(archive.extractfile(member).read())
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise BackupError(
            f"not a Dispatch backup of version {VERSION}: {manifest.get('format')} {manifest.get('version')}"
        )
    return manifest


def _safe_name(name: str) -> bool:
    path = PurePosixPath(name)
    return not path.is_absolute() and ".." not in path.parts


def backup_verify(path: Path) -> dict:
    """The archive's manifest, once every file in it matches its size and checksum."""
    with tarfile.open(path, "r") as archive:
        manifest = _read_manifest(archive)
        names = {member.name for member in archive.getmembers() if member.isfile()} - {MANIFEST}
        listed = set(manifest["files"])
        if names != listed:
            raise BackupError(f"archive and manifest disagree: {sorted(names ^ listed)[:10]}")
        for name, expected in manifest["files"].items():
            if not _safe_name(name):
                raise BackupError(f"unsafe path in the archive: {name}")
            digest = hashlib.sha256()
            size = 0
            handle = archive.extractfile(name)
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
                size += len(chunk)
            if size != expected["size"] or digest.hexdigest() != expected["sha256"]:
                raise BackupError(f"{name} is damaged: its checksum does not match the manifest")
    return manifest


def database_holds_data() -> bool:
    """Orders, depots or users: a database someone uses (a freshly migrated one has none)."""
    tables = set(connection.introspection.table_names())
    with connection.cursor() as cursor:
        for table in ("dispatch_order", "dispatch_depot", "auth_user"):
            if table in tables:
                cursor.execute(f"SELECT 1 FROM {connection.ops.quote_name(table)} LIMIT 1")  # nosec B608  # a name from the tuple above
                if cursor.fetchone():
                    return True
    return False


def _unknown_migrations(manifest: dict) -> list[str]:
    from django.db.migrations.loader import MigrationLoader

    known = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
    return [
        f"{app}.{name}" for app, names in manifest["migrations"].items() for name in names if (app, name) not in known
    ]


@dataclass
class RestoreResult:
    database: str
    media_files: int
    network_files: int
    network_path: str | None


def backup_restore(
    path: Path, *, force: bool = False, media: bool = True, network: bool = True, network_dir: Path | None = None
) -> RestoreResult:
    """Put an archive back: database, then media, then the road network; then migrate."""
    from django.core.management import call_command

    path = Path(path)
    manifest = backup_verify(path)
    vendor = manifest["database"]["vendor"]
    if vendor != _vendor():
        raise BackupError(f"this archive holds a {vendor} database; this server uses {_vendor()}")
    unknown = _unknown_migrations(manifest)
    if unknown:
        raise BackupError(
            f"the archive was made by a newer release (migrations {', '.join(unknown[:5])}): restore it with that release"
        )
    if database_holds_data() and not force:
        raise BackupError(
            "the database already holds data (orders, depots or users): restore into an empty one, or --force"
        )
    with tempfile.TemporaryDirectory(prefix=".restore-", dir=Path(settings.VAR_DIR)) as scratch:
        with tarfile.open(path, "r") as archive:
            name = manifest["database"]["file"]
            archive.extract(name, path=scratch, filter="data")
            _restore_database(Path(scratch) / name)
            media_count = network_count = 0
            if media and manifest.get("media"):
                media_count = _extract_prefix(archive, manifest, "media/", Path(settings.MEDIA_ROOT))
            network_path = None
            if network and manifest.get("network"):
                target = Path(network_dir or manifest["network"]["path"])
                network_count = _extract_prefix(archive, manifest, "network/", target)
                network_path = str(target)
                if str(target) != manifest["network"]["path"]:
                    RoadNetworkBuild.objects.filter(path=manifest["network"]["path"]).update(path=str(target))
    # An archive of an older release: bring its schema up to this one.
    call_command("migrate", interactive=False, verbosity=0)
    return RestoreResult(
        database=vendor, media_files=media_count, network_files=network_count, network_path=network_path
    )


def _extract_prefix(archive: tarfile.TarFile, manifest: dict, prefix: str, target: Path) -> int:
    target.mkdir(parents=True, exist_ok=True)
    count = 0
    for name in manifest["files"]:
        if not name.startswith(prefix):
            continue
        destination = target / name[len(prefix) :]
        destination.parent.mkdir(parents=True, exist_ok=True)
        source = archive.extractfile(name)
        partial = destination.with_name(destination.name + ".restoring")
        with open(partial, "wb") as handle:
            shutil.copyfileobj(source, handle, CHUNK)
        os.replace(partial, destination)
        count += 1
    return count


def _restore_database(dump: Path) -> None:
    if _vendor() == "postgresql":
        # Our own connections must not hold locks on the tables pg_restore drops.
        for alias in connections:
            conn = connections[alias]
            conn.close()
            if hasattr(conn, "close_pool"):
                conn.close_pool()
        args, env = _pg_args_and_env()
        # --clean --if-exists: whatever a migrate already made is replaced; one transaction: all or nothing.
        _run(
            [
                "pg_restore",
                "--clean",
                "--if-exists",
                "--no-owner",
                "--no-acl",
                "--exit-on-error",
                "--single-transaction",
                *args,
                str(dump),
            ],
            env,
        )
        return
    connection.ensure_connection()
    source = sqlite3.connect(dump)
    try:
        # Into the live connection's database (a file, or the in-memory one of a test), page by page.
        source.backup(connection.connection)
    finally:
        source.close()
