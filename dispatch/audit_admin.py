"""The audit log in the admin: managers read, filter and export it; nobody adds, changes or deletes."""

import csv
import json

from django.contrib import admin
from django.http import StreamingHttpResponse
from django.urls import path
from django.utils import timezone

from dispatch.audit import AppendOnlyAdminMixin
from dispatch.models import AuditEntry
from dispatch.roles import is_manager

CSV_COLUMNS = [
    "at",
    "actor_name",
    "actor_kind",
    "action",
    "target_type",
    "target_id",
    "target_repr",
    "changes",
    "request_id",
]


class _Echo:
    def write(self, value):
        return value


def audit_csv_response(queryset, filename: str) -> StreamingHttpResponse:
    """Streamed, so a year of entries never sits in memory."""
    writer = csv.writer(_Echo())

    def rows():
        yield writer.writerow(CSV_COLUMNS)
        for entry in queryset.order_by("at", "id").iterator(chunk_size=2000):
            yield writer.writerow(
                [
                    timezone.localtime(entry.at).isoformat(), entry.actor_name, entry.actor_kind, entry.action,
                    entry.target_type, entry.target_id, entry.target_repr,
                    json.dumps(entry.changes, ensure_ascii=False, sort_keys=True), entry.request_id,
                ]
            )  # fmt: skip

    response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@admin.register(AuditEntry)
class AuditEntryAdmin(AppendOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["at", "actor_name", "actor_kind", "action", "target_type", "target_repr", "request_id"]
    list_filter = ["actor_kind", "action", "target_type", ("at", admin.DateFieldListFilter)]
    search_fields = ["actor_name", "action", "target_id", "target_repr", "request_id"]
    date_hierarchy = "at"
    readonly_fields = [f.name for f in AuditEntry._meta.fields]
    list_per_page = 100
    actions = ["export_csv"]
    change_list_template = "admin/dispatch/auditentry/change_list.html"

    def has_view_permission(self, request, obj=None):
        return is_manager(request.user)

    def has_module_permission(self, request):
        return is_manager(request.user)

    def get_urls(self):
        export = path("export.csv", self.admin_site.admin_view(self.export_filtered), name="dispatch_auditentry_export")
        return [export, *super().get_urls()]

    def export_filtered(self, request):
        """The whole list as filtered and searched on the page (not only the rows shown)."""
        from django.core.exceptions import PermissionDenied

        if not self.has_view_permission(request):
            raise PermissionDenied
        queryset = self.get_changelist_instance(request).get_queryset(request)
        return audit_csv_response(queryset, f"audit-log-{timezone.localdate():%Y%m%d}.csv")

    @admin.action(description="Export selected entries as CSV")
    def export_csv(self, request, queryset):
        return audit_csv_response(queryset, f"audit-log-{timezone.localdate():%Y%m%d}.csv")
