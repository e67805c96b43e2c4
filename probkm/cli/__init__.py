"""The ``probkm`` command line: argument parsing (:mod:`.commands`), the YAML configuration
(:mod:`.config`, the only code that reads YAML) and the main job (:mod:`.workflow`)."""

from probkm.cli.commands import main as main

__all__ = ["main"]
