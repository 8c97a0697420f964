"""The executable's entry point: the ``treazr`` command line, frozen.

Emulation workers are this same executable started again as ``treazr worker ...``; PyInstaller lets a
child started from ``sys.executable`` reuse the parent's unpacked files, so a worker does not unpack
the bundle a second time. :mod:`treazr.lifeline` ties the program to its bootloader.
"""

import multiprocessing

from treazr.cli import main
from treazr.lifeline import tie_to_bootloader

if __name__ == "__main__":
    # Without this a multiprocessing child of the frozen program would run the CLI again.
    multiprocessing.freeze_support()
    tie_to_bootloader()  # stop with the bootloader, and remove the unpacked files if it cannot
    main(prog_name="treazr")
