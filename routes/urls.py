from django.urls import path

from routes import apis
from routes.closures import apis as closure_apis
from routes.plans import apis as plan_apis
from routes.slots import apis as slot_apis

urlpatterns = [
    path("routing/matrix/", apis.MatrixApi.as_view(), name="api_routing_matrix"),
    path("routing/route/", apis.RouteApi.as_view(), name="api_routing_route"),
    path("routing/geocode/", apis.GeocodeApi.as_view(), name="api_routing_geocode"),
    path("closures/", closure_apis.ClosureListApi.as_view(), name="api_closures"),
    path("closures/<int:closure_id>/", closure_apis.ClosureDetailApi.as_view(), name="api_closure"),
]

urlpatterns += [
    path("plans/", plan_apis.PlanListApi.as_view(), name="api_plans"),
    path("plans/<int:plan_id>/", plan_apis.PlanDetailApi.as_view(), name="api_plan"),
    path("plans/<int:plan_id>/dispatch/", plan_apis.PlanDispatchApi.as_view(), name="api_plan_dispatch"),
    path("plans/<int:plan_id>/select/", plan_apis.PlanSelectApi.as_view(), name="api_plan_select"),
    path("plans/<int:plan_id>/edit/", plan_apis.PlanEditApi.as_view(), name="api_plan_edit"),
    path("plans/<int:plan_id>/reoptimize/", plan_apis.PlanReoptimizeApi.as_view(), name="api_plan_reoptimize"),
    path("plans/<int:plan_id>/replan/", plan_apis.PlanReplanApi.as_view(), name="api_plan_replan"),
    path("plans/<int:plan_id>/approve/", plan_apis.PlanApproveApi.as_view(), name="api_plan_approve"),
    path("plans/<int:plan_id>/reject/", plan_apis.PlanRejectApi.as_view(), name="api_plan_reject"),
]

# Delivery slots (API.md: Slots); booking one is with the orders API (dispatch.urls).
urlpatterns += [
    path("slots/", slot_apis.SlotListApi.as_view(), name="api_slots"),
    path("depots/<str:depot_id>/slot-policy/", slot_apis.SlotPolicyApi.as_view(), name="api_slot_policy"),
]
