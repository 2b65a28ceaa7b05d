"""`blend apply` warns before writing a submission that uses a flagged model (issue 21 F)."""

from __future__ import annotations

from blend.cli import main as blend


def test_apply_warns_about_a_misaligned_model_before_writing(misaligned_folder, tmp_path, capsys):
    store = misaligned_folder
    recipe = tmp_path / "r.json"
    assert blend(["optimize", store, "--method", "de", "--maxiter", "2", "--no-nested",
                  "--recipe", str(recipe)]) == 0
    capsys.readouterr()
    assert blend(["apply", str(recipe), "--store", store, "--out", str(tmp_path / "sub.csv")]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "warning: the submission uses model 'vit': misaligned" in err
    assert "'resnet'" not in err
    assert (tmp_path / "sub.csv").exists()


def test_apply_is_quiet_when_no_model_is_flagged(misaligned_folder, tmp_path, capsys):
    store = misaligned_folder
    recipe = tmp_path / "r.json"
    assert blend(["optimize", store, "--method", "de", "--maxiter", "2", "--no-nested",
                  "--models", "effnet", "resnet", "lgbm", "--recipe", str(recipe)]) == 0
    capsys.readouterr()
    assert blend(["apply", str(recipe), "--store", store, "--out", str(tmp_path / "sub.csv")]) == 0
    assert "warning" not in capsys.readouterr().err
