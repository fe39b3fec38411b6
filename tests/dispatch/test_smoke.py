def test_it_lists_only_the_dispatchers_depots(dispatcher_a_client, depot_a, depot_b):
    response = dispatcher_a_client.get("/api/depots/")
    assert response.status_code == 200
    assert [d["code"] for d in response.json()] == ["A"]
