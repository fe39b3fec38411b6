from django.urls import path

from customers import apis

urlpatterns = [
    path(
        "orders/<int:order_id>/notifications/",
        apis.OrderNotificationsApi.as_view(),
        name="api_order_notifications",
    ),
    path("track/<str:token>/", apis.TrackingApi.as_view(), name="api_track"),
    path("track/<str:token>/feedback/", apis.TrackingFeedbackApi.as_view(), name="api_track_feedback"),
    path("track/<str:token>/messages/", apis.TrackingMessageApi.as_view(), name="api_track_messages"),
]
