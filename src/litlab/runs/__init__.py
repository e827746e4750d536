"""Everything that reads or writes a run folder (README "The run folder"): one model of it
(``folder.Run``) and thin commands on it. Only the run-folder contract is read, so a folder copied
from another machine works the same; a stored config is data, checked before anything is built."""
