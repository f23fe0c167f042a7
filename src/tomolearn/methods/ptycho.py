"""Ptycho-tomography methods (seed 001): the one-step approximant and the two-step baselines.

They take a :class:`~tomolearn.io.ptycho.PtychoScan` (diffraction patterns), declare the
``"ptycho"`` geometry and run on the whole volume; the output is δ on the scan's grid.
"""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..recon.ptycho import approximant, two_step
from ..result import Result
from .base import Method, Params, register


class _Ptycho(Method):
    geometries = ("ptycho",)
    execution = "volume"
    memory_factor = 12.0

    def run(self, scan, op=None) -> Result:
        """Reconstruct a ptycho-tomography scan.

        Parameters
        ----------
        scan : PtychoScan
            Patterns ``(A, J, Q, Q)``, probe and geometry (what ``reconstruct`` hands over for
            methods of the ``"ptycho"`` geometry).
        op : None
            Unused: the method builds its own multislice model from the scan.

        Returns
        -------
        Result
            ``volume`` δ ``(Z, Y, X)`` on ``scan.geometry.volume_shape``.
        """
        return Result(self.volume(scan))

    def multislice_model(self) -> tuple[int, int | None]:
        """``(n_slabs, n_modes)`` of the multislice model this method fits: the trust maps'
        data term (:func:`~tomolearn.trust.ptycho_data_residual_map`) is evaluated with it."""
        return 5, None


class ApproximantParams(Params):
    n_iter: int = Field(2, ge=0, description="gradient-descent steps k (seed 001: 2)")
    n_slabs: int = Field(5, ge=1, description="multislice slabs L (seed 001: 5)")
    n_modes: int | None = Field(None, ge=1, description="probe modes M used (default: all in the file)")
    downsample: int = Field(2, ge=1, description="pattern cropping / object coarsening factor (seed 001: 2)")


@register
class Approximant(_Ptycho):
    """RAPID's approximant: gradient descent on the multislice data term from all angles, slabs dilated.

    Guo et al., "Three-dimensional nanoscale reduced-angle ptycho-tomographic imaging with deep
    learning (RAPID)", eLight 3, 7 (2023), section 4.3.
    """

    name = "approximant"
    summary = "ptycho-tomography: one-step multislice gradient-descent approximant (RAPID, seed 001)"
    Params = ApproximantParams

    def multislice_model(self) -> tuple[int, int | None]:
        return self.params.n_slabs, self.params.n_modes

    def volume(self, scan):
        p = self.params
        return approximant(scan, n_iter=p.n_iter, n_slabs=p.n_slabs, n_modes=p.n_modes, downsample=p.downsample,
                           device=self.device, show_progress=self.show_progress)


class TwoStepParams(Params):
    ptycho_iter: int = Field(200, ge=1, description="per-angle ptychography iterations (parallel rPIE)")
    refine_slabs: int = Field(3, ge=1, description="slabs of the per-angle multislice refinement")
    refine_iter: int = Field(50, ge=0, description="multislice refinement iterations (0: projection approximation)")
    n_modes: int | None = Field(None, ge=1, description="probe modes used (default: all in the file)")


class TwoStepSARTParams(TwoStepParams):
    n_iter: int = Field(10, ge=1, description="SART iterations (seed 001: 10)")


class TwoStepFBPParams(TwoStepParams):
    filter: Literal["ramp", "shepp-logan", "cosine", "hamming", "hann", "parzen"] = Field(
        "ramp", description="FBP filter")


class _TwoStep(_Ptycho):
    algorithm = "sart"

    def multislice_model(self) -> tuple[int, int | None]:
        return self.params.refine_slabs, self.params.n_modes

    def volume(self, scan):
        p = self.params
        vol, _ = two_step(scan, self.algorithm, n_iter=getattr(p, "n_iter", 10), filter=getattr(p, "filter", "ramp"),
                          ptycho_iter=p.ptycho_iter, refine_slabs=p.refine_slabs, refine_iter=p.refine_iter,
                          n_modes=p.n_modes, device=self.device, show_progress=self.show_progress)
        return vol


@register
class TwoStepSART(_TwoStep):
    """Conventional two-step ptycho-tomography: per-angle ptychography, phase unwrapping, SART.

    The golden standard of Guo et al., eLight 3, 7 (2023), section 4.5, on the full angle set;
    the SART baseline on a reduced one.
    """

    name = "two_step_sart"
    summary = "ptycho-tomography: per-angle ptychography + phase unwrapping, then SART (golden standard)"
    Params = TwoStepSARTParams
    algorithm = "sart"


@register
class TwoStepFBP(_TwoStep):
    """Conventional two-step ptycho-tomography with FBP (Guo et al., eLight 3, 7 (2023), section 4.5)."""

    name = "two_step_fbp"
    summary = "ptycho-tomography: per-angle ptychography + phase unwrapping, then FBP"
    Params = TwoStepFBPParams
    algorithm = "fbp"
    memory_factor = 8.0
