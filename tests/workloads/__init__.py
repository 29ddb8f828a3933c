"""Tests (a package, so that test modules of the same basename in different folders are safe)."""
