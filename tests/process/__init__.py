"""Process tests: realstack's supervisor and orchestrator on real processes (no mocks)."""
