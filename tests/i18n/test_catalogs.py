"""locale/de: every msgid translated (none fuzzy), and the committed .mo files compiled from the .po
files as they are now (compiled again into a temporary folder and compared byte for byte)."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from django.conf import settings

LOCALE = Path(settings.BASE_DIR) / "locale" / "de" / "LC_MESSAGES"
DOMAINS = ["django", "djangojs"]
MSGFMT = shutil.which("msgfmt")

pytestmark = pytest.mark.skipif(MSGFMT is None, reason="needs gettext's msgfmt")


@pytest.mark.parametrize("domain", DOMAINS)
def test_every_msgid_has_a_german_translation(domain):
    po = LOCALE / f"{domain}.po"
    result = subprocess.run(  # noqa: S603 - msgfmt on our own file
        [MSGFMT, "--check-format", "--statistics", "-o", "/dev/null", str(po)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    stats = result.stderr.strip()
    assert re.fullmatch(r"\d+ translated messages?\.", stats), f"{po.name}: {stats} (run `make messages` and translate)"


@pytest.mark.parametrize("domain", DOMAINS)
def test_compiled_catalog_matches_the_po(domain, tmp_path):
    po, mo = LOCALE / f"{domain}.po", LOCALE / f"{domain}.mo"
    assert mo.exists(), f"{mo} is missing: run `make messages`"
    fresh = tmp_path / f"{domain}.mo"
    subprocess.run([MSGFMT, "--check-format", "-o", str(fresh), str(po)], check=True)  # noqa: S603
    assert fresh.read_bytes() == mo.read_bytes(), f"{mo.name} is older than {po.name}: run `make messages`"
