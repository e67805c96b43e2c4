import numpy as np
import pytest

from probkm.reporting.outputs import OutputExistsError, atomic_write, prepare_output_dir, write_csv, write_text


def test_interrupted_write_leaves_the_previous_file_intact(tmp_path):
    target = tmp_path / "report.md"
    write_text(target, "previous")

    def broken(tmp):
        tmp.write_text("half of the new cont")
        raise KeyboardInterrupt  # the run is interrupted mid-write

    with pytest.raises(KeyboardInterrupt):
        atomic_write(target, broken)
    assert target.read_text() == "previous"
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]  # no temporary file left behind


def test_prepare_output_dir_refuses_then_forces(tmp_path):
    out = tmp_path / "o"
    prepare_output_dir(out)
    (out / "a.txt").write_text("a")
    with pytest.raises(OutputExistsError, match="pass --force"):
        prepare_output_dir(out)
    assert (out / "a.txt").exists()
    prepare_output_dir(out, force=True)
    assert list(out.iterdir()) == []
    (tmp_path / "file").write_text("x")
    with pytest.raises(OutputExistsError, match="is not a folder"):
        prepare_output_dir(tmp_path / "file", force=True)


def test_write_csv_round_trips(tmp_path):
    X = np.random.default_rng(0).normal(size=(5, 2))
    write_csv(tmp_path / "g.csv", X, np.arange(5))
    back = np.loadtxt(tmp_path / "g.csv", delimiter=",", skiprows=1)
    np.testing.assert_allclose(back[:, :2], X, rtol=1e-9)
    np.testing.assert_array_equal(back[:, 2], np.arange(5))
    assert (tmp_path / "g.csv").read_text().splitlines()[0] == "x0,x1,label"


@pytest.fixture
def umask():
    """Set the process umask for one test, and restore it."""
    import os

    previous = os.umask(0o022)
    os.umask(previous)
    yield lambda mask: os.umask(mask)
    os.umask(previous)


@pytest.mark.parametrize("mask, file_mode, folder_mode", [(0o022, 0o644, 0o755), (0o077, 0o600, 0o700), (0o002, 0o664, 0o775)])
def test_every_writer_honours_the_umask(tmp_path, umask, kmeans_fit, mask, file_mode, folder_mode):
    """Atomic writes start from a private temporary file; the result must not stay private."""
    umask(mask)
    write_text(tmp_path / "report.md", "text")
    write_csv(tmp_path / "g.csv", np.zeros((2, 2)))
    saved = kmeans_fit.save(tmp_path / "model")
    for path in (tmp_path / "report.md", tmp_path / "g.csv"):
        assert path.stat().st_mode & 0o777 == file_mode, oct(path.stat().st_mode)
    assert saved.stat().st_mode & 0o777 == folder_mode, oct(saved.stat().st_mode)
    for path in saved.iterdir():
        assert path.stat().st_mode & 0o777 == file_mode, (path.name, oct(path.stat().st_mode))
