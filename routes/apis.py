"""REST endpoints for routing (matrix, route, geocode) and road closures (API.md)."""

import math

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from config.fields import FiniteFloatField
from dispatch.permissions import IsOfficeStaff
from routes.errors import RoutingError
from routes.geocoding import geocoder
from routes.network import PointNotSnapped, RouteNotFound
from routes.road_network import get_road_network


class PointSerializer(serializers.Serializer):
    lat = FiniteFloatField(min_value=-90, max_value=90)
    lon = FiniteFloatField(min_value=-180, max_value=180)


class RoutingInput(serializers.Serializer):
    profile = serializers.ChoiceField(choices=["car", "bike"], default="car")
    departure = serializers.DateTimeField(required=False, allow_null=True)

    def local_departure(self):
        departure = self.validated_data.get("departure")
        # Traffic profiles are by local hour in the delivery region.
        return timezone.localtime(departure) if departure else None


def _points(validated) -> list[tuple[float, float]]:
    return [(p["lat"], p["lon"]) for p in validated["points"]]


def _nullable(matrix, digits: int) -> list[list[float | None]]:
    return [[None if math.isnan(v) else round(float(v), digits) for v in row] for row in matrix]


class MatrixApi(APIView):
    permission_classes = [IsOfficeStaff]

    class InputSerializer(RoutingInput):
        points = PointSerializer(many=True, min_length=1, max_length=settings.MATRIX_MAX_POINTS)

    @extend_schema(
        request=InputSerializer,
        responses=inline_serializer(
            "MatrixResult",
            {
                "durations": serializers.ListField(
                    child=serializers.ListField(child=serializers.FloatField(allow_null=True))
                ),
                "distances": serializers.ListField(
                    child=serializers.ListField(child=serializers.FloatField(allow_null=True))
                ),
                "snaps": serializers.ListField(child=serializers.DictField(allow_null=True)),
            },
        ),
        description="Travel durations (s) and road distances (m) between every pair of points; null where no route "
        "exists. Active closures and the traffic of `departure` (default: free flow) apply.",
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        network = get_road_network()
        result = network.matrix(
            _points(serializer.validated_data), serializer.validated_data["profile"], serializer.local_departure()
        )
        snaps = [
            None if s is None else {"lat": s.lat, "lon": s.lon, "distance_m": round(s.distance_m, 1)}
            for s in result.snaps
        ]
        return Response(
            {
                "durations": _nullable(result.durations_s, 1),
                "distances": _nullable(result.distances_m, 1),
                "snaps": snaps,
            }
        )


class RouteApi(APIView):
    permission_classes = [IsOfficeStaff]

    class InputSerializer(RoutingInput):
        points = PointSerializer(many=True, min_length=2, max_length=200)

    @extend_schema(
        request=InputSerializer,
        responses=inline_serializer(
            "RouteResult",
            {
                "duration_s": serializers.FloatField(),
                "distance_m": serializers.FloatField(),
                "geometry": serializers.DictField(),
                "legs": serializers.ListField(child=serializers.DictField()),
            },
        ),
        description="The fastest road route through the points in order, with its GeoJSON LineString geometry.",
    )
    def post(self, request):
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        network = get_road_network()
        points = _points(serializer.validated_data)
        try:
            result = network.route(points, serializer.validated_data["profile"], serializer.local_departure())
        except PointNotSnapped as exc:
            raise RoutingError(str(exc), field=f"points[{exc.index}]", value=points[exc.index]) from None
        except RouteNotFound as exc:
            raise RoutingError(
                gettext("No route: %(reason)s") % {"reason": exc},
                field="points",
                value=None,
                status_code=status.HTTP_422_UNPROCESSABLE_ENTITY,
            ) from None
        return Response(
            {
                "duration_s": round(result.duration_s, 1),
                "distance_m": round(result.distance_m, 1),
                "geometry": result.geometry,
                "legs": [{k: round(v, 1) for k, v in leg.items()} for leg in result.legs],
            }
        )


class GeocodeApi(APIView):
    permission_classes = [IsOfficeStaff]

    class FilterSerializer(serializers.Serializer):
        q = serializers.CharField(min_length=2, max_length=200)
        limit = serializers.IntegerField(min_value=1, max_value=20, default=5)

    @extend_schema(
        parameters=[FilterSerializer],
        responses=inline_serializer(
            "GeocodeCandidate",
            {
                "label": serializers.CharField(),
                "lat": serializers.FloatField(),
                "lon": serializers.FloatField(),
                "score": serializers.FloatField(),
            },
            many=True,
        ),
    )
    def get(self, request):
        filters = self.FilterSerializer(data=request.query_params)
        filters.is_valid(raise_exception=True)
        backend = geocoder()
        if backend is None:
            get_road_network()  # raises the clear "no road network" error
        hits = backend.search(filters.validated_data["q"], limit=filters.validated_data["limit"])
        return Response(
            [{"label": h["label"], "lat": h["lat"], "lon": h["lon"], "score": round(h["score"], 3)} for h in hits]
        )
