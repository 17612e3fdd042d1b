"""The local container images cjob-emu runs jobs in, built with no image registry.

:mod:`.build` builds and caches the base image and the recipe images (cached by
recipe hash); :mod:`.debian` makes the base image's Debian root filesystem.
``python -m cjob_emu.images build`` builds them all.
"""

from cjob_emu.images.build import (
    NAME_LABEL,
    RECIPE_LABEL,
    RECIPES_DIR,
    REPOSITORY_PREFIX,
    REQUIREMENTS_FILE,
    SCRATCH_DIR,
    WHEELS_DIR,
    BaseRecipe,
    BuildOutcome,
    ImageRecipe,
    all_recipes,
    download_wheels,
    engine_client,
    ensure_base_image,
    ensure_image,
    ensure_images,
    ensure_recipe_image,
    main,
    manylinux_platforms,
    recipe,
    recipe_digest,
)
from cjob_emu.images.debian import (
    debian_mirror,
    debootstrap,
    mirror_from_sources,
    tar_rootfs,
    trim_rootfs,
    unmount_below,
)

__all__ = [
    "NAME_LABEL",
    "RECIPES_DIR",
    "RECIPE_LABEL",
    "REPOSITORY_PREFIX",
    "REQUIREMENTS_FILE",
    "SCRATCH_DIR",
    "WHEELS_DIR",
    "BaseRecipe",
    "BuildOutcome",
    "ImageRecipe",
    "all_recipes",
    "debian_mirror",
    "debootstrap",
    "download_wheels",
    "engine_client",
    "ensure_base_image",
    "ensure_image",
    "ensure_images",
    "ensure_recipe_image",
    "main",
    "manylinux_platforms",
    "mirror_from_sources",
    "recipe",
    "recipe_digest",
    "tar_rootfs",
    "trim_rootfs",
    "unmount_below",
]
