"""Real data files: R's write.csv output (quoted header, row names, a text column, NA cells),
columns chosen by name or index, a label column compared by the adjusted Rand index, features
of unequal scale, and ``--standardize`` reporting and generating in the data's units."""

import json
import re

import numpy as np
import pytest
import sklearn.datasets

from probkm.cli.commands import main
from probkm.cli.config import ConfigError, load_select_config
from probkm.datasets import load_data, scale_note

IRIS_NAMES = ["Sepal.Length", "Sepal.Width", "Petal.Length", "Petal.Width"]


def write_r_csv(path, columns: dict, *, row_names=True):
    """What R's ``write.csv(data.frame(...))`` writes: a quoted header led by "" for the row
    names, quoted row names and text, bare numbers, and NA (bare) for a missing entry."""

    def cell(v):
        if isinstance(v, str):
            return f'"{v}"'
        return "NA" if np.isnan(v) else repr(float(v))

    n = len(next(iter(columns.values())))
    header = ([""] if row_names else []) + list(columns)
    lines = [",".join(f'"{h}"' for h in header)]
    for i in range(n):
        lines.append(",".join(([f'"{i + 1}"'] if row_names else []) + [cell(col[i]) for col in columns.values()]))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def iris_csv(tmp_path_factory):
    iris = sklearn.datasets.load_iris()
    columns = {name: iris.data[:, j] for j, name in enumerate(IRIS_NAMES)}
    columns["Species"] = [str(iris.target_names[t]) for t in iris.target]
    return write_r_csv(tmp_path_factory.mktemp("iris") / "iris.csv", columns), iris


def faithful_like(n=272, seed=0):
    """Two clusters in minutes: eruptions (sd about 1.1) and waiting (sd about 13.6)."""
    rng = np.random.default_rng(seed)
    short = rng.random(n) < 0.35
    eruptions = np.where(short, rng.normal(2.0, 0.3, n), rng.normal(4.3, 0.4, n))
    waiting = np.where(short, rng.normal(55.0, 5.5, n), rng.normal(80.0, 5.5, n))
    return np.c_[eruptions, waiting]


@pytest.fixture(scope="module")
def faithful_csv(tmp_path_factory):
    X = faithful_like()
    return write_r_csv(tmp_path_factory.mktemp("faithful") / "faithful.csv", {"eruptions": X[:, 0], "waiting": X[:, 1]}), X


# --- reading ---------------------------------------------------------------------------------


def test_r_csv_row_names_and_text_column_are_left_out_with_notes(iris_csv):
    path, iris = iris_csv
    data = load_data(path)
    np.testing.assert_allclose(data.X, iris.data)
    assert data.feature_names == tuple(IRIS_NAMES) and data.labels is None
    assert any("row names (1 to 150)" in note for note in data.notes)
    assert any("non-numeric column(s): 'Species'" in note and "--label-column" in note for note in data.notes)


def test_label_column_is_kept_out_of_the_features(iris_csv):
    path, iris = iris_csv
    data = load_data(path, label_column="Species")
    assert data.X.shape == (150, 4) and not any("non-numeric" in note for note in data.notes)
    assert data.labels.tolist() == [str(iris.target_names[t]) for t in iris.target]
    assert load_data(path, label_column=4).labels.tolist() == data.labels.tolist()


def test_columns_by_name_by_index_and_by_digits(iris_csv):
    path, iris = iris_csv
    for columns in (["Petal.Length", "Petal.Width"], [2, 3], ["2", "Petal.Width"]):
        data = load_data(path, columns=columns)
        np.testing.assert_allclose(data.X, iris.data[:, 2:])
        assert data.feature_names == ("Petal.Length", "Petal.Width") and data.notes[1:] == ()


def test_unknown_column_lists_the_available_ones(iris_csv):
    path, _ = iris_csv
    with pytest.raises(ValueError, match=re.escape("columns: no column 'petal'; available columns (0-based index and name): 0 'Sepal.Length', 1 'Sepal.Width'")):
        load_data(path, columns=["petal"])
    with pytest.raises(ValueError, match=re.escape("label_column: no column 7;")):
        load_data(path, label_column=7)
    with pytest.raises(ValueError, match=re.escape("column 'Species' (index 4) is also the label_column")):
        load_data(path, columns=[0, "Species"], label_column="Species")


def test_a_chosen_text_column_is_an_error_naming_column_line_and_value(iris_csv):
    path, _ = iris_csv
    with pytest.raises(ValueError, match=re.escape(f"{path}: columns: column 'Species' (index 4) is not numeric: line 2 has the value 'setosa'.")):
        load_data(path, columns=["Sepal.Length", "Species"])


def test_missing_entries_are_nan_at_their_cells(tmp_path):
    path = tmp_path / "holes.csv"
    path.write_text('"","a","b","c","kind"\n"1",1,NA,3,"x"\n"2",,5,6,"y"\n"3",7,8,NaN,"x"\n"4",nan,10,11,"y"\n"5",12,13,14,NA\n')
    data = load_data(path, label_column="kind")
    expected = np.array([[1, np.nan, 3], [np.nan, 5, 6], [7, 8, np.nan], [np.nan, 10, 11], [12, 13, 14]])
    np.testing.assert_array_equal(np.isnan(data.X), np.isnan(expected))
    np.testing.assert_array_equal(data.X[~np.isnan(expected)], expected[~np.isnan(expected)])
    assert data.labels.tolist() == ["x", "y", "x", "y", "NA"]
    assert "4 missing entries (NA, empty or NaN) read as NaN, in 4 of 5 rows; by column: 'a' 2, 'b' 1, 'c' 1." in data.notes


def test_a_typo_in_a_numeric_column_is_named_not_dropped(tmp_path):
    path = tmp_path / "typo.csv"
    path.write_text("a,b\n1,2\n3,4\n5,x\n")
    with pytest.raises(ValueError, match=re.escape("line 4 has the non-numeric value 'x' in column 'b' (index 1)")):
        load_data(path)


def test_headerless_csv_and_npy_columns_by_index(tmp_path):
    (tmp_path / "plain.csv").write_text("1,2,3\n4,5,6\n")
    data = load_data(tmp_path / "plain.csv", columns=[2, 0])
    assert data.X.tolist() == [[3.0, 1.0], [6.0, 4.0]] and data.feature_names == ("x2", "x0")
    np.save(tmp_path / "a.npy", np.array([[1.0, 2.0, 0.0], [3.0, np.nan, 1.0]]))
    data = load_data(tmp_path / "a.npy", label_column=2)
    assert data.labels.tolist() == [0.0, 1.0] and np.isnan(data.X[1, 1]) and data.X.shape == (2, 2)
    np.save(tmp_path / "inf.npy", np.array([[1.0, np.inf]]))
    with pytest.raises(ValueError, match="contains infinity at row 0, column 1"):
        load_data(tmp_path / "inf.npy")


def test_bundled_data_by_column_name():
    data = load_data("sklearn:iris", columns=["petal length (cm)", 3])
    assert data.X.shape == (150, 2) and data.labels.shape == (150,)
    with pytest.raises(ValueError, match="carries its own labels"):
        load_data("sklearn:iris", label_column=0)


def test_scale_note_for_faithful_like_data_and_not_for_z_scores(faithful_csv):
    _, X = faithful_csv
    note = scale_note(X, ["eruptions", "waiting"])
    assert note is not None and re.search(r"eruptions 1\.\d+, waiting 1[2-5]\.\d", note) and "--standardize" in note
    assert scale_note((X - X.mean(0)) / X.std(0), ["eruptions", "waiting"]) is None
    assert scale_note(np.c_[X[:, 0], 5 * X[:, 0] + 1]) is None  # 5-fold: comparable units


def test_data_keys_of_the_config():
    config = load_select_config(None, ["data.columns=[Petal.Length, 3]", "data.label_column=Species", "data.standardize=true"])
    assert config.data.columns == ("Petal.Length", 3) and config.data.label_column == "Species"
    with pytest.raises(ConfigError, match=re.escape("data.columns must be None or a non-empty list of column name (string) or 0-based index (int >= 0); got [-1].")):
        load_select_config(None, ["data.columns=[-1]"])


# --- the command line (tiny fits) ---------------------------------------------------------------


def test_fit_on_r_iris_with_label_column(iris_csv, tmp_path, capsys):
    path, _ = iris_csv
    out = tmp_path / "fit"
    assert main(["fit", str(path), "-k", "3", "--model", "kmeans", "--label-column", "Species", "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "row names (1 to 150)" in err and "adjusted Rand index against 'Species'" in err
    params = json.loads((out / "params.json").read_text())
    assert params["adjusted_rand_index"] > 0.5  # k-means on iris finds setosa and most of the rest
    report = (out / "report.md").read_text()
    assert f"against column 'Species' (3 classes): {params['adjusted_rand_index']:.4f}" in report
    assert (out / "labels.csv").read_text().splitlines()[0] == "Sepal.Length,Sepal.Width,Petal.Length,Petal.Width,label"


def test_fit_reports_dropped_columns_and_bad_names(iris_csv, tmp_path, capsys):
    path, _ = iris_csv
    assert main(["fit", str(path), "-k", "3", "--columns", "Petal.Length,petal", "--out", str(tmp_path / "o")]) == 1
    assert "no column 'petal'; available columns (0-based index and name): 0 'Sepal.Length'" in capsys.readouterr().err


def test_faithful_warns_about_scales_and_standardize_reports_in_minutes(faithful_csv, tmp_path, capsys):
    path, X = faithful_csv
    assert main(["fit", str(path), "-k", "2", "--model", "kmeans", "--out", str(tmp_path / "raw")]) == 0
    assert "standard deviations differ" in capsys.readouterr().err
    assert "--standardize" in (tmp_path / "raw" / "report.md").read_text()

    out = tmp_path / "z"
    assert main(["generate", str(path), "-k", "2", "--standardize", "--n", "4000", "--seed", "3", "--out", str(out)]) == 0
    assert "standard deviations differ" not in capsys.readouterr().err
    report = (out / "report.md").read_text()
    assert "standard deviations differ" not in report
    sigma_z = float(re.search(r"plug-in sigma = ([\d.]+) in z-units", report).group(1))
    shown = re.search(r"one sd per feature: eruptions ([\d.]+), waiting ([\d.]+)\.", report)
    np.testing.assert_allclose([float(shown.group(1)), float(shown.group(2))], sigma_z * X.std(0), rtol=2e-3)
    generated = np.loadtxt(out / "generated.csv", delimiter=",", skiprows=1)
    assert (out / "generated.csv").read_text().startswith("eruptions,waiting,label")
    # the generated spread is the data's in each feature, within sampling error (4000 points: sd's se about 1%)
    np.testing.assert_allclose(generated[:, :2].std(0), X.std(0), rtol=0.1)
    assert np.all(np.abs(generated[:, :2].mean(0) - X.mean(0)) < 0.1 * X.std(0))
    # each cluster's spread in minutes follows the per-feature sigma: waiting's about 12x eruptions'
    within = np.mean([generated[generated[:, 2] == k, :2].std(0) for k in (0, 1)], axis=0)
    np.testing.assert_allclose(within[1] / within[0], X.std(0)[1] / X.std(0)[0], rtol=0.1)


def test_fit_standardize_writes_sigma_per_feature(faithful_csv, tmp_path):
    path, X = faithful_csv
    out = tmp_path / "fit"
    assert main(["fit", str(path), "-k", "2", "--model", "kmeans", "--standardize", "--quiet", "--out", str(out)]) == 0
    params = json.loads((out / "params.json").read_text())
    assert "plugin_sigma" not in params and params["standardized"]["sd"] == pytest.approx(X.std(0).tolist())
    np.testing.assert_allclose(params["plugin_sigma_per_feature"], params["plugin_sigma_z"] * X.std(0), rtol=1e-9)
    means = np.asarray(params["cluster_centers"])
    np.testing.assert_allclose(np.sort(means[:, 1]), [55.0, 80.0], atol=3.0)  # the two waiting times, in minutes


@pytest.mark.slow
def test_select_with_label_column_and_standardize(iris_csv, tmp_path, capsys):
    path, iris = iris_csv
    out = tmp_path / "sel"
    args = ["select", str(path), "--k", "2:3", "--label-column", "Species", "--standardize", "--set", "n_generate=600", "--out", str(out)]
    assert main(args) == 0
    assert "adjusted Rand index of K =" in capsys.readouterr().err
    report = (out / "report.md").read_text()
    assert "Adjusted Rand index of the clusters against column 'Species'" in report and "one sd per feature: Sepal.Length" in report
    generated = np.loadtxt(out / "generated.csv", delimiter=",", skiprows=1)
    assert np.all(np.abs(generated[:, :4].mean(0) - iris.data.mean(0)) < 0.15 * iris.data.std(0))
