pytest_plugins = ["tests.conftest_jira", "tests.conftest_mailbox", "tests.conftest_smtp"]
