"""Real infrastructure for the tests: a redis-server, the whole claw stack, a fake bridge."""
