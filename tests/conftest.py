pytest_plugins = ["tests.fixtures.mongo"]
