"""Who sent a batch of positions, read straight from the session and user tables by the lean intake
(PostgreSQL in dispatch.live.position_intake, SQLite in dispatch.live.position_intake_sqlite) with the
same rules as Django's session authentication."""

from django.conf import settings
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY, get_user_model
from django.contrib.sessions.backends.db import SessionStore
from django.utils.crypto import constant_time_compare

from dispatch.models import UserPreference

MODEL_BACKEND = "django.contrib.auth.backends.ModelBackend"


# Reads request.user on every request (so the session: Vary: Cookie) and a session user's stored language.
USER_LANGUAGE_MIDDLEWARE = "dispatch.language.UserLanguageMiddleware"


def session_user_sql() -> str:
    """The password (and stored language) of an active user, `?` for the user id."""
    user_model = get_user_model()
    language = "''"
    if USER_LANGUAGE_MIDDLEWARE in settings.MIDDLEWARE:  # the language the view would speak to this user
        language = f"(SELECT p.language FROM {UserPreference._meta.db_table} p WHERE p.user_id = u.id)"  # nosec B608
    return f"SELECT u.password, {language} FROM {user_model._meta.db_table} u WHERE u.id = ? AND u.is_active"  # nosec B608


def session_claim(session_data: str) -> tuple[int, str] | None:
    """(user id, session auth hash) of a stored session logged in with the model backend; None when
    the view might decide otherwise (another backend, a bad signature, no user)."""
    session = SessionStore().decode(session_data)  # {} when the signature does not match
    if session.get(BACKEND_SESSION_KEY) != MODEL_BACKEND or MODEL_BACKEND not in settings.AUTHENTICATION_BACKENDS:
        return None
    try:
        return int(session[SESSION_KEY]), session.get(HASH_SESSION_KEY) or ""
    except (KeyError, TypeError, ValueError):
        return None


def session_verified(user_id: int, session_hash: str, password: str | None) -> int | None:
    """`user_id` when the session was made with the active user's current password (Django's rule:
    a password change logs out every session); a hash made with a SECRET_KEY_FALLBACKS key is the
    view's to verify and re-sign. `password`: the user's hash, None for no active user."""
    if password is None:
        return None
    expected = get_user_model()(password=password).get_session_auth_hash()
    return user_id if constant_time_compare(session_hash, expected) else None
