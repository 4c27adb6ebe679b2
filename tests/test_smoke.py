def test_admin_home_renders_for_logged_in_admin(admin_client):
    r = admin_client.get("/admin/")
    assert r.status_code == 200, r.get_data(as_text=True)[:2000]
    assert "Recent activity" in r.get_data(as_text=True)
