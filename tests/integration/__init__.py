"""Integration tests: real PostgreSQL and Redis through realstack, and the CLI end to end."""
