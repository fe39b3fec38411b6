from django.urls import path

from routes import apis

urlpatterns = [
    path("routing/matrix/", apis.MatrixApi.as_view(), name="api_routing_matrix"),
    path("routing/route/", apis.RouteApi.as_view(), name="api_routing_route"),
    path("routing/geocode/", apis.GeocodeApi.as_view(), name="api_routing_geocode"),
    path("closures/", apis.ClosureListApi.as_view(), name="api_closures"),
    path("closures/<int:closure_id>/", apis.ClosureDetailApi.as_view(), name="api_closure"),
]
