"""The OpenAPI document is valid OpenAPI 3 and the docs work without internet."""

from openapi_spec_validator import validate


def test_openapi_document_validates(client):
    spec = client.get("/openapi.json").get_json()
    validate(spec)
    assert spec["openapi"].startswith("3.")
    assert "bearerAuth" in spec["components"]["securitySchemes"]


def test_openapi_documents_the_original_and_the_v1_paths(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    for path in ("/signup", "/login", "/api/v1/auth/signup", "/api/v1/auth/login", "/api/v1/auth/refresh",
                 "/api/v1/auth/me", "/api/v1/users"):
        assert path in paths


def test_docs_page_loads_its_assets_from_this_server(client):
    page = client.get("/docs").get_data(as_text=True)
    assert "/docs/static/swagger-ui-bundle.js" in page
    assert "https://" not in page.split("url:")[0] or "cdn" not in page
    assert client.get("/docs/static/swagger-ui-bundle.js").status_code == 200
