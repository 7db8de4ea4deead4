"""Roles: admins list users and change roles; changes take effect on tokens at once."""

from tests.fixtures.app import PASSWORD, audit_events, login


def test_users_list_is_admin_only(user):
    response = user.get("/api/v1/users")
    assert response.status_code == 403
    assert response.mimetype == "application/problem+json"


def test_admin_lists_users_without_password_hashes(admin, user):
    body = admin.get("/api/v1/users").get_json()
    emails = {u["email"] for u in body["users"]}
    assert {admin.email, user.email} <= emails
    assert all("password_hash" not in u for u in body["users"])


def test_users_list_paginates(admin, make_user):
    for _ in range(3):
        make_user()
    first = admin.get("/api/v1/users?limit=2").get_json()
    second = admin.get(f"/api/v1/users?limit=2&cursor={first['next_cursor']}").get_json()
    ids = [u["id"] for u in first["users"] + second["users"]]
    assert len(ids) == len(set(ids)) == 4


def test_promoting_a_user_revokes_their_tokens_and_the_new_login_is_admin(client, admin, user):
    response = admin.patch(f"/api/v1/users/{user.id}", json={"role": "admin"})
    assert response.status_code == 200 and response.get_json()["role"] == "admin"
    assert user.get("/api/v1/auth/me").status_code == 401
    fresh = login(client, user.email)
    assert client.get("/api/v1/users", headers={"Authorization": f"Bearer {fresh['access_token']}"}).status_code == 200


def test_demoting_an_admin_takes_effect_on_outstanding_tokens(client, admin, make_user):
    other = make_user()
    admin.patch(f"/api/v1/users/{other.id}", json={"role": "admin"})
    other_admin_token = login(client, other.email)["access_token"]
    admin.patch(f"/api/v1/users/{other.id}", json={"role": "user"})
    response = client.get("/api/v1/users", headers={"Authorization": f"Bearer {other_admin_token}"})
    assert response.status_code == 401


def test_disabling_a_user_revokes_tokens_and_blocks_login(client, admin, user):
    assert admin.patch(f"/api/v1/users/{user.id}", json={"disabled": True}).status_code == 200
    assert user.get("/api/v1/auth/me").status_code == 401
    assert client.post("/login", json={"email": user.email, "password": PASSWORD}).status_code == 401
    admin.patch(f"/api/v1/users/{user.id}", json={"disabled": False})
    assert client.post("/login", json={"email": user.email, "password": PASSWORD}).status_code == 200


def test_an_admin_cannot_demote_themselves(admin):
    assert admin.patch(f"/api/v1/users/{admin.id}", json={"role": "user"}).status_code == 409


def test_unknown_user_is_404(admin):
    assert admin.patch("/api/v1/users/ffffffffffffffffffffffff", json={"role": "admin"}).status_code == 404
    assert admin.patch("/api/v1/users/not-an-id", json={"role": "admin"}).status_code == 404


def test_invalid_role_or_disabled_types_are_400(admin, user):
    assert admin.patch(f"/api/v1/users/{user.id}", json={"role": "root"}).status_code == 400
    assert admin.patch(f"/api/v1/users/{user.id}", json={"disabled": "yes"}).status_code == 400
    assert admin.patch(f"/api/v1/users/{user.id}", json={}).status_code == 400


def test_role_change_and_403_are_audited(db, admin, user):
    user.get("/api/v1/users")
    admin.patch(f"/api/v1/users/{user.id}", json={"role": "admin"})
    assert audit_events(db, action="user.role_change", **{"target.name": user.id})
    denied = audit_events(db, action="request.denied", status=403)
    assert denied and denied[-1]["actor"]["email"] == user.email


def test_bootstrap_admin_is_created_once_and_never_changed(app_settings, db):
    from app import create_app

    before = db.users.find_one({"email": "admin@example.com"})
    assert before["role"] == "admin"
    second = create_app({**app_settings, "KPS_BOOTSTRAP_ADMIN_PASSWORD": "a different password"})
    second.extensions["kps"].close()
    after = db.users.find_one({"email": "admin@example.com"})
    assert after["password_hash"] == before["password_hash"]
    assert db.users.count_documents({"role": "admin"}) == 1
