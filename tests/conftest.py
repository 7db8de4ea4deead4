pytest_plugins = ["tests.fixtures.mongo", "tests.fixtures.app", "tests.fixtures.secrets_api", "tests.fixtures.aws", "tests.fixtures.local_provider", "tests.fixtures.gcp", "tests.fixtures.azure"]
