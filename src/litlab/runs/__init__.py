"""Everything that reads or writes a run folder (see README, "The run folder")."""
