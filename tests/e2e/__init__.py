"""End-to-end suite: the real stack realstack started, reached only through the env contract."""
