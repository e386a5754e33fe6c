import pytest


@pytest.fixture(autouse=True)
def _clear_cache():
    """The harness tests need neither Redis nor the database: override the suite-wide cache reset."""
    yield
