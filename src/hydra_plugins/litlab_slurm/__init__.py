"""litlab's SLURM launcher (``hydra/launcher=slurm``, ``conf/hydra/launcher/slurm.yaml``) under
the names Hydra accepts: its config schema in Hydra's config store, the class in a module under
``hydra_plugins``. The code is in ``litlab.sweeps.slurm``."""

try:  # with the sweeps extra (hydra-submitit-launcher) installed
    from litlab.sweeps import slurm
except ImportError:  # pragma: no cover - without it, hydra/launcher=slurm is not offered
    slurm = None  # type: ignore[assignment]

if slurm is not None:
    from hydra.core.config_store import ConfigStore

    ConfigStore.instance().store(
        group="hydra/launcher", name="litlab_slurm", node=slurm.LitlabSlurmConf,
        provider="litlab",
    )  # fmt: skip

    class SlurmLauncher(slurm.SlurmLauncher):
        """See ``litlab.sweeps.slurm.SlurmLauncher``."""
