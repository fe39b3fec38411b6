"""The customer's tracking page (HTML) and its proof-of-delivery images.

Thin: the token gate (customers.tracking.access) answers 404 or 429, the selector builds the state.
The page works without JavaScript; static/js/tracking.js makes it live (socket, then polling).
"""

from django.conf import settings
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import render
from django.utils import translation
from django.views.decorators.http import require_GET

from customers import selectors
from customers.notifications.rendering import customer_language
from customers.tracking.access import RateLimited, link_for_request, security_headers
from customers.tracking.page_texts import PAGE_TEXTS
from customers.tracking.self_service import self_service_for
from dispatch.maps.basemap import base_map_options


def _too_many(exc: RateLimited) -> HttpResponse:
    response = HttpResponse("Too many requests. Please try again in a minute.", status=429, content_type="text/plain")
    response["Retry-After"] = str(exc.retry_after)
    return response


@require_GET
def tracking_page(request, token: str):
    try:
        link = link_for_request(request, token)
    except RateLimited as exc:
        return security_headers(_too_many(exc), request)
    order = link.order
    language = request.GET.get("lang") or customer_language(order)
    if language not in dict(settings.LANGUAGES):
        language = "en"
    state = selectors.tracking_state(order)
    with translation.override(language):
        response = render(
            request,
            "customers/tracking.html",
            {
                "order": order,
                "state": state,
                "state_json_data": state,
                "status_labels_json": PAGE_TEXTS[language]["status"],
                "token": token,
                "lang": language,
                "t": PAGE_TEXTS[language],
                "status_label": PAGE_TEXTS[language]["status"].get(state["status"], state["status"]),
                "history": [
                    {"label": PAGE_TEXTS[language]["status"].get(e["status"], e["status"]), "at": e["at"]}
                    for e in state["events"]
                ],
                # "Choose another time" (customers.tracking.self_service): before dispatch, after a failed attempt.
                "choose_time": self_service_for(order).allowed,
                "tile_url": settings.MAP_TILE_URL,
                "tile_attribution": settings.MAP_TILE_ATTRIBUTION,
                # The streets around the customer's door, from the app's own tiles (dispatch.maps.basemap).
                "base_map": None if settings.MAP_TILE_URL else base_map_options(),
            },
        )
    return security_headers(response, request)


@require_GET
def tracking_proof_file(request, token: str, kind: str):
    """The delivery photo or signature, for the holder of the link only."""
    try:
        link = link_for_request(request, token)
    except RateLimited as exc:
        return security_headers(_too_many(exc), request)
    if kind not in ("photo", "signature") or link.order.status != "delivered":
        raise Http404
    proof = link.order.proofs.order_by("-delivered_at").first()
    file = getattr(proof, kind, None) if proof else None
    if not file:
        raise Http404
    return security_headers(FileResponse(file.open("rb")), request)
