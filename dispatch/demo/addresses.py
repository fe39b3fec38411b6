"""Real street addresses from an OpenStreetMap extract, for demo data."""

from dataclasses import dataclass

import osmium


@dataclass(frozen=True)
class Address:
    street: str
    housenumber: str
    postcode: str
    city: str
    lat: float
    lon: float

    @property
    def label(self) -> str:
        return f"{self.street} {self.housenumber}, {self.postcode} {self.city}".strip(", ")


def read_addresses(pbf_path) -> list[Address]:
    """Every node or way with a street and house number; ways are placed at their nodes' mean."""
    addresses = []
    processor = (
        osmium.FileProcessor(str(pbf_path)).with_locations().with_filter(osmium.filter.KeyFilter("addr:housenumber"))
    )
    for obj in processor:
        tags = obj.tags
        street = tags.get("addr:street") or tags.get("addr:place")
        if not street:
            continue
        if obj.is_node():
            lat, lon = obj.location.lat, obj.location.lon
        elif obj.is_way():
            points = [n.location for n in obj.nodes if n.location.valid()]
            if not points:
                continue
            lat = sum(p.lat for p in points) / len(points)
            lon = sum(p.lon for p in points) / len(points)
        else:
            continue
        addresses.append(
            Address(
                street=street,
                housenumber=tags.get("addr:housenumber", ""),
                postcode=tags.get("addr:postcode", ""),
                city=tags.get("addr:city") or tags.get("addr:place", ""),
                lat=round(lat, 6),
                lon=round(lon, 6),
            )
        )
    return addresses
