"""`fit`: Lightning training with checkpoints, resume after interruption, and progress."""
from __future__ import annotations

import contextlib
import logging
import os
import sys
import warnings
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from .._checks import fail
from .._ranks import is_main_process  # noqa: F401  (re-exported for the training workflows)


@contextlib.contextmanager
def seeded(seed: int):
    """Build a network's initial weights from ``seed`` (torch's global generator, restored after).

    ``fit`` seeds the training; the weights a module starts from are drawn when it is built,
    before ``fit``: without this they would depend on what ran earlier in the process.
    """
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(int(seed))
        yield


def _quiet_lightning() -> None:
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", ".*does not have many workers.*")
    warnings.filterwarnings("ignore", ".*LeafSpec.*")
    warnings.filterwarnings("ignore", ".*treespec.*")
    warnings.filterwarnings("ignore", ".*no `val_dataloader`.*")
    warnings.filterwarnings("ignore", ".*exists and is not empty.*")  # resuming into the run folder
    warnings.filterwarnings("ignore", ".*smaller than the logging interval.*")


class _NewSamplesEachEpoch(L.Callback):
    """Tell an on-the-fly dataset (one with ``set_epoch``) which epoch starts, so it draws new samples."""

    def __init__(self, dataset) -> None:
        self.dataset = dataset

    def on_train_epoch_start(self, trainer, _module) -> None:
        self.dataset.set_epoch(trainer.current_epoch)


class _ResumeNotice(L.Callback):
    """Say from which epoch an interrupted training continues (stderr), so a resumed run is not silent."""

    def on_train_start(self, trainer, _module) -> None:
        if trainer.current_epoch > 0 and trainer.is_global_zero:
            sys.stderr.write(f"resuming: epochs 1-{trainer.current_epoch} of {trainer.max_epochs} are done; "
                             f"continuing with epoch {trainer.current_epoch + 1}\n")


PRECISIONS = ("32-true", "bf16-mixed", "16-mixed", "bf16-true", "64-true", "32", "16", "bf16")
STRATEGIES = ("auto", "ddp", "ddp_find_unused_parameters_true", "ddp_spawn", "fsdp", "deepspeed")


def check_scaling(accelerator: str, devices: int, strategy: str, precision: str) -> None:
    """One-line errors for impossible device / strategy / precision combinations.

    Raises
    ------
    ValueError
        On devices < 1, an unknown strategy or precision, or 16-bit mixed precision on a CPU.
    """
    if isinstance(devices, bool) or int(devices) < 1:
        raise fail("--devices", "an integer >= 1", devices)
    if strategy not in STRATEGIES:
        raise fail("--strategy", f"one of {', '.join(STRATEGIES)}", repr(strategy))
    if precision not in PRECISIONS:
        raise fail("--precision", f"one of {', '.join(PRECISIONS[:5])}", repr(precision))
    if accelerator == "cpu" and precision in ("16-mixed", "16"):
        raise fail("--precision", "32-true or bf16-mixed on a CPU (16-bit mixed precision needs a GPU)", repr(precision))


def fit(module: L.LightningModule, train: Dataset, val: Dataset | None, out_dir,
        max_epochs: int, batch_size: int = 8, seed: int = 0, accelerator: str = "auto",
        show_progress: bool = True, devices: int = 1, strategy: str = "auto", precision: str = "32-true",
        deterministic: bool | None = None, keep_best: str | None = None) -> Path:
    """Train ``module`` and return the path of the final checkpoint.

    Checkpoints go to ``out_dir/checkpoints`` (``last.ckpt`` after every epoch); if one is
    there, training resumes from it, so an interrupted run continues where it stopped.

    Parameters
    ----------
    module : LightningModule
        E.g. :class:`PostProcessor` or :class:`~tomolearn.train.gan.IRDMModule`.
    train, val : Dataset
        E.g. :class:`PairedImages`; a dataset with ``set_epoch(epoch)`` (such as
        :class:`~tomolearn.train.library.MissingWedgeLibrary`) is told each new epoch.
    out_dir : path
        Run folder (created if missing).
    max_epochs : int
    batch_size : int
    seed : int
        Seeds torch, numpy and the loader order.
    accelerator : str
        Lightning accelerator ("auto", "cpu", "gpu").
    show_progress : bool
    devices : int
        Processes / GPUs (Lightning); with ``strategy="ddp"`` each trains on its share of every
        epoch (CPU: the gloo backend). Checkpoints are the same on any number of devices, so a
        run resumes on another count. After a multi-process fit, only the process for which
        :func:`is_main_process` is True should validate and write results.
    strategy : str
        "auto", "ddp", "ddp_spawn", ... (Lightning).
    precision : str
        "32-true", "bf16-mixed" (CPU or GPU), "16-mixed" (GPU).
    deterministic : bool, optional
        Deterministic algorithms only (torch), so a run repeats bit for bit on the same machine
        and thread count; default: the environment variable ``TOMOLEARN_DETERMINISTIC``
        (``--deterministic`` on the command line sets it).
    keep_best : str, optional
        A logged validation metric (e.g. ``"val_mse"``, needs ``val``): the checkpoint of the
        epoch where it was lowest is also kept, as ``out_dir/checkpoints/best.ckpt``
        (:func:`best_checkpoint`).

    Returns
    -------
    Path
        ``out_dir/checkpoints/last.ckpt``.

    Raises
    ------
    ValueError
        If ``max_epochs`` or ``batch_size`` is not positive.
    """
    if max_epochs < 1 or batch_size < 1:
        raise fail("max_epochs/batch_size", "integers >= 1", (max_epochs, batch_size))
    check_scaling(accelerator, devices, strategy, precision)
    if deterministic is None:
        deterministic = os.environ.get("TOMOLEARN_DETERMINISTIC", "") not in ("", "0")
    _quiet_lightning()
    L.seed_everything(seed, workers=True, verbose=False)
    out = Path(out_dir)
    ckpt_dir = out / "checkpoints"
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    last = ckpt_dir / "last.ckpt"
    # save_top_k=0 with save_last never writes during training in Lightning 2.6; one rolling
    # "last.ckpt" (no monitor, overwritten every epoch) is what resuming needs
    checkpoint = L.pytorch.callbacks.ModelCheckpoint(dirpath=ckpt_dir, filename="last", save_top_k=1, monitor=None,
                                                     enable_version_counter=False)
    best = []
    if keep_best:
        if val is None or not len(val):
            raise fail("keep_best", "a validation set to choose the best epoch on", "none")
        best = [L.pytorch.callbacks.ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=keep_best, mode="min",
                                                    save_top_k=1, enable_version_counter=False)]
    if strategy == "ddp" and getattr(module, "ddp_unused_parameters", False):
        strategy = "ddp_find_unused_parameters_true"  # e.g. a GAN: each optimiser step uses one network only
    trainer = L.Trainer(max_epochs=max_epochs, accelerator=accelerator, devices=int(devices), strategy=strategy,
                        precision=precision, default_root_dir=out,
                        callbacks=[checkpoint, *best, _ResumeNotice()] + ([_NewSamplesEachEpoch(train)] if hasattr(train, "set_epoch") else []), logger=L.pytorch.loggers.CSVLogger(out, name="logs"),
                        enable_progress_bar=show_progress, enable_model_summary=False,
                        num_sanity_val_steps=0, deterministic=bool(deterministic), log_every_n_steps=5)
    generator = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(train, batch_size=batch_size, shuffle=True, generator=generator, drop_last=len(train) > batch_size)
    val_loader = DataLoader(val, batch_size=batch_size) if val is not None and len(val) else None
    trainer.fit(module, train_loader, val_loader, ckpt_path=str(last) if last.exists() else None)
    return last


def best_checkpoint(out_dir) -> tuple[Path, int | None]:
    """The checkpoint :func:`fit` kept for its lowest validation metric, and its epoch (1-based).

    Falls back to ``last.ckpt`` (epoch None) when the run kept no best checkpoint.
    """
    ckpt_dir = Path(out_dir) / "checkpoints"
    best = ckpt_dir / "best.ckpt"
    if not best.exists():
        return ckpt_dir / "last.ckpt", None
    epoch = torch.load(best, map_location="cpu", weights_only=True).get("epoch")  # tensors and plain values only
    return best, None if epoch is None else int(epoch) + 1
