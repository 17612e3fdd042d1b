"""The exit codes of every ``cjob-emu`` command (the errors carry theirs too)."""

EXIT_OK = 0
"""Success: valid, SUCCEEDED."""
EXIT_INVALID = 1
"""The job is invalid, or it (or a pipeline task) FAILED."""
EXIT_USAGE = 2
"""A usage error or an unreadable input."""
EXIT_ENVIRONMENT = 3
"""An environment problem: no engine, a missing image or package, a port in use."""
EXIT_INTERRUPTED = 130
"""Interrupted, or CANCELLED by Ctrl-C."""
