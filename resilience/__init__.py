"""Resilience shared by every external-service client (plain Python, no Django): retry decisions bounded by an
overall budget (stamina), a circuit breaker whose state every process shares through Redis, and the settings of
the Redis answer cache. context7_client and kcs both build on it."""
