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
