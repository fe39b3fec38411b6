"""config/settings.py read from the environment, each case in a fresh process (settings load once)."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parent.parent
ENV_NAMES = (
    "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "REDIS_URL", "VAR_DIR", "STATIC_ROOT", "MEDIA_ROOT",
    "CELERY_TASK_ALWAYS_EAGER", "SECURE_SSL_REDIRECT", "SECURE_HSTS_SECONDS", "DJANGO_SETTINGS_MODULE",
    "HOST", "PORT", "PUBLIC_BASE_URL",
)  # fmt: skip

DUMP = """
import json, django
django.setup()
from django.conf import settings
from config.celery import app
from django.db.backends.postgresql.psycopg_any import is_psycopg3
db = settings.DATABASES["default"]
print(json.dumps({
    "engine": db["ENGINE"], "name": str(db["NAME"]), "host": db.get("HOST"), "port": db.get("PORT"),
    "user": db.get("USER"), "is_psycopg3": is_psycopg3, "var_dir": str(settings.VAR_DIR),
    "channel_backend": settings.CHANNEL_LAYERS["default"]["BACKEND"],
    "channel_hosts": settings.CHANNEL_LAYERS["default"].get("CONFIG", {}).get("hosts"),
    "cache_backend": settings.CACHES["default"]["BACKEND"],
    "broker_url": app.conf.broker_url, "always_eager": app.conf.task_always_eager,
    "debug": settings.DEBUG,
}))
"""


def run(args: list[str], tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Run Python in the checkout with only the given settings variables (and a private VAR_DIR)."""
    clean = {k: v for k, v in os.environ.items() if k not in ENV_NAMES}
    clean.update({"VAR_DIR": str(tmp_path / "var"), "PYTHONDONTWRITEBYTECODE": "1"}, **env)
    clean["DJANGO_SETTINGS_MODULE"] = "config.settings"
    return subprocess.run([sys.executable, *args], cwd=BASE_DIR, env=clean, capture_output=True, text=True, timeout=60)


def dump(tmp_path: Path, **env: str) -> dict:
    result = run(["-c", DUMP], tmp_path, **env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def production_env(**extra: str) -> dict:
    env = {
        "DEBUG": "0",
        "SECRET_KEY": secrets.token_urlsafe(60),
        "ALLOWED_HOSTS": "dispatch.example.com",
    }
    # The deploy check runs against the same services as the suite, when it has them.
    for name in ("DATABASE_URL", "REDIS_URL"):
        if os.environ.get(name):
            env[name] = os.environ[name]
    env.update(extra)
    return env


def test_it_passes_the_deploy_check_with_production_settings(tmp_path):
    result = run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], tmp_path, **production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("secret_key", "reason"),
    [
        (None, "unset"),
        ("", "empty"),
        ("short-key", "too short"),
        ("dev-only-insecure-key-do-not-use-in-production", "the dev key"),
    ],
)
def test_it_refuses_to_start_in_production_without_a_real_secret_key(tmp_path, secret_key, reason):
    env = production_env()
    if secret_key is None:
        del env["SECRET_KEY"]
    else:
        env["SECRET_KEY"] = secret_key
    result = run(["manage.py", "check"], tmp_path, **env)
    assert result.returncode != 0, reason
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr and "50" in result.stderr


@pytest.mark.parametrize("allowed_hosts", [None, "", " , "])
def test_it_refuses_to_start_in_production_without_allowed_hosts(tmp_path, allowed_hosts):
    env = production_env()
    if allowed_hosts is None:
        del env["ALLOWED_HOSTS"]
    else:
        env["ALLOWED_HOSTS"] = allowed_hosts
    result = run(["manage.py", "check"], tmp_path, **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "ALLOWED_HOSTS" in result.stderr


def test_it_refuses_a_debug_value_that_is_not_a_boolean(tmp_path):
    result = run(["manage.py", "check"], tmp_path, DEBUG="maybe")
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_it_uses_postgresql_with_psycopg3_and_redis_when_configured(tmp_path):
    settings = dump(
        tmp_path,
        DATABASE_URL="postgres://dispatch:pw@db.example.com:6543/dispatch_prod",
        REDIS_URL="redis://cache.example.com:6380/2",
    )
    assert settings["engine"] == "django.db.backends.postgresql"
    assert settings["is_psycopg3"] is True
    assert (settings["name"], settings["host"], settings["port"], settings["user"]) == (
        "dispatch_prod", "db.example.com", 6543, "dispatch",
    )  # fmt: skip
    assert settings["channel_backend"] == "channels_redis.core.RedisChannelLayer"
    assert settings["channel_hosts"] == ["redis://cache.example.com:6380/2"]
    assert settings["cache_backend"] == "django.core.cache.backends.redis.RedisCache"
    assert settings["broker_url"] == "redis://cache.example.com:6380/2"
    assert settings["always_eager"] is False


def test_it_runs_embedded_without_database_or_redis(tmp_path):
    settings = dump(tmp_path)
    assert settings["engine"] == "django.db.backends.sqlite3"
    assert Path(settings["name"]).parent == tmp_path / "var"
    assert settings["var_dir"] == str(tmp_path / "var")
    assert (tmp_path / "var").is_dir()
    assert settings["channel_backend"] == "channels.layers.InMemoryChannelLayer"
    assert settings["cache_backend"] == "django.core.cache.backends.locmem.LocMemCache"
    assert settings["broker_url"] == "memory://"
    assert settings["always_eager"] is True
    assert settings["debug"] is True


LINK = """
import django
django.setup()
from customers.tracking_links import tracking_url
from customers.models import TrackingLink
print(tracking_url(TrackingLink(nonce=bytes(16))))
"""


@pytest.mark.parametrize(
    ("env", "base"),
    [
        ({}, "http://127.0.0.1:8000"),
        ({"PORT": "8811"}, "http://127.0.0.1:8811"),  # `make run PORT=8811`
        ({"HOST": "::1", "PORT": "8811"}, "http://[::1]:8811"),
        (
            {"HOST": "127.0.0.1", "PORT": "8811", "PUBLIC_BASE_URL": "https://track.example.com/"},
            "https://track.example.com",
        ),
    ],
)
def test_tracking_links_point_where_the_app_is_served(tmp_path, env, base):
    result = run(["-c", LINK], tmp_path, **env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().startswith(f"{base}/t/"), result.stdout
