"""Config loading: presets, TOML files, overrides, and refusal of unknown keys and bad values."""

import pytest

from letterlab.errors import ConfigError
from letterlab.models.presets import get_preset
from letterlab.run_config import CNNConfig, MLPConfig, load_toml, run_from_dict


def test_presets_follow_the_homework():
    mlp = get_preset("mlp-tanh-100x2")
    assert isinstance(mlp.model, MLPConfig) and mlp.model.hidden == [100, 100] and mlp.model.init_std == 0.1
    assert (mlp.train.optimizer, mlp.train.lr, mlp.train.batch_size, mlp.train.epochs, mlp.train.batch_order) == ("sgd", 0.01, 64, 60, "random")
    cnn = get_preset("cnn-bn-dropout")
    assert isinstance(cnn.model, CNNConfig) and cnn.model.input_dropout == 0.2
    assert all(b.batch_norm and b.dropout == 0.25 for b in cnn.model.blocks)
    assert (cnn.train.optimizer, cnn.train.lr, cnn.train.batch_size, cnn.train.epochs) == ("adam", 0.001, 128, 10)


def test_overrides_apply_to_train_fields():
    assert get_preset("cnn", epochs=2, seed=7).train.epochs == 2


@pytest.mark.parametrize("values, message", [
    ({"model": {"kind": "mlp", "hiden": [5]}}, "unknown key 'hiden'"),
    ({"train": {"lr": "fast"}}, "train.lr: expected a number"),
    ({"train": {"lr": -1.0}}, "train.lr must be > 0"),
    ({"model": {"kind": "mlp", "activation": "swish"}}, "'swish' is not one of"),
    ({"model": {"kind": "rnn"}}, "kind: 'rnn'"),
    ({"trian": {}}, "unknown key 'trian'"),
    ({"model": {"kind": "cnn", "blocks": [{"filters": 4, "dropout": 1.5}]}}, "dropout"),
    ({"model": {"kind": "cnn", "blocks": [{"filters": 4, "kernel": 4, "stride": 2}]}}, "even kernel need stride 1"),
    ({"train": {"optimizer": "adagrad"}}, "'adagrad' is not one of"),
    ({"model": {"kind": "cnn", "blocks": [{"filters": 4, "pool": 2}] * 5}}, "shrink the 28x28 image to nothing"),
])
def test_bad_configs_are_refused_with_the_key(values, message):
    with pytest.raises(ConfigError, match=message):
        run_from_dict(values)


def test_toml_file_errors_name_the_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[train\nlr = 1")
    with pytest.raises(ConfigError, match="bad.toml: not valid TOML"):
        load_toml(path)
    with pytest.raises(ConfigError, match="no such config file"):
        load_toml(tmp_path / "missing.toml")
