"""Who may read the operations endpoints (/healthz's detail, /metrics): staff, or a monitoring
system holding the configured bearer token."""

import hmac


def staff_or_bearer(request, token: str) -> bool:
    if getattr(request.user, "is_staff", False):
        return True
    given = request.headers.get("Authorization", "")
    # Compared in constant time: the token is a password, and an empty setting lets nobody in.
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
