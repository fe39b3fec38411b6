"""A proposal is approved or rejected as the dispatcher saw it: it cannot be edited or re-optimized
(its diff was computed once; an edit would change what Approve applies)."""

from routes.models import Plan
from tests.routes.test_replan_guard_rails import morning, proposal_with_moves  # noqa: F401


def test_it_refuses_to_edit_or_reoptimize_a_proposal(proposal_with_moves, dispatcher_a_client):  # noqa: F811
    replan, _ = proposal_with_moves
    assert replan.state == Plan.State.PROPOSED
    stop = replan.routes.filter(stops__isnull=False).first().stops.first()
    edited = dispatcher_a_client.post(
        f"/api/plans/{replan.pk}/edit/",
        {"operations": [{"op": "pin", "order": stop.order_id, "pinned": True}]},
        format="json",
    )
    assert edited.status_code == 409, edited.json()
    assert "state" in str(edited.json()) and "proposed" in str(edited.json())
    again = dispatcher_a_client.post(f"/api/plans/{replan.pk}/reoptimize/", {}, format="json")
    assert again.status_code == 409, again.json()
    assert Plan.objects.filter(parent=replan).count() == 0
    replan.refresh_from_db()
    assert replan.state == Plan.State.PROPOSED


def test_the_page_of_a_proposal_offers_no_editing(client, dispatcher_a, proposal_with_moves):  # noqa: F811
    replan, _ = proposal_with_moves
    client.force_login(dispatcher_a)
    page = client.get(f"/plans/{replan.pk}/").content.decode()
    assert 'data-decide="' in page
    assert 'id="reoptimize-button"' not in page
    assert '<script id="plan-editor" type="application/json">null</script>' in page
