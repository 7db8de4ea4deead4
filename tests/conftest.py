pytest_plugins = ["tests.fixtures.mongo", "tests.fixtures.app"]
