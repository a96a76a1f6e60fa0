"""What the tests share: servers they start, helpers that run assets and read tables, test data."""
