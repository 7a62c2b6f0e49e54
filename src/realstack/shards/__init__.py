"""Sharded suites: one shard per CI job (or per process here), each on a stack of its own, and
the proof that together they ran every test exactly once. ``python -m realstack.shards``."""
