"""The API fuzzed against its own OpenAPI document (schemathesis), as a user and as an
admin: no 5xx, every status documented, every response matching its schema, every
error problem+json.

Schemathesis's pytest plugin does not run under pytest 9, so the operations are
driven here with its strategies and hypothesis directly.
"""

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

EXAMPLES_PER_OPERATION = int(os.environ.get("KPS_FUZZ_EXAMPLES", 15))


@pytest.fixture
def as_user(make_user):
    account = make_user("fuzz-user@example.com")
    account.post("/api/v1/secrets", json={"name": "fuzz-secret", "value": "v"})
    return account


def _fuzz(app, headers: dict) -> None:
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20

    for operation in operations:
        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def exercise(case):
            response = case.call_and_validate(headers={**(case.headers or {}), **headers})
            if response.status_code >= 400:
                content_type = {k.lower(): v for k, v in response.headers.items()}["content-type"]
                assert content_type[0].startswith("application/problem+json"), response.text

        exercise()


def test_api_fuzzed_as_a_user(app, as_user):
    _fuzz(app, as_user.headers)


def test_api_fuzzed_as_an_admin(app, admin):
    _fuzz(app, admin.headers)
