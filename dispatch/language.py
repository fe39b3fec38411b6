"""The language of the dashboard, the driver app and the admin: the user's setting, else the browser.

LocaleMiddleware (after the session) picks the language from the cookie or Accept-Language;
UserLanguageMiddleware (after authentication) overrides it with the user's stored choice
(dispatch.models.UserPreference), so a dispatcher who chose German reads German on any browser.
The switcher (set_language) saves the choice for a logged-in user and in the language cookie, so
the login page speaks it too.
"""

from django.conf import settings
from django.http import HttpResponseBadRequest, HttpResponseRedirect
from django.utils import translation
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from dispatch.models import UserPreference

LANGUAGE_CODES = {code for code, _name in settings.LANGUAGES}


def user_language(user) -> str:
    """The user's stored language, or "" (follow the browser)."""
    if user is None or not user.is_authenticated:
        return ""
    try:
        return user.preference.language
    except UserPreference.DoesNotExist:
        return ""


class UserLanguageMiddleware:
    """Activates the logged-in user's language; without one, LocaleMiddleware's choice stays.

    Sync only, on purpose: the lookup touches the database, and under ASGI Django runs a sync
    middleware in the request's own thread, where the connection is given back when the request
    ends. Called through sync_to_async from an async __call__, the query took a pooled PostgreSQL
    connection in a thread that never gave it back (one lost per logged-in request).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        language = user_language(getattr(request, "user", None))
        if language in LANGUAGE_CODES:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)


def save_language(user, language: str) -> None:
    UserPreference.objects.update_or_create(user=user, defaults={"language": language})


@require_POST
def set_language(request):
    """The switcher: POST language (en, de, or "" for the browser's) and next; saves and goes back."""
    language = request.POST.get("language", "")
    if language and language not in LANGUAGE_CODES:
        return HttpResponseBadRequest(_("Unknown language “%(language)s”.") % {"language": language})
    target = request.POST.get("next") or request.headers.get("referer") or "/"
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = "/"
    if request.user.is_authenticated:
        save_language(request.user, language)
    response = HttpResponseRedirect(target)
    if language:
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            samesite="Lax",
            secure=request.is_secure(),
        )
    else:
        response.delete_cookie(settings.LANGUAGE_COOKIE_NAME)
    return response
