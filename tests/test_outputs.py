import numpy as np
import pytest

from probkm.outputs import OutputExistsError, atomic_write, prepare_output_dir, write_csv, write_text


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
