//! CLI tests: the binary end to end.
