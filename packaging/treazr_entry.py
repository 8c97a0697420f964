"""The executable's entry point: the ``treazr`` command line, frozen.

Emulation workers are this same executable started again as ``treazr worker ...``; PyInstaller lets a
child started from ``sys.executable`` reuse the parent's unpacked files, so a worker does not unpack
the bundle a second time.
"""

import multiprocessing

from treazr.cli import main

if __name__ == "__main__":
    # Without this a multiprocessing child of the frozen program would run the CLI again.
    multiprocessing.freeze_support()
    main(prog_name="treazr")
