"""Run a CustomJob on this machine the way Vertex runs it."""

from __future__ import annotations
