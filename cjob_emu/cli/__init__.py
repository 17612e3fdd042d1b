"""The ``cjob-emu`` command line: one module per command, each adding its own subparser.

:mod:`.main` builds the parser and applies the exit codes; :mod:`.style` and
:mod:`.console` are its output; :mod:`.inputs` reads a command's file once.
"""

from cjob_emu.cli.main import build_parser, main

__all__ = ["build_parser", "main"]
