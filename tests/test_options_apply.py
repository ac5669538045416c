"""Every option says when it applies (cli.options.APPLIES); one check refuses an option
given where it does not, before any data loads, instead of dropping it without a word."""


import pytest
from no_traceback import run

from chainrule import cli
from chainrule.cli.options import APPLIES



@pytest.mark.parametrize("argv,message", [
    (["train", "--flip"], "--flip applies only with --augment"),
    (["train", "--shift", "3"], "--shift applies only with --augment"),
    (["train", "--rotation", "5"], "--rotation applies only with --augment"),
    (["train", "--optimizer", "adam", "--momentum", "0.5"],
     "--momentum applies only with --optimizer momentum or nesterov"),
    (["train", "--beta1", "0.5"], "--beta1 applies only with --optimizer adam"),
    (["train", "--optimizer", "adam", "--decay-rate", "0.5"],
     "--decay-rate applies only with --optimizer rmsprop"),
    (["train", "--plateau-factor", "0.5"], "--plateau-factor applies only with --lr-schedule plateau"),
    (["train", "--plateau-patience", "2"], "--plateau-patience applies only with --lr-schedule plateau"),
    (["train", "--min-delta", "0.1"], "--min-delta applies only with --early-stopping"),
    (["train", "--monitor", "loss"], "--monitor applies only with --early-stopping"),
    (["train", "--color", "rgb"], "--color applies only with --data"),
    (["train", "--image-size", "8x8"], "--image-size applies only with --data"),
    (["train", "--label-column", "y"], "--label-column applies only with --data"),
    (["train", "--test-fraction", "0.3"], "--test-fraction applies only with --data"),
    (["train", "--data", "t.csv", "--augment"], "--augment applies only with pictures"),
    (["evaluate", "m.npz", "--color", "gray"], "--color applies only with --data"),
    (["graph", "apple", "--no-loss"], "--no-loss applies only with a network to draw"),
    (["graph", "apple", "--title"], "--title applies only with a network to draw"),
    (["train", "--layers", ""], "--layers is empty"),
    (["train", "--validation-split", "0.1", "--early-stopping", "1", "--monitor", "test_acc"],
     "--monitor test_acc: with a validation split the test set is measured once"),
])
def test_an_option_that_does_not_apply_is_refused_before_anything_loads(
        argv, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.csv").write_text("a,b,label\n1,2,0\n")
    assert cli.main(argv + ["--metrics", "m.jsonl"] * (argv[0] == "train")) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "m.jsonl").exists()


def test_the_refusal_is_a_message_without_a_traceback(tmp_path):
    code, out, err = run("train", "--optimizer", "adam", "--momentum", "0.5", "--flip",
                         cwd=tmp_path)
    assert code == 2 and "--momentum applies only with" in err and "--flip applies" in err
    assert not out


def test_every_entry_names_an_option_of_its_subcommand():
    parser = cli.make_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for command, dest in APPLIES:
        assert dest in {a.dest for a in sub.choices[command]._actions}, (command, dest)


def test_options_that_apply_still_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--dataset", "mnist-10k", "--iters", "2", "--quiet",
                     "--optimizer", "momentum", "--momentum", "0.5", "--augment",
                     "--shift", "1", "--flip"]) == 0


def test_top_k_beyond_the_classes_is_refused(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["train", "--dataset", "mnist-10k", "--iters", "2", "--quiet",
                     "--save", "m.npz"]) == 0
    assert cli.main(["evaluate", "m.npz", "--top-k", "1", "11"]) == 2
    assert "--top-k 11: m.npz knows 10 classes" in capsys.readouterr().err


def test_the_apple_api_refuses_a_query_it_would_ignore():
    pytest.importorskip("flask")
    from chainrule.web import create_app
    client = create_app().test_client()
    answer = client.get("/api/apple?apple=200")
    assert answer.status_code == 400 and "takes no query" in answer.get_json()["error"]
    assert client.get("/api/apple").status_code == 200
