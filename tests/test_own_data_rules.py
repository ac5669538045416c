"""The rules of reading data of one's own that issue 23 found broken: the classes are
the distinct labels, the CSV header rule, class folders named by numbers, grey pictures
saved as RGB, pictures the reader would skip, and --data-dir under --dataset auto."""


import numpy as np
import pytest
from no_traceback import run

from chainrule.datasets import DatasetError, read_data

PIL = pytest.importorskip("PIL")
from PIL import Image  # noqa: E402



def write_csv(path, header, rows):
    path.write_text("\n".join(([header] if header else []) + rows) + "\n")
    return path


@pytest.mark.parametrize("labels,names", [((1, 2, 3), ["1", "2", "3"]),
                                          ((0, 2, 4), ["0", "2", "4"])])
def test_the_classes_are_the_distinct_labels(tmp_path, labels, names):
    rows = [f"{i},{i % 7},{labels[i % 3]}" for i in range(30)]
    data = read_data(write_csv(tmp_path / "d.csv", "a,b,label", rows))
    assert data.class_names == names
    t = np.concatenate([data.train[1], data.test[1]])
    assert sorted(set(t.tolist())) == [0, 1, 2]
    np.savez(tmp_path / "d.npz", x=np.arange(60.0).reshape(30, 2),
             t=np.array([labels[i % 3] for i in range(30)]))
    assert read_data(tmp_path / "d.npz").class_names == names


def test_a_header_of_numbers_is_a_header_and_a_bad_first_row_is_an_error(tmp_path):
    rows = [f"{i * 0.1:.1f},{i * 0.2:.1f},{i * 0.3:.1f},{i % 2}" for i in range(20)]
    data = read_data(write_csv(tmp_path / "w.csv", "400,410,420,class", rows))
    assert data.class_names == ["0", "1"] and data.preprocessing["header"] is True
    assert data.preprocessing["feature_columns"] == ["400", "410", "420"]
    bad = write_csv(tmp_path / "na.csv", None, ["NA,1,2,0"] + rows)
    with pytest.raises(DatasetError, match=r"na\.csv, line 1: column 'column 0' holds 'NA'"):
        read_data(bad)


@pytest.mark.parametrize("label", ["inf", "nan"])
def test_a_label_that_is_not_a_class_is_named_with_its_line(tmp_path, label):
    rows = [f"{i},{i % 2}" for i in range(10)] + [f"3,{label}"]
    with pytest.raises(DatasetError, match=rf"x\.csv, line 12: the label '{label}' is not a class"):
        read_data(write_csv(tmp_path / "x.csv", "a,label", rows))


def picture(path, value=100, rgb=False):
    path.parent.mkdir(parents=True, exist_ok=True)
    a = np.full((6, 6), value, dtype=np.uint8)
    image = Image.fromarray(a)
    (image.convert("RGB") if rgb else image).save(path)


def test_class_folders_named_by_numbers_sort_as_numbers(tmp_path):
    for name in ("1", "2", "10", "11"):
        for i in range(5):
            picture(tmp_path / "p" / name / f"{i}.png", value=int(name) * 10)
    data = read_data(tmp_path / "p")
    assert data.class_names == ["1", "2", "10", "11"]


def test_grey_pictures_saved_as_rgb_are_grey(tmp_path):
    for name in ("a", "b"):
        for i in range(5):
            picture(tmp_path / "p" / name / f"{i}.jpg", value=40 + 100 * (name == "b"), rgb=True)
    data = read_data(tmp_path / "p")
    assert data.preprocessing["color"] == "gray" and data.input_shape == (1, 6, 6)


def test_pictures_the_reader_would_skip_are_named(tmp_path):
    for name in ("a", "b"):
        for i in range(3):
            picture(tmp_path / "p" / name / f"{i}.png")
    picture(tmp_path / "p" / "a" / "more" / "9.png")
    with pytest.raises(DatasetError, match=r"more: images in a folder inside the class folder a"):
        read_data(tmp_path / "p")
    (tmp_path / "p" / "a" / "more" / "9.png").unlink()
    picture(tmp_path / "p" / "loose.png")
    with pytest.raises(DatasetError, match=r"images beside the class subfolders .*loose\.png"):
        read_data(tmp_path / "p")


def test_own_pictures_are_turned_as_their_exif_says(tmp_path):
    for name in ("a", "b"):
        for i in range(3):
            picture(tmp_path / "p" / name / f"{i}.png")
    a = np.zeros((4, 8), dtype=np.uint8)
    a[0, 0] = 255
    image = Image.fromarray(a)
    exif = image.getexif()
    exif[0x0112] = 6  # stored turned: show it rotated by 90 degrees clockwise
    image.save(tmp_path / "turned.jpg", exif=exif, quality=100)
    from chainrule.datasets.owndata import load_images
    x, size = load_images([tmp_path / "turned.jpg"], "L")
    assert size == (8, 4)  # 8 high, 4 wide once turned


@pytest.mark.parametrize("folder", ["missing", "empty", "partial", "mine"])
def test_data_dir_under_auto_is_never_ignored(tmp_path, folder):
    from chainrule.datasets import write_idx
    (tmp_path / "empty").mkdir()
    (tmp_path / "partial").mkdir()
    (tmp_path / "partial" / "train-images-idx3-ubyte.gz").write_bytes(b"x")
    (tmp_path / "mine").mkdir()
    for split in ("train", "t10k"):
        write_idx(tmp_path / "mine" / f"{split}-images-idx3-ubyte.gz",
                  np.zeros((4, 28, 28), dtype=np.uint8))
        write_idx(tmp_path / "mine" / f"{split}-labels-idx1-ubyte.gz",
                  np.arange(4, dtype=np.uint8))
    code, out, err = run("train", "--data-dir", folder, "--iters", "1", cwd=tmp_path)
    assert code == 2 and f"--data-dir {folder}" in err and "mnist-10k" not in err
    assert "final:" not in out
