"""Browsers ask for /favicon.ico on pages that name no icon (the admin's): send them to ours."""

from django.http import HttpResponsePermanentRedirect
from django.templatetags.static import static


def favicon(request):
    # The static URL is looked up per request: with production's manifest storage it exists only
    # after collectstatic, which importing the URLs must not need.
    return HttpResponsePermanentRedirect(static("img/favicon.svg"))
