"""Derivation of tracking tokens and their lookup digests (see TrackingLink)."""

import base64
import hashlib
import hmac
import secrets

from django.conf import settings


def _key(purpose: str) -> bytes:
    return hashlib.sha256(f"tracking-link:{purpose}:{settings.SECRET_KEY}".encode()).digest()


def new_nonce() -> bytes:
    return secrets.token_bytes(16)  # 128 random bits


def token_for_nonce(nonce: bytes) -> str:
    mac = hmac.new(_key("token"), bytes(nonce), hashlib.sha256).digest()[:20]  # 160 bits in the URL
    return base64.urlsafe_b64encode(mac).decode().rstrip("=")


def digest_for_token(token: str) -> str:
    return hmac.new(_key("lookup"), token.encode(), hashlib.sha256).hexdigest()
