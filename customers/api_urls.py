from django.urls import path

from customers import apis
from customers.personal_data import apis as personal_data_apis

urlpatterns = [
    path(
        "orders/<int:order_id>/notifications/",
        apis.OrderNotificationsApi.as_view(),
        name="api_order_notifications",
    ),
    path("track/<str:token>/", apis.TrackingApi.as_view(), name="api_track"),
    path("personal-data/export/", personal_data_apis.PersonalDataExportApi.as_view(), name="api_personal_data_export"),
    path("personal-data/erase/", personal_data_apis.PersonalDataEraseApi.as_view(), name="api_personal_data_erase"),
    path("track/<str:token>/feedback/", apis.TrackingFeedbackApi.as_view(), name="api_track_feedback"),
    path("track/<str:token>/messages/", apis.TrackingMessageApi.as_view(), name="api_track_messages"),
]

# Customers choose another time themselves (routes.slots; customers.tracking.self_service).
urlpatterns += [
    path("track/<str:token>/slots/", apis.TrackingSlotsApi.as_view(), name="api_track_slots"),
    path("track/<str:token>/reschedule/", apis.TrackingRescheduleApi.as_view(), name="api_track_reschedule"),
]
