"""The emulation engine: a libretro frontend, core registry, worker processes, saves and states."""
