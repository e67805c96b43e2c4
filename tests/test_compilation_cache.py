import jax

from probkm.inference.compilation_cache import default_cache_dir, enable_compilation_cache


def test_default_folder_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PROBKM_CACHE_DIR", str(tmp_path / "here"))
    assert default_cache_dir() == tmp_path / "here"
    monkeypatch.delenv("PROBKM_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "probkm" / "jax"


def test_an_unusable_folder_leaves_the_cache_off(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    before = jax.config.jax_compilation_cache_dir
    assert enable_compilation_cache(blocker / "cache") is None
    assert jax.config.jax_compilation_cache_dir == before
