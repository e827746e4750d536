"""Run folders read back: revisit a run (``litlab rerun``, ``litlab resume``), finish a sweep.

Everything here reads only the run-folder contract (README "The run folder"), so a folder copied
from another machine works the same; its stored config is data, checked before anything is built.
"""
