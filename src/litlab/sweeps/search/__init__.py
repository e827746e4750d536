"""litlab's hyperparameter search: a Hydra sweeper on Optuna's ask-and-tell API (``sweeper``),
the search space in Hydra's override grammar (``space``), the study's storage (``storage``) and
the Lightning callback that lets Optuna's pruner stop a hopeless trial (``pruning``).
README "Hyperparameter search" says why litlab has its own sweeper."""
