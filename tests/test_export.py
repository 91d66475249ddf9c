"""ONNX export: every model kind, uint8 images in (scaling inside the graph), any batch size,
metadata, the parity check against PyTorch, and .onnx files read by predict and evaluate."""

import json

import numpy as np
import pytest

import letterlab
from letterlab.cli.main import main
from letterlab.serving import export as export_module

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxscript")

KINDS = {
    "mlp": ("mlp-tanh-100x2", {}),
    "cnn-bn-running": ("cnn-bn-dropout", {"model": {"blocks": [{"filters": 8, "pool": 2, "batch_norm": True, "dropout": 0.2},
                                                               {"filters": 8, "pool": 2, "batch_norm": True}], "fc": [16]}}),
    "cnn-bn-batch": ("cnn-bn-dropout", {"model": {"blocks": [{"filters": 8, "pool": 2, "batch_norm": True},
                                                             {"filters": 8, "pool": 2, "batch_norm": True}], "fc": [16],
                                                  "batch_norm_eval": "batch"}}),
    "resnet": ("letters-best", {"model": {"widths": [8, 16], "residual": [0, 1]}, "val_fraction": 0.2}),
}


@pytest.fixture(scope="module")
def runs(letters_npz, tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    return {kind: letterlab.train(preset, letters_npz(5), out=folder / kind, epochs=1, log_probes=False, device="cpu", progress=False,
                                  **overrides) for kind, (preset, overrides) in KINDS.items()}


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_model_kind_exports_and_matches_pytorch(runs, kind, tmp_path):
    run = runs[kind]
    report = run.export(tmp_path / f"{kind}.onnx")
    assert report.passed and report.max_abs_difference < 1e-5 and report.argmax_agreement == 1.0
    assert report.n == run.results.test_n and report.onnx_accuracy == pytest.approx(run.results.test_accuracy)
    parity = json.loads((tmp_path / f"{kind}.parity.json").read_text())
    assert parity["max_abs_difference"] == report.max_abs_difference and parity["n"] == report.n
    model = letterlab.load_model(tmp_path / f"{kind}.onnx")
    images = run.data().images
    for batch in (1, 7):  # the batch dimension is dynamic
        assert model.predict(images[:batch]).shape == (batch, 10)
    if kind != "cnn-bn-batch":  # batch-statistics batch norm answers depend on the batch, by design
        assert np.abs(model.predict(images[:7]) - run.predict(images[:7])).max() < 1e-5


def test_the_file_carries_its_metadata_and_takes_uint8(runs, tmp_path):
    import onnx

    run = runs["mlp"]
    run.export(tmp_path / "m.onnx")
    proto = onnx.load(str(tmp_path / "m.onnx"))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["letterlab.classes"]) == list(letterlab.LETTERS)
    assert meta["letterlab.data_sha256"] == json.loads((run.path / "environment.json").read_text())["data"]["sha256"]
    assert float(meta["letterlab.test_accuracy"]) == run.results.test_accuracy
    assert meta["letterlab.version"] == letterlab.__version__ and meta["letterlab.torch_version"]
    assert len(meta["letterlab.config_sha256"]) == 64 and "uint8" in meta["letterlab.input"]
    assert proto.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert proto.graph.input[0].type.tensor_type.shape.dim[0].dim_param  # symbolic batch size


def test_a_failed_parity_check_writes_nothing_and_says_why(runs, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(export_module, "TOLERANCE", 0.0)
    out = tmp_path / "bad.onnx"
    assert main(["export", str(runs["mlp"].path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not written" in err and "tolerance" in err
    assert not out.exists() and not (tmp_path / "bad.parity.json").exists()


def test_an_opset_the_exporter_cannot_write_is_refused(runs, tmp_path, capsys):
    assert main(["export", str(runs["mlp"].path), "--out", str(tmp_path / "old.onnx"), "--opset", "99"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "opset 99" in err and not (tmp_path / "old.onnx").exists()


def test_predict_and_evaluate_read_the_onnx_file_with_the_same_answers(runs, tmp_path, capsys):
    from PIL import Image

    run = runs["cnn-bn-running"]
    assert main(["export", str(run.path), "--out", str(tmp_path / "c.onnx")]) == 0
    assert "argmax agreement 100.00%" in capsys.readouterr().out
    for i, image in enumerate(run.data().images[:3]):
        Image.fromarray(image).resize((50, 50)).save(tmp_path / f"{i}.png")
    files = [str(tmp_path / f"{i}.png") for i in range(3)]
    outputs = {}
    for target in (str(run.path), str(tmp_path / "c.onnx")):
        assert main(["predict", target, *files, "--json", "--device", "cpu"]) == 0
        predicted = json.loads(capsys.readouterr().out)
        assert main(["evaluate", target, "--json", "--device", "cpu"]) == 0
        outputs[target] = (predicted, json.loads(capsys.readouterr().out))
    (torch_rows, torch_eval), (onnx_rows, onnx_eval) = outputs.values()
    assert [r["letter"] for r in torch_rows] == [r["letter"] for r in onnx_rows]
    for a, b in zip(torch_rows, onnx_rows):
        assert [p["probability"] for p in a["top"]] == pytest.approx([p["probability"] for p in b["top"]], abs=1e-5)
    assert onnx_eval["accuracy"] == torch_eval["accuracy"] and onnx_eval["confusion"] == torch_eval["confusion"]
    assert onnx_eval["loss"] == pytest.approx(torch_eval["loss"], abs=1e-5)
