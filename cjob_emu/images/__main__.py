"""``python -m cjob_emu.images``: build the local images, or print a recipe's tag."""

import sys

from cjob_emu.images.build import main

sys.exit(main())
