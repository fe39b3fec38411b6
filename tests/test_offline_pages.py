"""The CDN check that page tests share leaves random letters out and still finds a CDN."""

import pytest

from tests.offline_pages import assert_no_cdn

MAP_IN_AN_ATTRIBUTE = (
    '<iframe srcdoc="&lt;script nonce=&quot;vyg3xxcdnwf_zvsdkhrtp4gp&quot; '
    'src=&quot;/static/vendor/leaflet/leaflet.js&quot;&gt;&lt;/script&gt;"></iframe>'
)
A_FORM = '<form method="post"><input type="hidden" name="csrfmiddlewaretoken" value="aBcDnX9cdn"></form>'
A_PAGE = '<script nonce="zcdnoe4-_" src="/static/js/dashboard.js"></script>'
A_META_TAG = '<meta name="csrf-token" content="Xcdn0aB">'


@pytest.mark.parametrize(
    "page", [MAP_IN_AN_ATTRIBUTE, A_FORM, A_PAGE, A_META_TAG], ids=["escaped nonce", "csrf input", "nonce", "csrf meta"]
)
def test_random_letters_that_spell_cdn_are_not_a_cdn(page):
    assert_no_cdn(page)


def test_a_random_part_the_test_knows_is_left_out():
    page = '<div data-token="q-CDNz_8">'
    assert_no_cdn(page, "q-CDNz_8")
    with pytest.raises(AssertionError, match="a CDN in the page"):
        assert_no_cdn(page)


@pytest.mark.parametrize(
    "page",
    [
        '<script nonce="abc" src="https://cdn.jsdelivr.net/npm/leaflet@1.9.4/dist/leaflet.js"></script>',
        MAP_IN_AN_ATTRIBUTE.replace("/static/vendor/leaflet", "https://unpkg.com/cdnjs/leaflet"),
    ],
    ids=["script", "inside the map"],
)
def test_a_cdn_outside_them_is_found(page):
    with pytest.raises(AssertionError, match="a CDN in the page"):
        assert_no_cdn(page)
