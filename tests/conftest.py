pytest_plugins = ["tests.support.envtest_fixtures", "tests.support.net_fixtures"]
