"""``python -m cjob_emu.cli``: the ``cjob-emu`` command."""

import sys

from cjob_emu.cli.main import main

sys.exit(main())
