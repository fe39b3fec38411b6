"""Pages that load nothing from the internet: look for CDNs with the page's random parts taken out.

A page carries random letters: CSP nonces (``secrets.token_urlsafe``) on its scripts, also inside a
map document embedded in an attribute with its quotes escaped, the CSRF token of its forms and of
its ``csrf-token`` meta tag, and what the test itself knows (a tracking link's token). Once in a few
hundred pages they spell "cdn" ("...zcdnoe4", "vyg3xxcdnwf_..."), which failed tests that searched
the whole page."""

import re

_QUOTE = '(?:"|&quot;)'  # a map document sits in an attribute with its quotes escaped
_RANDOM = re.compile(
    f"nonce={_QUOTE}[A-Za-z0-9_-]*{_QUOTE}"
    f"|name={_QUOTE}csrfmiddlewaretoken{_QUOTE} value={_QUOTE}[A-Za-z0-9]*{_QUOTE}"
    f"|name={_QUOTE}csrf-token{_QUOTE} content={_QUOTE}[A-Za-z0-9]*{_QUOTE}"
)


def without_random_letters(html: str) -> str:
    return _RANDOM.sub("", html)


def assert_no_cdn(html: str, *random_parts: str) -> None:
    """No "cdn" anywhere in the page but in its random letters and the ``random_parts`` given."""
    page = without_random_letters(html)
    for part in random_parts:
        page = page.replace(part, "")
    found = re.search("cdn", page, re.IGNORECASE)
    assert found is None, f"a CDN in the page: ...{page[max(0, found.start() - 80) : found.end() + 80]}..."
