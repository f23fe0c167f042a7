import json

import numpy as np
import pytest

from conftest import data_file, write_htc_limited
from tomolearn import load_scan
from tomolearn.io import load_volume, save_volume
from tomolearn.recon import fbp
from tomolearn.scan import Scan


def test_htc_full_file_and_orientation():
    path = data_file("htc2022", "htc2022_tb_full.mat")
    scan = load_scan(path)
    g = scan.geometry
    assert scan.projections.shape == (721, 1, 560)
    assert g.volume_shape == (512, 512) and g.voxel_size == pytest.approx(0.14832, rel=1e-4)
    assert g.source_origin == pytest.approx(410.66) and g.magnification == pytest.approx(1.3484, rel=1e-3)
    assert scan.reference_segmentation.shape == (1, 512, 512)
    rec = fbp(scan.sinogram(0), g)
    # same orientation and units as the official full-data reconstruction
    assert np.corrcoef(rec.ravel(), scan.reference[0].ravel())[0, 1] > 0.99
    assert rec.mean() == pytest.approx(scan.reference[0].mean(), rel=0.05)


def test_htc_limited_file(tmp_path):
    """A CtDataLimited file (the challenge's test format) reads and keeps its arc."""
    scan = load_scan(write_htc_limited("htc2022_ta_full.mat", tmp_path / "htc2022_ta_limited.mat", 100, 221))
    assert scan.projections.shape == (121, 1, 560)
    assert np.degrees(scan.geometry.angular_range) == pytest.approx(60.5, abs=0.01)
    assert scan.reference is None


def test_dxchange_tooth_flat_dark_and_centre():
    scan = load_scan(data_file("aps_tooth", "tooth.h5"))
    assert scan.projections.shape == (181, 2, 640)
    proj = np.asarray(scan.projections)  # read on demand; here all of it
    assert np.isfinite(proj).all() and proj.max() < 5
    # TomoPy's tutorial centre for this file is about column 296, i.e. offset -23.5
    assert -26 < scan.geometry.cor_offset < -21


def test_mrc_tilt_series():
    scan = load_scan(data_file("et_needle_haadf", "HAADF.mrc"))
    assert scan.projections.shape == (77, 256, 256)
    assert np.degrees(scan.geometry.angles[[0, -1]]) == pytest.approx([-76, 76])
    # tilt axis along V: the mass of each slice (one detector row) is nearly tilt-independent
    mass = scan.projections.sum(axis=2)
    assert np.median(mass.std(0) / (np.abs(mass).mean(0) + 1)) < 0.6


def test_unknown_and_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        load_scan(tmp_path / "absent.h5")
    bad = tmp_path / "scan.xyz"
    bad.write_text("x")
    with pytest.raises(ValueError, match="extensions"):
        load_scan(bad)
    junk = tmp_path / "junk.h5"
    junk.write_bytes(b"not hdf5")
    with pytest.raises(ValueError, match="readable"):
        load_scan(junk)
    (tmp_path / "tilt.mrc").write_bytes(b"\0" * 2048)
    with pytest.raises(FileNotFoundError, match="rawtlt"):
        load_scan(tmp_path / "tilt.mrc")


def test_scan_rejects_mismatched_angles_and_nan():
    from tomolearn.geometry import ParallelGeometry, uniform_angles

    g = ParallelGeometry(uniform_angles(10), 8)
    with pytest.raises(ValueError, match="number of angles"):
        Scan(np.zeros((9, 1, 8)), g)
    data = np.zeros((10, 1, 8))
    data[0, 0, 0] = np.inf
    with pytest.raises(ValueError, match="NaN/inf"):
        Scan(data, g)


@pytest.mark.parametrize("suffix", [".h5", ".tif"])
def test_volume_round_trip_and_no_overwrite(tmp_path, suffix, rng):
    vol = rng.random((3, 8, 9), dtype=np.float32)
    path = save_volume(tmp_path / f"v{suffix}", vol, voxel_size=0.5, unit="mm")
    assert np.allclose(load_volume(path), vol)
    with pytest.raises(FileExistsError, match="overwrite"):
        save_volume(path, vol)
    save_volume(path, vol * 2, overwrite=True)
    assert np.allclose(load_volume(path), vol * 2)
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # no temporary left behind


def test_nxtomo_fly_scan_with_encoder_angles():
    scan = load_scan(data_file("k11_flyscan", "k11-18014.nxs"))
    assert scan.projections.shape == (3001, 22, 26)
    assert scan.metadata["n_flats"] == 100 and scan.metadata["n_darks"] == 100
    deg = np.degrees(scan.geometry.angles)
    assert 89.9 < deg[0] < 90.1 and 269.9 < deg[-1] < 270.1
    assert scan.metadata["angular_step_deg"] == pytest.approx(0.06, abs=1e-3)
    assert np.isfinite(scan.projections).all()


def test_tiff_stack_with_angle_list_and_off_centre_axis():
    folder = data_file("i13_wire", "tiffs")
    scan = load_scan(folder, angle_offset=10)
    assert scan.projections.shape == (91, 135, 160)
    assert np.degrees(scan.geometry.angles[[0, -1]]) == pytest.approx([-88.2, 91.8], abs=1e-3)
    assert scan.projections.max() < 5  # the dead flat pixel is neutralised, not -log(1e-6)
    # at the found centre the wire is in focus; 15 px off it smears into an arc (lower peak)
    g = scan.geometry.replace(n_rows=1)

    def peak(cor):
        return float(fbp(scan.sinogram(67), g.replace(cor_offset=cor)).max())

    assert peak(g.cor_offset) > 1.2 * max(peak(g.cor_offset - 15), peak(g.cor_offset + 15))
    with pytest.raises(ValueError, match="angle"):
        load_scan(folder)  # 111 listed angles for 91 projections without the offset


def test_dead_flat_pixels_get_transmission_one():
    from tomolearn.preprocess import normalize

    data = np.full((2, 1, 3), 50.0)
    flats = np.array([[[100.0, 10.0, 100.0]]])
    darks = np.array([[[0.0, 10.0, 0.0]]])
    t = normalize(data, flats, darks)
    assert np.allclose(t[:, 0], [[0.5, 1.0, 0.5]] * 2)


def test_htc_reader_refuses_non_mat_files_and_missing_geometry_in_one_line(tmp_path):
    import scipy.io
    from typer.testing import CliRunner

    from tomolearn.cli import app

    text = tmp_path / "notes.mat"
    text.write_text("not a MATLAB file\n")
    nogeom = tmp_path / "nogeom.mat"
    scipy.io.savemat(nogeom, {"CtDataFull": {"sinogram": np.zeros((10, 20)), "parameters": {"angles": np.arange(10.0)}}})
    for path, msg in ((text, "a MATLAB .mat file"), (nogeom, "without effectivePixelSizePost")):
        r = CliRunner().invoke(app, ["info", str(path)])
        assert r.exit_code == 2 and msg in r.output and "Traceback" not in r.output, r.output


def test_cli_reads_tiff_folders_with_an_angle_offset():
    from typer.testing import CliRunner

    from conftest import data_file
    from tomolearn.cli import app

    folder = data_file("i13_wire", "tiffs")
    r = CliRunner().invoke(app, ["info", str(folder)])
    assert r.exit_code == 2 and "--angle-offset" in r.output  # the fix names the CLI option, not Python
    r = CliRunner().invoke(app, ["info", str(folder), "--angle-offset", "10"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["projections_shape_AVU"] == [91, 135, 160]


def test_data_exchange_reader_rejects_ambiguous_data(tmp_path):
    import h5py

    from tomolearn.io import load_scan as read

    flat2d = tmp_path / "flat2d.h5"
    with h5py.File(flat2d, "w") as f:
        f["exchange/data"] = np.zeros((10, 16), np.float32)
        f["exchange/theta"] = np.arange(10.0)
    counts = tmp_path / "counts.h5"
    with h5py.File(counts, "w") as f:
        f["exchange/data"] = np.full((10, 2, 16), 1000, np.uint16)
        f["exchange/theta"] = np.arange(10.0)
    with pytest.raises(ValueError, match=r"exchange/data: expected projections \(A, V, U\)"):
        read(flat2d)
    with pytest.raises(ValueError, match="without flat fields"):
        read(counts)


def test_angle_files_and_mrc_files_errors_name_the_file(tmp_path):
    import shutil

    from conftest import data_file
    from tomolearn.io import load_scan as read

    src = data_file("et_needle_haadf", "HAADF.mrc")
    mrc = tmp_path / "s.mrc"
    shutil.copy(src, mrc)
    lines = (src.with_suffix(".rawtlt")).read_text().splitlines()
    lines[3] = "abc"
    (tmp_path / "s.rawtlt").write_text("\n".join(lines))
    with pytest.raises(ValueError, match=r"angles_file: .*'s.rawtlt'.*'abc' on line 4"):
        read(mrc)
    tiny = tmp_path / "tiny.mrc"
    tiny.write_bytes(b"\x00\x01\x02\x03")
    (tmp_path / "tiny.rawtlt").write_text("0\n1\n")
    with pytest.raises(ValueError, match="'tiny.mrc'"):
        read(tiny)


def test_malformed_theta_is_named(tmp_path):
    import h5py

    from tomolearn.io import load_scan as read

    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f["exchange/data"] = np.zeros((3, 1, 8), np.float32)
        f["exchange/theta"] = np.array([b"0", b"abc", b"2"])
    with pytest.raises(ValueError, match=r"exchange/theta: .*'bad.h5'"):
        read(bad)


def test_angles_given_on_the_command_line_open_files_without_an_angle_file(tmp_path):
    import mrcfile
    import tifffile
    from typer.testing import CliRunner

    from tomolearn.cli import app
    from tomolearn.io._raw import parse_angles_deg

    assert parse_angles_deg("-60:60:5").tolist() == [-60, -30, 0, 30, 60]
    assert parse_angles_deg("0, 1.5,3").tolist() == [0, 1.5, 3]
    for bad in ("a:b:c", "0:10:0", "1,,x", "nan", ""):
        with pytest.raises(ValueError, match="--angles-deg"):
            parse_angles_deg(bad)
    tilt = tmp_path / "t.mrc"
    with mrcfile.new(tilt) as m:
        m.set_data(np.random.default_rng(0).random((5, 16, 16)).astype(np.float32))
    runner = CliRunner()
    r = runner.invoke(app, ["info", str(tilt)])
    assert r.exit_code == 2 and "--angles-deg" in r.output  # the error names the way out
    r = runner.invoke(app, ["info", str(tilt), "--angles-deg", "-60:60:5"])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["info", str(tilt), "--angles-deg", "-60:60:4"])
    assert r.exit_code == 2 and "5 angles (one per image)" in r.output
    folder = tmp_path / "tiffs"
    folder.mkdir()
    for i in range(4):
        tifffile.imwrite(folder / f"raw_{i}.tif", np.full((2, 8), 500 + i, np.uint16))
    tifffile.imwrite(folder / "flat.tif", np.full((2, 8), 1000, np.uint16))
    r = runner.invoke(app, ["reconstruct", str(folder), "--angles-deg", "0:135:4", "-o", str(tmp_path / "r.h5")])
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, ["info", str(tmp_path / "r.h5"), "--angles-deg", "0:135:4"])
    assert r.exit_code == 2 and "--angles-deg" in r.output  # a format that takes no angles
