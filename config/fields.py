"""Serializer fields every app's API shares."""

import math

from rest_framework import serializers


class FiniteFloatField(serializers.FloatField):
    """A float that is a real number: DRF's FloatField takes "NaN" and "Infinity" (strings are
    parsed with float()), which pass every min/max check and then break a database constraint or a
    distance computation far from the request that sent them."""

    # The error shape carries the value sent; the message does not repeat it.
    default_error_messages = {"not_finite": "must be a finite number"}

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if not math.isfinite(value):
            self.fail("not_finite")
        return value


class AwareDateTimeField(serializers.DateTimeField):
    """An RFC 3339 time that carries its UTC offset ("...+01:00" or "...Z").

    DRF reads a time without an offset as the server's zone; a phone abroad, or one sending UTC
    without the "Z", would then be off by hours without anyone noticing.
    """

    default_error_messages = {"naive": "needs a UTC offset, e.g. 2026-03-29T09:15:00+02:00 or 2026-03-29T07:15:00Z"}

    def enforce_timezone(self, value):
        if value.utcoffset() is None:
            self.fail("naive")
        return super().enforce_timezone(value)
