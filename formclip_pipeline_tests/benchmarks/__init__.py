"""`make bench` and `make bench-real`: figures printed, nothing asserted; not collected by pytest."""
