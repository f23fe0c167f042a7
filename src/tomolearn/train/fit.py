"""`fit`: Lightning training with checkpoints, resume after interruption, and progress."""
from __future__ import annotations

import logging
import warnings
from pathlib import Path

import lightning as L
import torch
from torch.utils.data import DataLoader, Dataset

from .._checks import fail


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


def fit(module: L.LightningModule, train: Dataset, val: Dataset | None, out_dir,
        max_epochs: int, batch_size: int = 8, seed: int = 0, accelerator: str = "auto",
        show_progress: bool = True) -> Path:
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
    trainer = L.Trainer(max_epochs=max_epochs, accelerator=accelerator, devices=1, default_root_dir=out,
                        callbacks=[checkpoint] + ([_NewSamplesEachEpoch(train)] if hasattr(train, "set_epoch") else []), logger=L.pytorch.loggers.CSVLogger(out, name="logs"),
                        enable_progress_bar=show_progress, enable_model_summary=False,
                        num_sanity_val_steps=0, deterministic=False, log_every_n_steps=5)
    generator = torch.Generator().manual_seed(seed)
    train_loader = DataLoader(train, batch_size=batch_size, shuffle=True, generator=generator, drop_last=len(train) > batch_size)
    val_loader = DataLoader(val, batch_size=batch_size) if val is not None and len(val) else None
    trainer.fit(module, train_loader, val_loader, ckpt_path=str(last) if last.exists() else None)
    return last
