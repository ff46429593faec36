"""``Predictor`` and ``explainer predict``: rows for every file, exact CSV/JSON schema, Kaggle."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch
from PIL import Image
from test_preprocess import _png_header_only

from explainer.cli import main
from explainer.reading.predict import CSV_COLUMNS, Predictor, read_kaggle_csv


@pytest.fixture
def photo_folder(tmp_path, sample):
    """Four digit pictures (dark ink on white, PNG and JPEG), a broken file and a PNG whose
    header claims 20000×20000 pixels."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(4):
        d = 255 - np.asarray(Image.fromarray(sample.images[i].numpy()).resize((112, 112)))
        Image.fromarray(np.pad(d, 40, constant_values=255)).save(
            folder / f"d{i}_{int(sample.labels[i])}.{'png' if i % 2 else 'jpg'}"
        )
    (folder / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    _png_header_only(folder / "huge.png", 20000, 20000)
    (folder / "readme.txt").write_text("not an image suffix: ignored")
    return folder


def test_predict_matches_the_model_on_the_preprocessed_image(sample, tinyvgg):
    predictor = Predictor(tinyvgg)
    canvas = np.zeros((280, 280, 4), np.uint8)
    big = np.asarray(Image.fromarray(sample.images[1].numpy()).resize((200, 200)))
    canvas[40:240, 40:240, :3], canvas[40:240, 40:240, 3] = 255, big
    p = predictor.predict(canvas)
    with torch.no_grad():
        logits = tinyvgg.model(p.preprocessed.tensor())
        probs = torch.softmax(logits / predictor.temperature, 1)[0].numpy()  # calibrated
    np.testing.assert_allclose(p.probs, probs, rtol=1e-5, atol=1e-6)
    assert p.label == int(probs.argmax()) and p.confidence == pytest.approx(probs.max())
    assert p.top2 != p.label and p.top2_confidence == pytest.approx(np.sort(probs)[-2])
    assert p.label == int(sample.labels[1])


def test_folder_with_a_broken_file_yields_a_row_for_every_file(photo_folder, tinyvgg):
    rows = Predictor(tinyvgg).predict_many([photo_folder])
    pictures = sorted(str(p) for p in photo_folder.iterdir() if p.suffix != ".txt")
    assert [r.file for r in rows] == pictures and len(rows) == 6
    errors = {r.file.rsplit("/", 1)[1]: r.error for r in rows if r.prediction is None}
    assert set(errors) == {"broken.png", "huge.png"}
    assert "not a readable image" in errors["broken.png"] and "too large" in errors["huge.png"]
    good = [r for r in rows if r.prediction is not None]
    assert len(good) == 4 and all(r.error == "" for r in good)
    right = sum(r.prediction.class_name == r.file.rsplit("_", 1)[1][0] for r in good)
    assert right >= 3


def test_cli_csv_has_exactly_the_promised_columns(photo_folder, tinyvgg, tmp_path, capsys):
    out = tmp_path / "pred.csv"
    assert main(["predict", str(photo_folder), "--model", str(tinyvgg.path),
                 "--format", "csv", "--out", str(out)]) == 0  # fmt: skip
    with open(out) as fh:
        reader = csv.DictReader(fh)
        rows = list(reader)
    assert tuple(reader.fieldnames) == CSV_COLUMNS
    assert len(rows) == 6
    for r in rows:
        if r["file"].endswith(("broken.png", "huge.png")):
            assert r["error"] and r["prediction"] == ""
        else:
            assert r["error"] == "" and r["prediction"] in "0123456789"
            assert 0.0 <= float(r["top2_confidence"]) <= float(r["confidence"]) <= 1.0
    assert "6 files, 4 predicted, 2 errors" in capsys.readouterr().out


def test_cli_json_is_a_list_of_the_same_objects(photo_folder, tinyvgg, capsys):
    assert main(["predict", str(photo_folder), "--model", str(tinyvgg.path),
                 "--format", "json"]) == 0  # fmt: skip
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == 6
    assert all(tuple(r) == CSV_COLUMNS for r in rows)
    assert sum(bool(r["error"]) for r in rows) == 2


def test_cli_save_preprocessed_writes_every_step(photo_folder, tinyvgg, tmp_path, capsys):
    steps = tmp_path / "steps"
    main(["predict", str(photo_folder / "d1_1.png"), "--model", str(tinyvgg.path),
          "--save-preprocessed", str(steps)])  # fmt: skip
    names = sorted(p.name for p in steps.iterdir())
    assert names[0] == "d1_1_0_original.png" and names[6] == "d1_1_6_centred.png"
    assert names[4] == "d1_1_4_stroke.png"
    assert names[7] == "d1_1_steps.png" and len(names) == 8
    assert Image.open(steps / "d1_1_6_centred.png").size == (224, 224)
    assert Image.open(steps / "d1_1_steps.png").width >= 800


def test_kaggle_test_csv_to_submission(tmp_path, sample, tinyvgg, capsys):
    images = sample.images[:25].numpy().reshape(25, -1)
    test_csv = tmp_path / "test.csv"
    header = ",".join(f"pixel{i}" for i in range(784))
    np.savetxt(test_csv, images, fmt="%d", delimiter=",", header=header, comments="")
    np.testing.assert_allclose(read_kaggle_csv(test_csv), sample.images[:25].numpy() / 255.0)
    out = tmp_path / "submission.csv"
    assert main(["predict", "--kaggle", str(test_csv), "--model", str(tinyvgg.path),
                 "--out", str(out)]) == 0  # fmt: skip
    lines = out.read_text().splitlines()
    assert lines[0] == "ImageId,Label" and len(lines) == 26
    ids, labels = zip(*(map(int, line.split(",")) for line in lines[1:]), strict=True)
    assert list(ids) == list(range(1, 26))
    with torch.no_grad():
        direct = tinyvgg.model(sample.images[:25].float().div(255).unsqueeze(1)).argmax(1)
    assert list(labels) == direct.tolist()


def test_cli_errors_are_one_line(tmp_path, capsys):
    bad = tmp_path / "test.csv"
    bad.write_text("a,b\n1,2\n")
    assert main(["predict", "--kaggle", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("explainer: error:") and "pixel0..pixel783" in err
    assert main(["predict"]) == 2
