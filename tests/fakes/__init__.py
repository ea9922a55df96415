"""Real fakes (servers and helpers) shared by the test suites."""
