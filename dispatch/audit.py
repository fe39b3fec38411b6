"""The audit log: one append-only table of who did what, and when (dispatch.models.AuditEntry).

The services that change orders, plans, closures, vehicles and templates call audit_record() in the
same transaction as the change, so a rolled-back change leaves no entry and a committed one always
has its entry. Personal values never enter the log: a change to a customer's name, contact details,
address or free texts is recorded by field name only (so erasing a customer's data leaves nothing
behind here, and the log itself needs no erasure).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from config import request_id
from dispatch.models import AuditEntry

# Fields whose values are personal data wherever they appear (orders, customers, proofs, messages,
# notifications, feedback, drivers): recorded as changed, never with their values.
PERSONAL_FIELDS = frozenset(
    {
        "customer_name", "name", "phone", "email", "address", "notes", "note", "recipient_name", "recipient",
        "subject", "body", "text", "comment", "lat", "lon", "photo", "signature", "password",
    }
)  # fmt: skip
REDACTED = "(personal: not recorded)"
SYSTEM = None


def _actor_fields(actor) -> dict:
    if actor is not None and getattr(actor, "is_authenticated", False):
        return {"actor": actor, "actor_name": actor.get_username()[:150], "actor_kind": AuditEntry.ActorKind.USER}
    return {"actor": None, "actor_name": "", "actor_kind": AuditEntry.ActorKind.SYSTEM}


def _target_fields(target) -> dict:
    if target is None:
        return {"target_type": "", "target_id": "", "target_repr": ""}
    if isinstance(target, models.Model):
        meta = target._meta
        # A customer's or an order's str() may carry a name: the reference or the id is enough.
        label = getattr(target, "reference", None) or f"{meta.verbose_name} {target.pk}"
        return {"target_type": meta.label_lower, "target_id": str(target.pk or ""), "target_repr": str(label)[:200]}
    kind, _, identifier = str(target).partition(":")
    return {"target_type": kind[:64], "target_id": identifier[:64], "target_repr": str(target)[:200]}


def _redacted(changes) -> dict:
    if not changes:
        return {}
    safe = {}
    for field, value in dict(changes).items():
        safe[field] = REDACTED if field in PERSONAL_FIELDS else value
    # Plain JSON (dates, decimals, UUIDs as text), so the entry stores whatever a service passes.
    return json.loads(json.dumps(safe, cls=DjangoJSONEncoder, default=str))


def audit_record(*, actor, action: str, target=None, changes: dict | None = None) -> AuditEntry:
    """Append one entry. `actor`: the user who acted, or None for the system (beat, a closure's
    re-plan, retention). `target`: a model instance, or "kind:id" text. `changes`: what changed
    ({field: [old, new]} or any small JSON), personal fields redacted."""
    return AuditEntry.objects.create(
        **_actor_fields(actor),
        action=action[:64],
        **_target_fields(target),
        changes=_redacted(changes),
        request_id=(request_id.current() or "")[:128],
    )


def field_changes(before: models.Model | None, after: models.Model, fields: Iterable[str] | None = None) -> dict:
    """{field: [old, new]} for the concrete fields that differ (all of them for a new object)."""
    names = fields or [f.attname for f in after._meta.concrete_fields if not f.primary_key]
    changes = {}
    for name in names:
        new = getattr(after, name, None)
        if isinstance(new, models.Manager):  # many-to-many: saved after save_model; named, not valued
            changes[name] = "changed"
            continue
        old = getattr(before, name, None) if before is not None else None
        if before is None or old != new:
            changes[name] = [old, new]
    return changes


class AppendOnlyAdminMixin:
    """An admin for a record of what happened (the audit log, the orders' status history): readable,
    never added to, changed or deleted by hand, superusers included."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class AuditedAdminMixin:
    """For a ModelAdmin: every save and delete through the admin goes into the audit log."""

    def save_model(self, request, obj, form, change):
        before = type(obj).objects.filter(pk=obj.pk).first() if change and obj.pk else None
        super().save_model(request, obj, form, change)
        changed = list(form.changed_data) if form is not None else None
        audit_record(
            actor=request.user,
            action=f"{obj._meta.model_name}.{'changed' if change else 'created'}",
            target=obj,
            changes=field_changes(before, obj, fields=[_attname(obj, name) for name in changed] if changed else None),
        )

    def delete_model(self, request, obj):
        audit_record(actor=request.user, action=f"{obj._meta.model_name}.deleted", target=obj)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            audit_record(actor=request.user, action=f"{obj._meta.model_name}.deleted", target=obj)
        super().delete_queryset(request, queryset)


def _attname(obj, name: str) -> str:
    try:
        field = obj._meta.get_field(name)
    except Exception:  # noqa: BLE001 - a form field that is not a model field (a widget's extra)
        return name
    return getattr(field, "attname", name)
