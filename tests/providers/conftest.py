import pytest


@pytest.fixture(params=["local", "aws", "gcp", "azure"])
def store(request):
    """Every provider in turn, through its real client library and a local transport."""
    return request.getfixturevalue(f"{request.param}_store")
