"""Everything that reads or writes a run folder (README "The run folder"): its status, the runs
list and diff, the sweep figure, and revisiting a run or finishing a sweep (``litlab rerun``,
``litlab resume``). It reads only the run-folder contract, so a folder copied from another
machine works the same; a stored config is data, checked before anything is built from it.
"""
