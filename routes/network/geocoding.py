"""Address search: a local index built from the OSM extract, and a Nominatim adapter.

Both implement :class:`Geocoder`. The local index tolerates case, accents,
German/Portuguese street abbreviations ("str.", "strasse", "straße", "R.",
"Av."), missing spaces in compounds, small typos, extra commas, postcode with or
without city, and house numbers with letters ("12a", "12 a").
"""

from __future__ import annotations

import re
import threading
from collections import defaultdict
from collections.abc import Iterable
from difflib import SequenceMatcher
from typing import Any, Protocol, TypedDict

from unidecode import unidecode

DEFAULT_MIN_SCORE = 0.75
# Weights of the parts of an address in the 0..1 score: the street name decides,
# the house number places the stop, postcode/city only disambiguate.
STREET_WEIGHT, NUMBER_WEIGHT, LOCALITY_WEIGHT = 0.6, 0.25, 0.15
STREET_CANDIDATES = 40


class GeocodeCandidate(TypedDict):
    label: str
    lat: float
    lon: float
    score: float  # 0..1, 1 = every part of the query matched exactly


class Geocoder(Protocol):
    def search(self, query: str, limit: int = 5) -> list[GeocodeCandidate]:
        """Candidates for ``query``, best first."""
        ...

    def geocode_one(self, query: str, min_score: float = DEFAULT_MIN_SCORE) -> GeocodeCandidate | None:
        """The best candidate scoring at least ``min_score``, else None."""
        ...


_ABBREVIATIONS = {
    "str": "strasse",
    "r": "rua",
    "av": "avenida",
    "avda": "avenida",
    "pr": "praca",
    "pc": "praca",
    "tv": "travessa",
    "trav": "travessa",
    "lg": "largo",
    "al": "alameda",
    "estr": "estrada",
}
_POSTCODE_RE = re.compile(r"\b(\d{4}-\d{3}|\d{4,5})\b")
_NUMBER_RE = re.compile(r"^(\d+)([a-z]?)$")


def normalize_words(text: str) -> list[str]:
    """Lower-case ASCII words with street abbreviations expanded."""
    text = unidecode(text or "").lower()
    words = []
    for word in re.findall(r"[a-z0-9]+", text):
        word = _ABBREVIATIONS.get(word, word)
        # "Hauptstr." / "Hauptstr" / "Hauptstraße" all become "hauptstrasse"
        if word.endswith("str") and len(word) > 3:
            word += "asse"
        elif word.endswith("strase"):
            word = word[:-6] + "strasse"
        words.append(word)
    return words


def normalize_housenumber(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", unidecode(text or "").lower())


def _trigrams(text: str) -> set[str]:
    padded = f"  {text} "
    return {padded[i : i + 3] for i in range(len(padded) - 2)}


def _address_label(street, housenumber, postcode, city) -> str:
    locality = " ".join(part for part in (postcode, city) if part)
    head = f"{street} {housenumber}".strip()
    return f"{head}, {locality}" if locality else head


class LocalGeocoder:
    """Geocoder over the addresses of the OSM extract the network was built from.

    ``addresses`` holds dicts with street, housenumber, postcode, city, lat, lon.
    The search index is built on first use (thread-safe).
    """

    def __init__(self, addresses: Iterable[dict[str, Any]]):
        self.addresses = list(addresses)
        self._lock = threading.Lock()
        self._ready = False

    def _build(self) -> None:
        with self._lock:
            if self._ready:
                return
            streets: dict[str, list[int]] = defaultdict(list)
            self._number = []
            self._city_words: list[set[str]] = []
            self._postcodes = set()
            self._known_city_words: set[str] = set()
            for index, address in enumerate(self.addresses):
                streets["".join(normalize_words(address["street"]))].append(index)
                self._number.append(normalize_housenumber(address["housenumber"]))
                city_words = set(normalize_words(address.get("city", "")))
                self._city_words.append(city_words)
                self._known_city_words |= city_words
                if address.get("postcode"):
                    self._postcodes.add(address["postcode"].strip())
            self._street_keys = list(streets)
            self._street_members = [streets[key] for key in self._street_keys]
            self._trigram_index: dict[str, list[int]] = defaultdict(list)
            for street_id, key in enumerate(self._street_keys):
                for gram in _trigrams(key):
                    self._trigram_index[gram].append(street_id)
            self._ready = True

    def _parse(self, query: str):
        raw = unidecode(query or "").lower()
        postcode = None
        for match in _POSTCODE_RE.finditer(raw):
            if match.group(1) in self._postcodes or "-" in match.group(1):
                postcode = match.group(1)
                raw = raw[: match.start()] + " " + raw[match.end() :]
                break
        words = normalize_words(raw)
        number = None
        rest = []
        for i, word in enumerate(words):
            if number is None and _NUMBER_RE.match(word):
                number = word
                # "12 a": a single letter right after the number belongs to it
                if i + 1 < len(words) and len(words[i + 1]) == 1 and words[i + 1].isalpha():
                    number += words[i + 1]
                    words[i + 1] = ""
                continue
            if word:
                rest.append(word)
        return postcode, number, rest

    def _street_scores(self, words: list[str]) -> list[tuple[float, int]]:
        street_words = [w for w in words if w not in self._known_city_words]
        variants = {"".join(words), "".join(street_words)} - {""}
        scores: dict[int, float] = {}
        for variant in variants:
            shared: dict[int, int] = defaultdict(int)
            for gram in _trigrams(variant):
                for street_id in self._trigram_index.get(gram, ()):
                    shared[street_id] += 1
            best = sorted(shared, key=shared.get, reverse=True)[:STREET_CANDIDATES]
            for street_id in best:
                ratio = SequenceMatcher(None, variant, self._street_keys[street_id]).ratio()
                scores[street_id] = max(scores.get(street_id, 0.0), ratio)
        return sorted(((s, i) for i, s in scores.items()), reverse=True)[:10]

    def search(self, query: str, limit: int = 5) -> list[GeocodeCandidate]:
        self._build()
        postcode, number, words = self._parse(query)
        if not words:
            return []
        query_city_words = {w for w in words if w in self._known_city_words}
        candidates: list[GeocodeCandidate] = []
        for street_score, street_id in self._street_scores(words):
            best = None
            for index in self._street_members[street_id]:
                address = self.addresses[index]
                if number is None:
                    number_score = 0.5
                elif self._number[index] == number:
                    number_score = 1.0
                elif re.sub(r"\D", "", self._number[index]) == re.sub(r"\D", "", number):
                    number_score = 0.7  # "12" asked, only "12a" known (or the reverse)
                else:
                    number_score = 0.0
                locality_parts = []
                if postcode:
                    locality_parts.append(float(address.get("postcode", "").strip() == postcode))
                if query_city_words:
                    locality_parts.append(float(bool(query_city_words & self._city_words[index])))
                locality = max(locality_parts) if locality_parts else 0.5
                score = STREET_WEIGHT * street_score + NUMBER_WEIGHT * number_score + LOCALITY_WEIGHT * locality
                if best is None or score > best[0]:
                    best = (score, address)
                if number is None:
                    break  # no number asked: one representative per street
            score, address = best
            candidates.append(
                GeocodeCandidate(
                    label=_address_label(
                        address["street"],
                        address["housenumber"] if number is not None else "",
                        address.get("postcode", ""),
                        address.get("city", ""),
                    ),
                    lat=float(address["lat"]),
                    lon=float(address["lon"]),
                    score=round(float(score), 4),
                )
            )
        candidates.sort(key=lambda c: c["score"], reverse=True)
        return candidates[:limit]

    def geocode_one(self, query: str, min_score: float = DEFAULT_MIN_SCORE) -> GeocodeCandidate | None:
        hits = self.search(query, limit=1)
        return hits[0] if hits and hits[0]["score"] >= min_score else None


class NominatimGeocoder:
    """Nominatim through geopy, for production; geopy is imported on first use.

    ``user_agent`` is required by Nominatim's usage policy; restrict results with
    ``country_codes`` ("pt,li") and ``viewbox`` ((lat1, lon1), (lat2, lon2)).
    The score is Nominatim's ``importance`` (0..1), a relevance hint, not a
    match quality like the local index gives.
    """

    def __init__(
        self,
        user_agent: str,
        *,
        domain: str | None = None,
        country_codes: str | None = None,
        viewbox: tuple[tuple[float, float], tuple[float, float]] | None = None,
        timeout_s: float = 5.0,
    ):
        self.user_agent = user_agent
        self.domain = domain
        self.country_codes = country_codes
        self.viewbox = viewbox
        self.timeout_s = timeout_s
        self._client = None

    def _nominatim(self):
        if self._client is None:
            from geopy.geocoders import Nominatim  # optional dependency, production only

            kwargs = {"user_agent": self.user_agent, "timeout": self.timeout_s}
            if self.domain:
                kwargs["domain"] = self.domain
            self._client = Nominatim(**kwargs)
        return self._client

    def search(self, query: str, limit: int = 5) -> list[GeocodeCandidate]:
        locations = self._nominatim().geocode(
            query,
            exactly_one=False,
            limit=limit,
            country_codes=self.country_codes,
            viewbox=self.viewbox,
            bounded=self.viewbox is not None,
        )
        return [
            GeocodeCandidate(
                label=location.address,
                lat=float(location.latitude),
                lon=float(location.longitude),
                score=float(min(max(location.raw.get("importance", 0.5), 0.0), 1.0)),
            )
            for location in locations or []
        ]

    def geocode_one(self, query: str, min_score: float = 0.0) -> GeocodeCandidate | None:
        hits = self.search(query, limit=1)
        return hits[0] if hits and hits[0]["score"] >= min_score else None
