"""REST endpoints for plans (API.md: Plans)."""

from django.shortcuts import get_object_or_404
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema, extend_schema_field, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.schema import error_response
from dispatch.permissions import IsOfficeStaff
from routes.errors import RoutingError
from routes.models import Plan
from routes.plans import selectors, services
from routes.plans.editing import plan_edit
from routes.plans.proposals import plan_proposal_approve, plan_proposal_reject
from routes.plans.splitting import plan_parts_progress
from routes.plans.tasks import plan_queue_position
from routes.plans.trips import TripsMixin


class StopOutput(serializers.Serializer):
    id = serializers.IntegerField()
    order = serializers.IntegerField(source="order_id")
    reference = serializers.CharField(source="order.reference")
    status = serializers.CharField(source="order.status")
    sequence = serializers.IntegerField()
    lat = serializers.FloatField(source="order.lat")
    lon = serializers.FloatField(source="order.lon")
    eta = serializers.DateTimeField()
    etd = serializers.DateTimeField()
    window_start = serializers.DateTimeField(source="order.window_start", allow_null=True)
    window_end = serializers.DateTimeField(source="order.window_end", allow_null=True)
    waiting_s = serializers.IntegerField()
    service_s = serializers.IntegerField()
    leg_distance_m = serializers.IntegerField()
    leg_duration_s = serializers.IntegerField()
    late_s = serializers.IntegerField()
    pinned = serializers.BooleanField()
    warnings = serializers.ListField(child=serializers.CharField())


class RouteOutput(TripsMixin):
    id = serializers.IntegerField()
    vehicle = serializers.IntegerField(source="vehicle_id")
    vehicle_name = serializers.CharField(source="vehicle.name")
    vehicle_kind = serializers.CharField(source="vehicle.kind")
    driver = serializers.IntegerField(source="driver_id", allow_null=True)
    driver_name = serializers.CharField(source="driver.name", allow_null=True, default=None)
    distance_m = serializers.IntegerField()
    duration_s = serializers.IntegerField()
    driving_s = serializers.IntegerField()
    cost = serializers.FloatField()
    start = serializers.DateTimeField(allow_null=True)
    end = serializers.DateTimeField(allow_null=True)
    load_kg = serializers.FloatField()
    load_items = serializers.IntegerField()
    locked = serializers.BooleanField()
    warnings = serializers.ListField(child=serializers.CharField())
    breaks = serializers.ListField(child=serializers.DictField())
    geometry = serializers.DictField()
    stops = StopOutput(many=True)


class UnassignedOutput(serializers.Serializer):
    order = serializers.IntegerField(source="order_id")
    reference = serializers.CharField(source="order.reference")
    reason = serializers.CharField()
    code = serializers.CharField()


class TotalsOutput(serializers.Serializer):
    distance_m = serializers.IntegerField()
    duration_s = serializers.IntegerField()
    cost = serializers.FloatField()
    vehicles_used = serializers.IntegerField()
    unassigned = serializers.IntegerField(source="unassigned_count")
    lateness_s = serializers.IntegerField()
    longest_route_s = serializers.IntegerField()


class VehicleNotUsedOutput(serializers.Serializer):
    vehicle = serializers.IntegerField()
    name = serializers.CharField()
    reason = serializers.CharField(help_text='In a dispatcher\'s words, e.g. "shift ended at 18:00"')


class ProposalOutput(serializers.Serializer):
    """A re-plan's diff against the running version (routes.plans.proposals.replan_diff)."""

    moved = serializers.ListField(child=serializers.DictField(), help_text='[{"order", "reference", "from", "to"}]')
    moved_count = serializers.IntegerField()
    dropped = serializers.ListField(child=serializers.DictField(), help_text='[{"order", "reference", "reason"}]')
    dropped_count = serializers.IntegerField()
    eta_shifts = serializers.ListField(
        child=serializers.DictField(),
        help_text='[{"order", "reference", "before", "after", "shift_min"}], largest first',
    )
    eta_shift_count = serializers.IntegerField()
    max_eta_shift_min = serializers.IntegerField()
    flagged = serializers.ListField(
        child=serializers.DictField(),
        help_text='Stops kept but late or overtime: [{"order", "reference", "vehicle", "warnings"}]',
    )
    flagged_count = serializers.IntegerField()
    cost_before = serializers.FloatField()
    cost_after = serializers.FloatField()
    cost_delta = serializers.FloatField()
    held_because = serializers.ListField(
        child=serializers.CharField(), help_text="Why it did not apply by itself (empty: it applied)"
    )


class MakeOrBuyFigures(serializers.Serializer):
    cost = serializers.DecimalField(
        max_digits=12, decimal_places=2, help_text="Routes plus partners, as the optimizer priced the day"
    )
    partner_cost = serializers.DecimalField(max_digits=12, decimal_places=2, help_text="Of which to partners")
    served = serializers.IntegerField(help_text="Orders served (on our routes or by a partner)")
    handed_off = serializers.IntegerField(help_text="Orders given to partners")


class MakeOrBuyOutput(serializers.Serializer):
    partners = serializers.ListField(child=serializers.CharField(), help_text="Partners offered to the optimizer")
    own_fleet = MakeOrBuyFigures(help_text="The same day solved with our own fleet only")
    with_partners = MakeOrBuyFigures(help_text="The plan kept (never worse than own fleet only)")


class PlanSummaryOutput(serializers.Serializer):
    id = serializers.IntegerField()
    date = serializers.DateField()
    depot = serializers.CharField(source="depot.code", allow_null=True, default=None)
    version = serializers.IntegerField()
    status = serializers.CharField()
    stage = serializers.CharField()
    progress = serializers.IntegerField()
    objective = serializers.CharField()
    reason = serializers.CharField()
    error = serializers.CharField()
    parent = serializers.IntegerField(source="parent_id", allow_null=True)
    alternative_group = serializers.UUIDField(allow_null=True)
    selected = serializers.BooleanField()
    solver = serializers.CharField()
    travel_model_version = serializers.IntegerField(
        allow_null=True,
        help_text="The learned travel model version its travel and doorstep times came from; null: the road "
        "network's default speeds and the orders' own (or the default) service minutes",
    )
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)
    dispatched_at = serializers.DateTimeField(allow_null=True)
    planned_at = serializers.DateTimeField(
        allow_null=True,
        help_text="The moment the plan was planned from (when it was computed): for today, vehicles at the "
        "depot leave no earlier than this plus the preparation time, and windows closed by then are left out",
    )
    vehicles_not_used = VehicleNotUsedOutput(many=True, help_text="Vehicles the plan could not use, and why")
    totals = TotalsOutput(source="*")
    state = serializers.ChoiceField(
        choices=Plan.State.choices,
        help_text='"proposed": a re-plan the system made that waits for a dispatcher (approve / reject); '
        '"rejected", "expired", "superseded": a proposal that was not applied; "active": any other version',
    )
    proposal = serializers.SerializerMethodField()
    make_or_buy = serializers.SerializerMethodField()

    decide_by = serializers.DateTimeField(allow_null=True, help_text="A proposal not approved by then expires")
    decided_at = serializers.DateTimeField(allow_null=True)

    @extend_schema_field(
        ProposalOutput(
            allow_null=True, help_text="For a re-plan the system made: what it changes against the running version"
        )
    )
    def get_proposal(self, plan) -> dict | None:
        return plan.proposal or None

    @extend_schema_field(
        MakeOrBuyOutput(
            allow_null=True,
            help_text="Make or buy: the day solved with our own fleet only and with the courier partners, to "
            "compare (cost, orders served). null: planned without partners",
        )
    )
    def get_make_or_buy(self, plan) -> dict | None:
        record = getattr(plan, "make_or_buy", None) or {}
        if "own_fleet" not in record:
            return None
        return MakeOrBuyOutput(record).data


class HandoffGroupOutput(serializers.Serializer):
    partner = serializers.CharField(help_text="The courier partner's code")
    orders = serializers.ListField(child=serializers.IntegerField())
    cost = serializers.DecimalField(max_digits=12, decimal_places=2)


class PlanOutput(PlanSummaryOutput):
    routes = RouteOutput(many=True)
    unassigned = UnassignedOutput(many=True)
    queue_position = serializers.SerializerMethodField()
    parts = serializers.SerializerMethodField()
    handoffs = serializers.SerializerMethodField()

    @extend_schema_field(HandoffGroupOutput(many=True))
    def get_handoffs(self, plan) -> list:
        """Orders this plan gave to courier partners, per partner with their cost."""
        return HandoffGroupOutput(selectors.plan_handoffs(plan.pk), many=True).data

    @extend_schema_field(
        serializers.IntegerField(
            allow_null=True,
            help_text="While the plan is queued: how many tasks wait ahead of it in the plans queue (0: it "
            "starts next). null once it runs, or when unknown.",
        )
    )
    def get_queue_position(self, plan) -> int | None:
        return plan_queue_position(plan)

    @extend_schema_field(
        inline_serializer(
            "PlanPartsProgress",
            fields={
                "done": serializers.IntegerField(help_text="Regions solved"),
                "total": serializers.IntegerField(help_text="Regions the day was cut into"),
                "stage": serializers.CharField(help_text='"solving regions" or "improving across borders"'),
            },
            allow_null=True,
            help_text="A big day planned in parts across the workers: regions solved so far. null otherwise, "
            "and once the plan is done or failed.",
        )
    )
    def get_parts(self, plan) -> dict | None:
        return plan_parts_progress(plan)


class PlanListApi(APIView):
    permission_classes = [IsOfficeStaff]

    class InputSerializer(serializers.Serializer):
        date = serializers.DateField()
        depot = serializers.CharField(required=False, allow_null=True, allow_blank=True)
        vehicles = serializers.ListField(child=serializers.IntegerField(), required=False, allow_empty=True)
        objective = serializers.ChoiceField(choices=Plan.Objective.choices, default=Plan.Objective.COST)
        alternatives = serializers.ListField(
            child=serializers.ChoiceField(choices=Plan.Objective.choices), required=False, min_length=1, max_length=3,
            help_text="Ask for up to three options at once (e.g. cost, balanced, fewest_vehicles)",
        )  # fmt: skip
        time_budget_s = serializers.IntegerField(required=False, min_value=1, max_value=600)
        partners = serializers.BooleanField(
            required=False, default=True,
            help_text="Make or buy: let the optimizer give orders to the day's courier partners when cheaper or the "
            "only way (false: our own fleet only)",
        )  # fmt: skip

    class FilterSerializer(serializers.Serializer):
        date = serializers.DateField(required=False)
        depot = serializers.CharField(required=False)

    @extend_schema(parameters=[FilterSerializer], responses=PlanSummaryOutput(many=True))
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        plans = selectors.plans_visible_to(
            request.user, day=filters.validated_data.get("date"), depot=filters.validated_data.get("depot")
        )
        return Response(PlanSummaryOutput(plans, many=True).data)

    @extend_schema(
        request=InputSerializer,
        description="A plan for today is planned from the moment it is computed; a day that is over is refused.",
        responses={
            202: inline_serializer(
                "PlanQueued",
                {
                    "id": serializers.IntegerField(),
                    "status": serializers.CharField(),
                    "alternatives": serializers.ListField(child=serializers.IntegerField()),
                },
            ),
            400: error_response("Bad input, e.g. a date that is over"),
        },
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        plans = services.plan_request(
            user=request.user, day=data["date"], depot_code=data.get("depot") or None, vehicle_ids=data.get("vehicles"),
            objectives=data.get("alternatives") or [data["objective"]], time_budget_s=data.get("time_budget_s"),
            partners=data.get("partners", True),
        )  # fmt: skip
        first = Plan.objects.get(pk=plans[0].pk)
        return Response(
            {"id": first.id, "status": first.status, "alternatives": [p.id for p in plans]},
            status=status.HTTP_202_ACCEPTED,
        )


class PlanDetailApi(APIView):
    permission_classes = [IsOfficeStaff]

    @extend_schema(responses=PlanOutput)
    def get(self, request, plan_id: int):
        plan = selectors.plan_detail(request.user, plan_id)
        return Response(PlanOutput(plan).data)


class PlanDispatchApi(APIView):
    permission_classes = [IsOfficeStaff]

    @extend_schema(
        request=None,
        responses={
            200: PlanSummaryOutput,
            409: error_response("The plan is not finished, or one of its routes has no driver"),
        },
    )
    def post(self, request, plan_id: int):
        plan = get_object_or_404(selectors.plans_visible_to(request.user), pk=plan_id)
        plan = services.plan_dispatch(plan=plan, by=request.user)
        return Response(PlanSummaryOutput(plan).data)


class PlanSelectApi(APIView):
    permission_classes = [IsOfficeStaff]

    @extend_schema(
        request=None,
        responses={200: PlanSummaryOutput, 409: error_response("The plan is not finished")},
        description="Pick this alternative for the day.",
    )
    def post(self, request, plan_id: int):
        plan = get_object_or_404(selectors.plans_visible_to(request.user), pk=plan_id)
        plan = services.plan_select(plan=plan, by=request.user)
        return Response(PlanSummaryOutput(plan).data)


class PlanEditApi(APIView):
    permission_classes = [IsOfficeStaff]

    class InputSerializer(serializers.Serializer):
        operations = serializers.ListField(
            child=serializers.DictField(), min_length=1, max_length=500,
            help_text='e.g. {"op": "move", "order": 12, "vehicle": 3, "position": 2}, {"op": "unassign", "order": 12}, '
            '{"op": "pin", "order": 12, "pinned": true}, {"op": "lock", "vehicle": 3, "locked": true}, '
            '{"op": "move", "order": 12, "partner": "alpen"} (to a courier partner, handed over on dispatch; '
            'a move to a vehicle brings it back)',
        )  # fmt: skip
        reason = serializers.CharField(max_length=255, required=False, default="manual edit")

    @extend_schema(
        request=InputSerializer,
        responses={
            200: PlanOutput,
            409: error_response("The plan is not finished, or an order moved is already under way or done"),
        },
        description="Apply manual edits; ETAs and warnings are recomputed. A dispatched plan is never changed: "
        "the answer is its new version (a different id).",
    )
    def post(self, request, plan_id: int):
        plan = get_object_or_404(selectors.plans_visible_to(request.user), pk=plan_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = plan_edit(plan=plan, by=request.user, **serializer.validated_data)
        return Response(PlanOutput(selectors.plan_detail(request.user, result.pk)).data)


class PlanReoptimizeApi(APIView):
    permission_classes = [IsOfficeStaff]

    class InputSerializer(serializers.Serializer):
        time_budget_s = serializers.IntegerField(required=False, min_value=1, max_value=600)

    @extend_schema(
        request=InputSerializer,
        responses={
            202: inline_serializer(
                "PlanReoptimizeQueued", {"id": serializers.IntegerField(), "status": serializers.CharField()}
            ),
            400: error_response("The plan's day is over"),
        },
        description="Optimize again as a new version that keeps this plan's pinned stops and locked routes "
        "(for today: from the moment it is computed).",
    )
    def post(self, request, plan_id: int):
        plan = get_object_or_404(selectors.plans_visible_to(request.user), pk=plan_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        if plan.state != Plan.State.ACTIVE:  # a proposal is approved or rejected as it is
            raise RoutingError(
                gettext("Plan %(plan)s is %(state)s; re-optimize the running version")
                % {"plan": plan.pk, "state": plan.get_state_display().lower()},
                field="state",
                value=plan.state,
                status_code=409,
            )
        [queued] = services.plan_request(
            user=request.user, day=plan.date, depot_code=plan.depot.code if plan.depot else None,
            vehicle_ids=plan.request.get("vehicles"), objectives=[plan.objective], reason="re-optimized", parent=plan,
            time_budget_s=serializer.validated_data.get("time_budget_s"),
        )  # fmt: skip
        return Response({"id": queued.id, "status": queued.status}, status=status.HTTP_202_ACCEPTED)


class PlanReplanApi(APIView):
    permission_classes = [IsOfficeStaff]

    class InputSerializer(serializers.Serializer):
        mode = serializers.ChoiceField(
            choices=[("keep", "Keep every stop with its driver"), ("moves", "Allow moves at a cost per moved stop")],
            default="keep",
        )
        move_cost = serializers.DecimalField(max_digits=8, decimal_places=2, min_value=0, required=False)
        include_new = serializers.BooleanField(default=True, help_text="Add the day's orders that are not planned yet")
        reason = serializers.CharField(max_length=200, default="mid-day re-plan")
        time_budget_s = serializers.IntegerField(required=False, min_value=1, max_value=600)

    @extend_schema(
        request=InputSerializer,
        responses={
            202: inline_serializer(
                "PlanReplanQueued", {"id": serializers.IntegerField(), "status": serializers.CharField()}
            ),
            400: error_response("The plan's day is over"),
            409: error_response("The plan was never dispatched: optimize it again instead"),
        },
        description="Re-plan the rest of a dispatched day from each vehicle's current position and time: done "
        "stops stay done, a stop the driver reached or heads to stays first, new orders are added. The result "
        "is a new version, dispatched when it is done.",
    )
    def post(self, request, plan_id: int):
        plan = get_object_or_404(selectors.plans_visible_to(request.user), pk=plan_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        replan = services.plan_replan_request(plan=plan, user=request.user, **serializer.validated_data)
        return Response({"id": replan.id, "status": replan.status}, status=status.HTTP_202_ACCEPTED)


class PlanApproveApi(APIView):
    permission_classes = [IsOfficeStaff]

    @extend_schema(
        request=None,
        responses={
            200: PlanSummaryOutput,
            409: error_response("The plan is not a proposal any more, or a newer version runs now"),
        },
        description='Apply a proposed re-plan (`"state": "proposed"`): it is dispatched to the drivers, its orders '
        "change status, and customers whose stop changed are told.",
    )
    def post(self, request, plan_id: int):
        plan = get_object_or_404(selectors.plans_visible_to(request.user), pk=plan_id)
        plan = plan_proposal_approve(plan=plan, by=request.user)
        return Response(PlanSummaryOutput(plan).data)


class PlanRejectApi(APIView):
    permission_classes = [IsOfficeStaff]

    @extend_schema(
        request=None,
        responses={200: PlanSummaryOutput, 409: error_response("The plan is not a proposal any more")},
        description="Reject a proposed re-plan: the running version stays as it is (drivers and customers see "
        "no change).",
    )
    def post(self, request, plan_id: int):
        plan = get_object_or_404(selectors.plans_visible_to(request.user), pk=plan_id)
        plan = plan_proposal_reject(plan=plan, by=request.user)
        return Response(PlanSummaryOutput(plan).data)
