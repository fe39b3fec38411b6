"""Managers: export or erase everything held about one customer (customers.personal_data.services).

POST, not GET: an e-mail address or a phone number in a URL would end up in access logs.
"""

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.permissions import BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from customers.personal_data.services import personal_data_erase, personal_data_export
from dispatch.roles import is_manager


class IsManager(BasePermission):
    message = "Only managers may do this."

    def has_permission(self, request, view):
        return is_manager(request.user)


class SubjectInput(serializers.Serializer):
    email = serializers.EmailField(required=False, allow_blank=True, max_length=254)
    phone = serializers.CharField(required=False, allow_blank=True, max_length=32)

    def validate(self, attrs):
        if not attrs.get("email") and not attrs.get("phone"):
            raise serializers.ValidationError({"email": "Give the customer's e-mail address or phone number."})
        return attrs


def _service_call(function, **kwargs):
    try:
        return function(**kwargs)
    except DjangoValidationError as exc:
        raise serializers.ValidationError(exc.message_dict) from exc


class PersonalDataExportApi(APIView):
    permission_classes = [IsManager]

    class InputSerializer(SubjectInput):
        pass

    @extend_schema(
        request=InputSerializer,
        responses={
            200: OpenApiResponse(
                description=(
                    "Everything held about the person: `customers` (customer records) and `orders`, each with "
                    "its order row and every related row by model (status history, proofs with their images "
                    "as base64, notifications, messages, feedback, tracking links, alerts). Recorded in the audit log."
                )
            )
        },
        summary="Export one customer's personal data (by e-mail or phone)",
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        export = _service_call(personal_data_export, by=request.user, **serializer.validated_data)
        response = Response(export)
        response["Cache-Control"] = "no-store"
        return response


class PersonalDataEraseApi(APIView):
    permission_classes = [IsManager]

    class InputSerializer(SubjectInput):
        confirm = serializers.BooleanField(help_text="Must be true: erasure cannot be undone")

        def validate(self, attrs):
            attrs = super().validate(attrs)
            if attrs.get("confirm") is not True:
                raise serializers.ValidationError({"confirm": "Set confirm to true: erasure cannot be undone."})
            return attrs

    class OutputSerializer(serializers.Serializer):
        orders_erased = serializers.ListField(
            child=serializers.IntegerField(), help_text="Ids of the orders anonymized"
        )
        orders_kept_open = serializers.ListField(
            child=serializers.CharField(),
            help_text="References of orders still on their way: kept until completed, then erased by retention",
        )
        customers_erased = serializers.ListField(child=serializers.IntegerField())

    @extend_schema(
        request=InputSerializer,
        responses={200: OutputSerializer},
        summary="Erase one customer's personal data (by e-mail or phone); KPIs are kept",
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = dict(serializer.validated_data)
        data.pop("confirm")
        result = _service_call(personal_data_erase, by=request.user, **data)
        return Response(self.OutputSerializer(result).data)
