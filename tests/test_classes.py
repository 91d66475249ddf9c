"""Classes come from the data: names from folders, npz, pickles, EMNIST idx files and --classes; models
sized from them; run folders record them (older ones load as A-J); mismatched names are refused."""

import json
import pickle

import numpy as np
import pytest

import letterlab
from letterlab.cli.main import main
from letterlab.data.dataset import LetterImages, unnamed_classes
from letterlab.data.embedded import load_embedded, parse_embedded
from letterlab.data.folder import save_folder
from letterlab.data.idx import save_idx
from letterlab.data.registry import load_data
from letterlab.errors import DataError, LetterlabError
from letterlab.evaluation.review.core import ReviewSession, review_items
from letterlab.evaluation.review.terminal import run_terminal
from letterlab.runs import CONFIG, ENVIRONMENT, RESULTS

AZ = tuple("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@pytest.fixture(scope="module")
def rendered_az(tmp_path_factory):
    """20 font-rendered images of each letter A-Z (learnable), made by the test."""
    with pytest.MonkeyPatch.context() as monkey:
        monkey.setenv("LETTERLAB_CACHE", str(tmp_path_factory.mktemp("cache")))
        return load_embedded(seed=5, per_class=20, options=parse_embedded("embedded:letters=A-Z")).train


@pytest.fixture(scope="module")
def emnist_folder(rendered_az, tmp_path_factory):
    """The A-Z images written as EMNIST writes its letters: transposed, labels 1..26, EMNIST's file names."""
    folder = tmp_path_factory.mktemp("emnist-letters")
    order = np.random.default_rng(0).permutation(len(rendered_az))
    train, test = order[:400], order[400:]
    for part, index in (("train", train), ("test", test)):
        save_idx(folder / f"emnist-letters-{part}-images-idx3-ubyte.gz", folder / f"emnist-letters-{part}-labels-idx1-ubyte.gz",
                 rendered_az.images[index].transpose(0, 2, 1), rendered_az.labels[index] + 1)
    return folder, train, test


def test_embedded_letters_option_renders_26_named_classes(rendered_az):
    assert rendered_az.classes == AZ and rendered_az.named
    assert np.bincount(rendered_az.labels).tolist() == [20] * 26
    assert rendered_az.source.startswith("embedded letters A-Z (") and "system fonts" not in rendered_az.source
    with pytest.raises(LetterlabError, match="unknown embedded option"):
        load_data("embedded:fonts=all")
    with pytest.raises(LetterlabError, match="letters=a-z must name two or more capital letters"):
        load_data("embedded:letters=a-z")


def test_emnist_idx_files_load_upright_as_a_to_z(rendered_az, emnist_folder):
    folder, train, test = emnist_folder
    loaded = load_data(folder)
    assert loaded.train.classes == AZ and loaded.test.classes == AZ
    assert np.array_equal(loaded.train.images, rendered_az.images[train])  # transposed back: the images as rendered
    assert np.array_equal(loaded.test.labels, rendered_az.labels[test])  # labels 1..26 -> 0..25
    alone = load_data(folder / "emnist-letters-test-images-idx3-ubyte.gz").train
    assert alone.classes == AZ and np.array_equal(alone.images, rendered_az.images[test])


def test_unnamed_sources_ten_are_a_to_j_others_numbered(tmp_path, make_letters):
    letters = make_letters(40)
    save_idx(tmp_path / "t-images-idx3-ubyte", tmp_path / "t-labels-idx1-ubyte", letters.images, letters.labels)
    assert load_data(tmp_path / "t-images-idx3-ubyte").train.classes == tuple("ABCDEFGHIJ")
    np.savez(tmp_path / "many.npz", images=letters.images, labels=np.arange(40) % 12)
    many = load_data(tmp_path / "many.npz").train
    assert many.classes == tuple(str(i) for i in range(12)) and not many.named
    assert unnamed_classes(3) == ("0", "1", "2")


def test_npz_pickle_folder_and_option_name_the_classes(tmp_path, make_letters):
    letters = make_letters(20)
    labels = np.arange(20) % 2
    np.savez(tmp_path / "named.npz", images=letters.images, labels=labels, classes=np.array(["cat", "dog"]))
    assert load_data(tmp_path / "named.npz").train.classes == ("cat", "dog")
    with open(tmp_path / "named.data", "wb") as handle:
        pickle.dump({"data": letters.images, "labels": labels, "classes": ["yes", "no"]}, handle)
    assert load_data(tmp_path / "named.data").train.classes == ("yes", "no")
    save_folder(tmp_path / "pets", letters.images, labels, ("dog", "cat"))  # folder names sorted: cat before dog
    pets = load_data(tmp_path / "pets").train
    assert pets.classes == ("cat", "dog") and pets.named
    assert np.array_equal(pets.images[pets.labels == 0], letters.images[labels == 1])  # written as cat/, read as class 0
    (tmp_path / "names.txt").write_text("left\n\nright\n")
    assert load_data(tmp_path / "named.npz", classes=str(tmp_path / "names.txt")).train.classes == ("left", "right")
    assert load_data(tmp_path / "named.npz", classes="up,down").train.classes == ("up", "down")
    with pytest.raises(DataError, match="class name 'a' appears more than once"):
        load_data(tmp_path / "named.npz", classes="a,b,a")
    np.savez(tmp_path / "three.npz", images=letters.images, labels=np.arange(20) % 3)
    with pytest.raises(DataError, match="labels must be in 0..1"):
        load_data(tmp_path / "three.npz", classes="a,b")


def test_a_to_z_run_through_train_evaluate_errors_predict_and_report(emnist_folder, tmp_path, capsys):
    folder, _, _ = emnist_folder
    run = letterlab.train("mlp-tanh-50", folder, out=tmp_path / "run", epochs=6, lr=0.1, device="cpu", progress=False)
    assert run.classes == AZ and run.model.out.out_features == 26
    assert json.loads((run.path / ENVIRONMENT).read_text())["data"]["classes"] == list(AZ)
    evaluation = run.evaluate()
    assert evaluation.confusion.shape == (26, 26) and list(evaluation.per_class) == list(AZ)
    assert evaluation.confusion.sum() == evaluation.n == 120 and evaluation.accuracy > 1 / 26 * 3
    report = run.write_errors()
    assert report["classes"] == list(AZ) and all(row["true"] in AZ for row in report["errors"])
    image = tmp_path / "x.png"
    from PIL import Image

    Image.fromarray(run.data().images[0]).save(image)
    assert main(["predict", str(run.path), "--json", str(image)]) == 0
    assert json.loads(capsys.readouterr().out)[0]["letter"] in AZ
    assert main(["evaluate", str(run.path)]) == 0
    out = capsys.readouterr().out
    assert "true\\pred" in out and out.count("\n") > 26 and "Z " in out


def test_named_data_with_other_names_is_refused_unnamed_data_takes_the_runs_names(emnist_folder, tmp_path, capsys):
    folder, _, _ = emnist_folder
    run = letterlab.train("mlp-tanh-50", folder, out=tmp_path / "run", epochs=1, device="cpu", progress=False)
    images = run.data().images[:30]
    np.savez(tmp_path / "unnamed.npz", images=images, labels=np.arange(30) % 26)
    assert run.evaluate(tmp_path / "unnamed.npz").classes == AZ
    np.savez(tmp_path / "other.npz", images=images, labels=np.arange(30) % 2, classes=np.array(["cat", "dog"]))
    with pytest.raises(DataError, match=r"classes \[cat, dog\] differ from run .*'s classes \[A, B, C"):
        run.evaluate(tmp_path / "other.npz")
    assert main(["evaluate", str(run.path), "--data", str(tmp_path / "other.npz")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cat, dog" in err and "A, B, C" in err
    np.savez(tmp_path / "wide.npz", images=images, labels=np.arange(30))  # labels 0..29: more than 26 classes
    with pytest.raises(DataError, match="labels go up to 29, but run .* has 26 classes"):
        run.evaluate(tmp_path / "wide.npz")


def test_a_run_folder_written_before_class_names_loads_as_a_to_j(letters_npz, tmp_path):
    run = letterlab.train("mlp-tanh-50", letters_npz(3, 30), out=tmp_path / "run", epochs=2, device="cpu", progress=False)
    before = run.evaluate()
    for name, drop in ((ENVIRONMENT, ("data", "classes")), (CONFIG, (None, "classes")), (RESULTS, (None, "classes"))):
        values = json.loads((run.path / name).read_text())
        (values[drop[0]] if drop[0] else values).pop(drop[1])  # as letterlab wrote it before this change
        (run.path / name).write_text(json.dumps(values))
    old = letterlab.load_run(run.path, "cpu")
    assert old.classes == tuple("ABCDEFGHIJ") and old.results.classes == list("ABCDEFGHIJ")
    again = old.evaluate()
    assert again.accuracy == before.accuracy and list(again.per_class) == list("ABCDEFGHIJ")
    assert main(["evaluate", str(run.path)]) == 0


def test_review_takes_keys_for_single_characters_and_typed_names_otherwise(tmp_path):
    images = np.zeros((3, 28, 28), np.uint8)
    probs = np.array([[0.1, 0.9, 0.0], [0.2, 0.0, 0.8], [0.0, 0.3, 0.7]])
    data = LetterImages(images, np.array([0, 0, 1]), "typed", classes=("cat", "dog", "Bird"), named=True)
    from letterlab.evaluation.mistakes import find_mistakes

    session = ReviewSession(review_items(find_mistakes(data, probs)), tmp_path / "review.json", data.classes)
    assert not session.keyed and session.resolve("bird") == "Bird" and session.resolve("horse") is None
    typed, printed = iter(["horse\n", "DOG\n", "\n", "cat\n", "q\n"]), []
    summary = run_terminal(session, read=lambda: next(typed), write=printed.append, truecolour=False)
    answers = json.loads((tmp_path / "review.json").read_text())["answers"]
    assert sorted(a["answer"] for a in answers.values()) == ["cat", "dog"] and summary["answered"] == 2
    assert "type its name (cat, dog, Bird)" in printed[0]
    keyed = ReviewSession([], tmp_path / "other.json", AZ)
    assert keyed.keyed and keyed.resolve("q") == "Q"  # Q is a class here, so q does not quit


def test_data_info_lists_the_classes(tmp_path, make_letters, capsys):
    letters = make_letters(20)
    np.savez(tmp_path / "named.npz", images=letters.images, labels=np.arange(20) % 2, classes=np.array(["cat", "dog"]))
    assert main(["data", "info", str(tmp_path / "named.npz")]) == 0
    out = capsys.readouterr().out
    assert "  cat" in out and "  dog" in out and "  A" not in out
    assert letterlab.data_info(tmp_path / "named.npz", classes="x,y")["parts"]["train"]["classes"] == ["x", "y"]


def test_serving_explorer_and_onnx_answer_with_the_runs_classes(emnist_folder, tmp_path, live_server):
    pytest.importorskip("uvicorn")
    pytest.importorskip("onnxruntime")
    from letterlab.serving.app import create_app
    from letterlab.serving.explore import Explorer
    from letterlab.serving.predictors import load_served

    folder, _, _ = emnist_folder
    run = letterlab.train("mlp-tanh-50", folder, out=tmp_path / "run", epochs=2, lr=0.1, device="cpu", progress=False)
    images = run.data().images[:3]
    expected = [AZ[i] for i in run.predict(images).argmax(1)]
    app = create_app(lambda: load_served(run.path), explorer=lambda: Explorer([letterlab.load_run(run.path)]))
    with live_server(app) as live:
        assert live.json("/v1/model")["classes"] == list(AZ)
        answer = live.post("/v1/predict", json={"images": images.tolist(), "top_k": 10}).json()["predictions"]
        assert [p["top"][0]["class"] for p in answer] == expected and len(answer[0]["top"]) == 10
        assert live.json("/v1/explorer/runs")["runs"][0]["classes"] == list(AZ)
    report = run.export(tmp_path / "az.onnx")
    model = letterlab.load_model(report.path)
    assert model.classes == list(AZ) and [AZ[i] for i in model.predict(images).argmax(1)] == expected


def test_a_run_on_the_older_embedded_default_with_system_fonts_still_finds_its_test_split(tmp_path):
    run = letterlab.train("mlp-tanh-50", "embedded:system-fonts", out=tmp_path / "run", epochs=1, device="cpu", progress=False)
    config = json.loads((run.path / CONFIG).read_text())
    config["data"] = ""  # as a run on the default was recorded before the default became matplotlib's fonts only
    (run.path / CONFIG).write_text(json.dumps(config))
    again = letterlab.load_run(run.path, "cpu").evaluate()
    assert again.n == run.results.test_n and again.accuracy == run.results.test_accuracy


def test_train_classes_option_names_and_sizes_the_run(tmp_path, make_letters, capsys):
    letters = make_letters(60)
    np.savez(tmp_path / "two.npz", images=letters.images, labels=np.arange(60) % 2)  # unnamed 0/1: ten classes A-J
    assert load_data(tmp_path / "two.npz").train.classes == tuple("ABCDEFGHIJ")
    assert main(["train", "--preset", "mlp-tanh-50", "--data", str(tmp_path / "two.npz"), "--classes", "cat,dog",
                 "--epochs", "1", "--out", str(tmp_path / "run"), "--no-progress"]) == 0
    run = letterlab.load_run(tmp_path / "run", "cpu")
    assert run.classes == ("cat", "dog") and run.config.classes == ["cat", "dog"] and run.model.out.out_features == 2
    assert "cat " in capsys.readouterr().out
