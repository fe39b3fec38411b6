import pytest

from routes.network import LocalGeocoder, NominatimGeocoder
from routes.network.geocoding import normalize_words


@pytest.mark.parametrize(
    "query",
    ["Landstraße 12a, 9495 Triesen", "landstrasse 12A triesen", "Landstr. 12 a",
     "LANDSTR 12a, 9495",
     "  Land strasse ,, 12a ", "Landstrase 12a Triesen"],
)  # fmt: skip
def test_it_finds_an_address_written_many_ways(town, query):
    hit = town.geocoder.geocode_one(query)
    assert hit is not None
    assert hit["label"] == "Landstraße 12a, 9495 Triesen"
    # a way's address sits at the centroid of its outline
    assert hit["lat"] == pytest.approx(47.00155) and hit["lon"] == pytest.approx(9.5031)


def test_it_ignores_accents_and_case(town):
    hit = town.geocoder.geocode_one("STADTLE 35, Vaduz")
    assert hit["label"] == "Städtle 35, 9490 Vaduz"
    assert hit["score"] == 1.0


def test_it_accepts_a_postcode_without_the_city(town):
    assert town.geocoder.geocode_one("Bahnhofstr. 7, 9494")["label"].startswith("Bahnhofstrasse 7")


def test_it_ranks_the_right_city_first_and_scores_candidates(town):
    hits = town.geocoder.search("Bahnhofstrasse 7 Schaan", limit=5)
    assert hits[0]["label"] == "Bahnhofstrasse 7, 9494 Schaan"
    assert all(0 <= hit["score"] <= 1 for hit in hits)
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)


@pytest.mark.parametrize("query", ["Nowhere Lane 5", "Städtle 99", "", "12345"])
def test_it_returns_none_for_unknown_addresses(town, query):
    assert town.geocoder.geocode_one(query) is None


def test_it_normalizes_street_abbreviations():
    assert normalize_words("Hauptstr. 3") == ["hauptstrasse", "3"]
    assert normalize_words("Haupt Str.") == ["haupt", "strasse"]
    assert normalize_words("R. de Santa Catarina") == ["rua", "de", "santa", "catarina"]


def test_it_works_without_any_addresses():
    assert LocalGeocoder([]).search("Städtle 35") == []


def test_it_loads_geopy_only_when_nominatim_is_used():
    geocoder = NominatimGeocoder("dispatch-tests", country_codes="li")
    assert geocoder._client is None  # constructing it imports nothing
    try:
        import geopy  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError):
            geocoder.search("Städtle 35, Vaduz")
