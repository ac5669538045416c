"""Language models from the command line: train, resume, evaluate, generate, and the
bad input each refuses with a message."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

import chainrule
from chainrule import cli
from chainrule.cli.language import make_run
from chainrule.datasets import model_vocabulary
from chainrule.trainer import TrainingInterrupted  # noqa: F401
from stopping import StopAfter

POEM = ("Shall I compare thee to a summer's day?\\n"
        "Thou art more lovely and more temperate:\\n") * 40
SMALL = ["--hidden", "16", "--embed", "8", "--batch-size", "4", "--time-size", "8"]


def run_cli(*args, cwd):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    return subprocess.run([sys.executable, "-m", "chainrule", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, env=env, timeout=300,
                          stdin=subprocess.DEVNULL)


@pytest.fixture
def poem(tmp_path):
    path = tmp_path / "poem.txt"
    path.write_text(POEM.replace("\\n", "\n"), encoding="utf-8")
    return path


def test_train_evaluate_and_generate_a_character_model(poem, tmp_path):
    done = run_cli("train", "--data", poem, "--model", "char-rnn", *SMALL, "--iters", 40,
                   "--eval-interval", 20, "--seed", 1, "--save", "lm.npz", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "val_ppl" in done.stdout and "final: val_loss" in done.stdout
    assert "bits per character" in done.stdout
    model = chainrule.load(tmp_path / "lm.npz")
    vocab = model_vocabulary(model)
    assert vocab.tokens == sorted(set(POEM.replace("\\n", "\n")))
    assert model.inputs["source"] == str(poem)
    figures = run_cli("evaluate", "lm.npz", "--json", cwd=tmp_path)
    assert figures.returncode == 0, figures.stderr
    result = json.loads(figures.stdout)
    final = float(done.stdout.split("final: val_loss ")[1].split()[0])
    assert result["loss"] == pytest.approx(final, abs=1e-4)  # the run's own measure
    assert result["perplexity"] == pytest.approx(np.exp(result["loss"]))
    one = run_cli("generate", "lm.npz", "--prompt", "Shall", "--length", 30, "--seed", 4,
                  cwd=tmp_path)
    two = run_cli("generate", "lm.npz", "--prompt", "Shall", "--length", 30, "--seed", 4,
                  cwd=tmp_path)
    assert one.returncode == 0, one.stderr
    assert one.stdout == two.stdout and one.stdout.startswith("Shall")
    assert len(one.stdout) == len("Shall") + 30 + 1  # 30 characters and a line break


def test_a_gpt_trains_from_one_command_and_writes(poem, tmp_path):
    done = run_cli("train", "--data", poem, "--model", "gpt", "--embed", 16, "--blocks", 1,
                   "--heads", 2, "--time-size", 16, "--iters", 30, "--eval-interval", 15,
                   "--seed", 2, "--save", "gpt.npz", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "adamw" in done.stderr and "windows of 12 x 16 tokens" in done.stderr
    model = chainrule.load(tmp_path / "gpt.npz")
    assert model.layers["Unembed1"].W is model.params["W1"]  # tied
    out = run_cli("generate", "gpt.npz", "--prompt", "Thou", "--length", 50,
                  "--temperature", 0.8, "--top-k", 5, "--seed", 1, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert len(out.stdout) == 4 + 50 + 1  # past the context of 16: the window slides


def test_words_and_a_network_of_ones_own(poem, tmp_path):
    done = run_cli("train", "--data", poem, "--tokens", "words", "--vocab-size", 8,
                   "--layers", "embed(8) gru(12) affine(8)", "--batch-size", 2,
                   "--time-size", 4, "--iters", 10, "--save", "w.npz", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "read as <unk>" in done.stderr
    vocab = model_vocabulary(chainrule.load(tmp_path / "w.npz"))
    assert vocab.kind == "words" and len(vocab) == 8 and "<unk>" in vocab.tokens
    wrong = run_cli("train", "--data", poem, "--tokens", "words", "--vocab-size", 8,
                    "--layers", "embed(8) gru(12) affine(9)", cwd=tmp_path)
    assert wrong.returncode == 2
    assert "the text has 8 tokens: end --layers with affine(8)" in wrong.stderr


def test_ctrl_c_and_resume_end_as_an_unbroken_run(poem, tmp_path):
    common = ["train", "--data", str(poem), "--model", "char-rnn", *SMALL, "--iters", "30",
              "--eval-interval", "10", "--seed", "5"]
    unbroken = make_run(cli.make_parser().parse_args(common + ["--save", str(tmp_path / "a.npz"),
                                                                "--quiet"]))
    assert unbroken.execute() == 0
    run = make_run(cli.make_parser().parse_args(common + ["--save", str(tmp_path / "b.npz"),
                                                          "--quiet"]))
    run.trainer.callbacks.append(StopAfter(13))
    assert run.execute() == 130
    resumed = make_run(cli.make_parser().parse_args(["train", "--resume",
                                                     str(tmp_path / "b.npz"), "--quiet"]))
    assert resumed.execute() == 0
    a, b = chainrule.load(tmp_path / "a.npz"), chainrule.load(tmp_path / "b.npz")
    for name in a.params:
        np.testing.assert_array_equal(a.params[name], b.params[name], err_msg=name)


@pytest.mark.parametrize("content,match", [
    (b"", "is empty"),
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", r"not text \(a NUL byte at offset 8\)"),
    (b"good text \xff then", "not UTF-8 text: byte 0xff at offset 10"),
    (b"too short to read", "fewer than one step of 4 x 8 tokens"),
])
def test_bad_text_is_refused_and_nothing_is_written(content, match, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_bytes(content)
    done = run_cli("train", "--data", bad, "--model", "char-rnn", *SMALL, "--save", "m.npz",
                   "--metrics", "m.jsonl", cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    assert match in done.stderr or match.replace("\\", "") in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert sorted(os.listdir(tmp_path)) == ["bad.txt"]


@pytest.mark.parametrize("args,match", [
    (["train", "--model", "char-rnn", "--time-size", "0"], "must be at least 1, got 0"),
    (["train", "--model", "mlp", "--time-size", "5"], "--time-size applies only with a "
                                                      "language model"),
    (["train", "--dataset", "shakespeare", "--model", "mlp"], "--dataset shakespeare is a "
                                                              "text: it trains language models"),
    (["train", "--model", "gpt", "--heads", "3"], "--heads 3 does not divide --embed 128"),
    (["train", "--model", "char-rnn", "--validation-split", "0.1"],
     "--validation-split does not apply"),
])
def test_requests_that_cannot_work_are_named(args, match, tmp_path):
    done = run_cli(*args, cwd=tmp_path)
    assert done.returncode == 2 and match in done.stderr, done.stderr
    assert "Traceback" not in done.stderr and os.listdir(tmp_path) == []


def test_generate_refuses_what_it_cannot_write(poem, tmp_path):
    chainrule.save(chainrule.TwoLayerNet(4, 3, 2), tmp_path / "mlp.npz")
    done = run_cli("generate", "mlp.npz", cwd=tmp_path)
    assert done.returncode == 2 and "is not a language model" in done.stderr
    run_cli("train", "--data", poem, "--model", "char-rnn", *SMALL, "--iters", 2, "--save",
            "lm.npz", cwd=tmp_path)
    for args, match in ((["--prompt", "Shall{~"], "2 characters that the vocabulary lacks: "
                                                  "'{', '~'"),
                        (["--prompt", ""], "the prompt is empty"),
                        (["--length", "100001"], "is more than 100,000 tokens")):
        done = run_cli("generate", "lm.npz", *args, cwd=tmp_path)
        assert done.returncode == 2 and match in done.stderr, done.stderr
        assert "Traceback" not in done.stderr


def test_gradcheck_and_graph_take_language_models(poem, tmp_path):
    done = run_cli("gradcheck", "--layers", "embed(8) gru(6) affine(65)", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "pieces of 8 characters of Shakespeare" in done.stdout and "passed" in done.stdout
    for name in ("Wx1", "Wh1", "W2"):
        assert name in done.stdout
    run_cli("train", "--data", poem, "--model", "gpt", "--embed", 16, "--blocks", 1,
            "--heads", 2, "--time-size", 8, "--iters", 2, "--save", "g.npz", cwd=tmp_path)
    drawn = run_cli("graph", "model", "g.npz", "-o", "g.svg", cwd=tmp_path)
    assert drawn.returncode == 0, drawn.stderr
    svg = (tmp_path / "g.svg").read_text()
    for layer in ("Embed1", "Attention1", "LayerNorm1", "Unembed1", "TimeSoftmaxWithLoss"):
        assert layer in svg, layer


def test_info_lists_the_bundled_text(tmp_path):
    done = run_cli("info", cwd=tmp_path)
    assert done.returncode == 0
    assert "text     shakespeare    available (1,115,394 characters)" in done.stdout
