"""Map documents (dispatch.maps.drawing) carry their data as written: no text of an order is template code.

branca compiles the markup of its elements as Jinja templates; the maps' elements are put in as finished
markup instead, so an order's "{{ … }}" is not run and its "{#" or "{%" does not break the page.
"""

from datetime import date

import pytest

from dispatch.maps import drawing as maps
from dispatch.models import Order


@pytest.mark.parametrize("name", ["Probe {{ 7*7 }} end", "Smith {# 2", "Shop {% if x %} Ltd"])
def test_an_order_whose_name_looks_like_template_code_is_drawn_as_written(depot_a, name):
    order = Order(
        reference="R-1", date=date(2026, 12, 5), depot=depot_a, customer_name=name, address="Städtle 1",
        lat=47.14, lon=9.52,
    )  # fmt: skip

    html = maps.orders_map_html(orders=[order], depots=[depot_a], zones=[])

    assert f'"customer": "{name}"' in html
    assert "Probe 49 end" not in html
