"""benchmarks/bench_augment.py: the record of a run names every setting, so that no run
overwrites another's, and the network's sizes given on its command line are the ones
trained and recorded. (Accuracy figures themselves are measured by running the script,
not here.)"""

import json
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))

import bench_augment  # noqa: E402

BASE = ["--model", "deep", "--dataset", "fashion-mnist", "--epochs", "30", "--augment",
        "--validation-split", "0.1", "--lr-schedule", "cosine", "--early-stopping", "5"]

# Each differs from BASE in one setting that changes what the run measures.
VARIANTS = [
    [],
    ["--flip"],
    ["--shift", "1"],
    ["--rotation", "10"],
    ["--hidden", "100"],
    ["--dropout", "0.1"],
    ["--hidden", "100", "--dropout", "0.1"],
    ["--seed", "1"],
    ["--train-size", "1000"],
]


def name(extra, base=BASE):
    return bench_augment.result_name(bench_augment.build_parser().parse_args(base + extra))


def test_records_of_runs_that_differ_in_one_setting_have_different_names():
    names = [name(extra) for extra in VARIANTS]
    assert len(set(names)) == len(names), names


@pytest.mark.parametrize("options", [
    ["--epochs", "14"], ["--validation-split", "0.2"], ["--early-stopping", "4"],
    ["--lr-schedule", "plateau"], ["--model", "simple"], ["--dataset", "mnist-10k"]])
def test_a_changed_run_setting_changes_the_name(options):
    assert name(options, BASE + options) != name([])


def test_without_augmentation_the_name_says_so_and_ignores_augmentation_settings():
    plain = [o for o in BASE if o != "--augment"]
    assert name([], plain) != name([])
    assert "noaug" in name([], plain)
    assert name(["--flip"], plain) == name([], plain)


def test_the_threads_and_the_checkpoint_path_do_not_change_the_name():
    assert name(["--threads", "1", "--checkpoint", "x.npz"]) == name([])


def test_a_short_run_trains_the_sizes_asked_for_and_writes_its_record(tmp_path, capsys):
    argv = ["--model", "deep", "--dataset", "mnist-10k", "--epochs", "1",
            "--train-size", "300", "--hidden", "20", "--dropout", "0.1", "--augment",
            "--validation-split", "0.2", "--early-stopping", "1", "--threads", "1",
            "--save", "--results", str(tmp_path)]
    result = bench_augment.main(argv)
    path = tmp_path / bench_augment.result_name(bench_augment.build_parser().parse_args(argv))
    assert path.is_file()
    record = json.loads(path.read_text(encoding="utf-8"))
    assert record["network"]["hidden_size"] == 20
    assert record["network"]["dropout_ratio"] == 0.1
    assert record["train_size"] == 240 and record["validation_size"] == 60
    assert [h["epoch"] for h in record["history"]] == [0, 1]
    assert "val_acc" in record["history"][-1]
    assert record["test_acc"] == result["test_acc"]
    assert 0.0 <= record["test_acc"] <= 1.0
    assert os.listdir(tmp_path) == [path.name]  # nothing half-written beside it


def test_dropout_for_the_simple_network_is_refused(capsys):
    with pytest.raises(SystemExit) as exc:
        bench_augment.main(["--model", "simple", "--dropout", "0.1", "--epochs", "1"])
    assert exc.value.code == 2
    assert "SimpleConvNet has no dropout" in capsys.readouterr().err
