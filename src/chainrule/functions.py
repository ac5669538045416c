"""Activation and loss functions (chapters 3 and 4 of the book), and the label helpers.

Every function here is plain NumPy on whole arrays. They work in the dtype they are
given: float32 in, float32 out; float64 in, float64 out.
"""

import numpy as np

__all__ = [
    "sigmoid",
    "relu",
    "tanh",
    "softmax",
    "log_softmax",
    "cross_entropy_error",
    "class_indices",
    "targets",
    "one_hot",
    "check_finite",
    "NonFiniteError",
    "conv_output_size",
    "im2col",
    "col2im",
    "unfold",
    "fold",
]


class NonFiniteError(ValueError):
    """A NaN or an infinity reached a place where it would poison every result after it."""


def _float_array(x):
    """x as a floating-point array: keeps float32/float64, turns ints and lists into float64."""
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        x = x.astype(np.float64)
    return x


def sigmoid(x):
    """1 / (1 + exp(-x)), computed as (1 + tanh(x/2)) / 2 so that no exp overflows."""
    x = _float_array(x)
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def relu(x):
    """max(0, x), elementwise."""
    return np.maximum(_float_array(x), 0)


def tanh(x):
    """tanh(x), elementwise."""
    return np.tanh(_float_array(x))


def softmax(x):
    """exp(x_i) / sum_j exp(x_j) over the last axis.

    The maximum of each row is subtracted first: the result is the same and exp never
    sees a positive argument, so x = 1000 gives 1.0 and not inf / inf = NaN.
    """
    x = _float_array(x)
    shifted = x - x.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    e /= e.sum(axis=-1, keepdims=True)
    return e


def log_softmax(x):
    """log(softmax(x)) over the last axis, as x - max - log(sum(exp(x - max))).

    Taking the log of softmax's output would give -inf where a probability underflows to
    0; this form stays finite for any finite x.
    """
    x = _float_array(x)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def class_indices(t, num_classes, batch_size=None, name="t"):
    """Labels given as integer class indices (N,) or one-hot rows (N, C), as indices (N,).

    This is the one place where labels are interpreted, so every loss and accuracy
    accepts the same forms and rejects the same mistakes: a label count that differs
    from the batch size, a class outside 0..C-1, a one-hot width that is not C, and a
    2-D row that is not exactly one-hot (its argmax would be a silently wrong label;
    soft targets are for the loss, see `targets`). A column (N, 1) of class indices is
    read as indices when there is more than one class; with a single class it is
    ambiguous (indices or one-hot rows) and refused. A scalar label is one sample, and
    so is a 1-D one-hot row of length C when batch_size is 1.
    """
    t = np.asarray(t)
    if t.ndim == 0:
        t = t.reshape(1)
    else:
        row = _single_sample_row(t, num_classes, batch_size)
        if row is not None and _onehot_or_soft_rows(row, num_classes, name) == "onehot":
            t = row

    if t.ndim == 2 and t.shape[1] == 1 and num_classes > 1:
        # (N, 1) cannot be one-hot for C > 1 classes: it is a column of class indices,
        # the shape `t.reshape(-1, 1)` or a data frame's column gives.
        t = t[:, 0]
    if t.ndim == 2:
        if t.shape[1] != num_classes:
            raise ValueError(
                f"{name} has shape {t.shape}: one-hot labels need {num_classes} columns, "
                f"one per class of the network's output")
        if num_classes == 1:
            raise ValueError(
                f"{name} has shape {t.shape} and the network has one class: this could be "
                f"class indices or one-hot rows; pass class indices of shape (N,)")
        if _onehot_or_soft_rows(t, num_classes, name) == "soft":
            raise ValueError(f"{name} holds soft targets (rows summing to 1 that are not "
                             f"one-hot); they have no single class to compare with")
        indices = t.argmax(axis=1)
    elif t.ndim == 1:
        # dtype.kind, not np.issubdtype: this runs every training step, and issubdtype
        # costs more than the rest of the check.
        if t.dtype.kind == "f":
            if not np.all(np.isfinite(t)) or np.any(t != np.round(t)):
                raise ValueError(f"{name} holds non-integer values; class labels must be "
                                 f"whole numbers 0..{num_classes - 1}")
        elif t.dtype.kind not in "iub":
            raise ValueError(f"{name} has dtype {t.dtype}; class labels must be integers")
        indices = t.astype(np.intp, copy=False)
    else:
        raise ValueError(f"{name} has shape {t.shape}: labels must be (N,) class indices "
                         f"or (N, {num_classes}) one-hot rows")

    if batch_size is not None and indices.shape[0] != batch_size:
        raise ValueError(f"{name} has {indices.shape[0]} labels but the batch has "
                         f"{batch_size} samples")
    if indices.size:
        low, high = indices.min(), indices.max()
        if low < 0 or high >= num_classes:
            bad = low if low < 0 else high
            raise ValueError(f"{name} holds the label {bad}, outside the {num_classes} "
                             f"classes 0..{num_classes - 1}")
    return indices


def _onehot_or_soft_rows(t, num_classes, name):
    """Classify the rows of a 2-D label array t (N, C): "onehot" if every row is exactly
    one-hot, "soft" if every row is a distribution (non-negative, summing to 1) and at
    least one is not one-hot. Anything else raises ValueError naming the first bad row.
    """
    if t.dtype.kind == "b":
        t = t.astype(np.int8)
    elif t.dtype.kind not in "iuf":
        raise ValueError(f"{name} has dtype {t.dtype}; labels must be numbers")
    if t.size == 0:
        return "onehot"
    is_binary = (t == 0) | (t == 1)
    onehot_rows = is_binary.all(axis=1) & (np.count_nonzero(t == 1, axis=1) == 1)
    if onehot_rows.all():
        return "onehot"
    if t.dtype.kind == "f":
        # Rows computed in float32 (a softmax, a mixup) sum to 1 only to within rounding.
        tol = float(np.sqrt(np.finfo(t.dtype).eps))
        with np.errstate(invalid="ignore", over="ignore"):
            sums = t.sum(axis=1, dtype=np.float64)
            soft_rows = (np.isfinite(t).all(axis=1) & (t >= 0).all(axis=1)
                         & (np.abs(sums - 1.0) <= tol))
        if soft_rows.all():
            return "soft"
        bad = int(np.flatnonzero(~soft_rows)[0])
    else:
        bad = int(np.flatnonzero(~onehot_rows)[0])
    row = t[bad]
    shown = np.array2string(row, precision=4, threshold=12, separator=", ")
    raise ValueError(
        f"{name} row {bad} is {shown}: 2-D labels must be one-hot rows (a single 1, the "
        f"rest 0) or, as soft targets, non-negative numbers summing to 1 "
        f"(this row sums to {float(np.sum(row, dtype=np.float64)):.6g})")


def _single_sample_row(t, num_classes, batch_size):
    """A 1-D t that is one sample's one-hot row or distribution, as a (1, C) array;
    None if t is not that (then it is read as class indices)."""
    if (t.ndim == 1 and batch_size == 1 and num_classes > 1 and t.shape[0] == num_classes
            and t.dtype.kind in "iufb"):
        return t.reshape(1, num_classes)
    return None


def targets(t, num_classes, batch_size=None, name="t"):
    """Labels for a loss: class indices (N,), or soft targets (N, C) as floats.

    Like class_indices, and also accepts rows that are a distribution over the classes
    (non-negative, summing to 1: label smoothing, mixup, a teacher's softmax), which
    are returned as they are, for the full cross-entropy -sum(t * log y) / N. Rows that
    are exactly one-hot stay class indices (the book's behaviour, and the fast path).
    """
    t = np.asarray(t)
    row = _single_sample_row(t, num_classes, batch_size)
    if row is not None:
        t = row
    if t.ndim == 2 and t.shape[1] == num_classes and num_classes > 1:
        if _onehot_or_soft_rows(t, num_classes, name) == "soft":
            if batch_size is not None and t.shape[0] != batch_size:
                raise ValueError(f"{name} has {t.shape[0]} labels but the batch has "
                                 f"{batch_size} samples")
            return t
    return class_indices(t, num_classes, batch_size=batch_size, name=name)


def one_hot(t, num_classes, dtype=np.float64):
    """Integer class indices (N,) as one-hot rows (N, num_classes)."""
    t = class_indices(t, num_classes)
    out = np.zeros((t.shape[0], num_classes), dtype=dtype)
    out[np.arange(t.shape[0]), t] = 1
    return out


def check_finite(x, where):
    """Raise NonFiniteError naming `where` if x holds a NaN or an infinity.

    Summing first is a cheap test (one pass, no temporary array) that is NaN or inf
    whenever any element is; only then is the array searched to say how many there are.
    A sum that overflows although every element is finite passes.
    """
    if np.isfinite(np.sum(x)):
        return
    n_nan = int(np.count_nonzero(np.isnan(x)))
    n_inf = int(np.count_nonzero(np.isinf(x)))
    if n_nan or n_inf:
        raise NonFiniteError(f"{where} contains {n_nan} NaN and {n_inf} infinite values "
                             f"(of {np.size(x)})")


def cross_entropy_error(y, t):
    """Mean over the batch of -sum_k t_k log y_k: the cross-entropy of probabilities y.

    y is (N, C) probabilities, or (C,) for one sample. t is class indices, one-hot rows
    (then the sum is -log y[t]), or soft targets, rows that are distributions over the
    classes. A probability of exactly 0 is clipped to the smallest positive float, so a
    confident wrong answer costs a large but finite loss (the book adds 1e-7 instead,
    which shifts every loss a little).
    """
    y = _float_array(y)
    if y.ndim == 1:
        y = y.reshape(1, -1)
    if y.ndim != 2:
        raise ValueError(f"y has shape {y.shape}: expected (N, C) probabilities or (C,)")
    t = targets(t, y.shape[1], batch_size=y.shape[0])
    tiny = np.finfo(y.dtype).tiny
    if t.ndim == 2:  # soft targets; 0 * log(tiny) is 0, so a zero target costs nothing
        return -np.sum(t * np.log(np.maximum(y, tiny))) / y.shape[0]
    picked = y[np.arange(y.shape[0]), t]
    return -np.sum(np.log(np.maximum(picked, tiny))) / y.shape[0]


def conv_output_size(input_size, filter_size, stride=1, pad=0):
    """Output length of a convolution or pooling along one axis.

    (input_size + 2*pad - filter_size) // stride + 1, in integer maths throughout.
    A stride that does not divide (input_size + 2*pad - filter_size) is allowed, as in
    every framework: the last rows or columns that no window reaches are not used.
    Raises ValueError for a filter larger than the padded input, a stride below 1, a
    negative pad, or sizes that are not whole numbers.
    """
    for name, value in (("input size", input_size), ("filter size", filter_size),
                        ("stride", stride), ("pad", pad)):
        if isinstance(value, bool) or int(value) != value:
            raise ValueError(f"{name} must be an integer, got {value!r}")
    input_size, filter_size = int(input_size), int(filter_size)
    stride, pad = int(stride), int(pad)
    if stride < 1:
        raise ValueError(f"stride must be at least 1, got {stride}")
    if pad < 0:
        raise ValueError(f"pad must be non-negative, got {pad}")
    if filter_size < 1:
        raise ValueError(f"filter size must be at least 1, got {filter_size}")
    span = input_size + 2 * pad - filter_size
    if span < 0:
        raise ValueError(f"a filter of {filter_size} does not fit an input of {input_size} "
                         f"with padding {pad}")
    return span // stride + 1


def _conv_output_size(size, filter_size, stride, pad, what):
    """conv_output_size, with `what` (which array and axis) named in the error."""
    try:
        return conv_output_size(size, filter_size, stride, pad)
    except ValueError as error:
        raise ValueError(f"{what}: {error}") from None


def unfold(x, filter_h, filter_w, stride=1, pad=0, ones_row=False):
    """Every filter-sized patch of (N, C, H, W) images as one *column* of a matrix.

    Returns (C*FH*FW, N*OH*OW), the transpose of im2col: rows ordered by channel, filter
    row, filter column; columns by image, output row, output column. With
    ones_row=True a last row of ones is appended, so that a bias can ride along as one
    more weight (see Convolution).

    Why the transpose is the one built: the copy that gathers the patches then has, as
    its innermost loop, a run of OW neighbouring pixels of an image row, instead of the
    FW (often 3 or 5) numbers of one patch row; on this machine that made the copy four
    to five times faster. The padded image is built channel-major, (C, N, H, W) in
    memory, which is also the order a convolution's output comes in, so stacked
    convolutions copy along runs all the way.
    """
    x = np.asarray(x)
    if x.ndim != 4:
        raise ValueError(f"expected (N, C, H, W) images, got shape {x.shape}")
    N, C, H, W = x.shape
    out_h = _conv_output_size(H, filter_h, stride, pad, "im2col height")
    out_w = _conv_output_size(W, filter_w, stride, pad, "im2col width")
    if pad:
        padded = np.zeros((C, N, H + 2 * pad, W + 2 * pad), dtype=x.dtype)
        padded[:, :, pad:pad + H, pad:pad + W] = x.transpose(1, 0, 2, 3)
        x = padded.transpose(1, 0, 2, 3)
    # A strided view that shows every patch without copying anything: element
    # [c, i, j, n, oh, ow] is pixel (stride*oh + i, stride*ow + j) of channel c, image n.
    sN, sC, sH, sW = x.strides
    patches = np.lib.stride_tricks.as_strided(
        x, shape=(C, filter_h, filter_w, N, out_h, out_w),
        strides=(sC, sH, sW, sN, sH * stride, sW * stride), writeable=False)
    rows = C * filter_h * filter_w
    cols = np.empty((rows + 1 if ones_row else rows, N * out_h * out_w), dtype=x.dtype)
    # The one copy: into the matrix, viewed with the patches' six axes.
    np.copyto(cols[:rows].reshape(patches.shape), patches)
    if ones_row:
        cols[rows] = 1
    return cols


def fold(cols, input_shape, filter_h, filter_w, stride=1, pad=0):
    """The adjoint of unfold: add every column back onto the patch it came from.

    cols is (C*FH*FW, N*OH*OW) as unfold makes it (without the ones row). Returns
    (N, C, H, W) in cols' dtype; its memory is channel-major, (C, N, H, W), the order
    in which the sums are made. One slice-add per filter offset (FH*FW of them), each
    over all images and channels at once: no loop over images or pixels.
    """
    N, C, H, W = input_shape
    out_h = _conv_output_size(H, filter_h, stride, pad, "fold height")
    out_w = _conv_output_size(W, filter_w, stride, pad, "fold width")
    expected = (C * filter_h * filter_w, N * out_h * out_w)
    if cols.shape != expected:
        raise ValueError(f"fold: cols has shape {cols.shape}, expected {expected} for "
                         f"input {tuple(input_shape)} and a {filter_h}x{filter_w} filter")
    patches = cols.reshape(C, filter_h, filter_w, N, out_h, out_w)
    # stride - 1 spare rows and columns let every offset take out_h (out_w) steps, even
    # where the last steps fall beyond the image; they are cut off at the end.
    img = np.zeros((C, N, H + 2 * pad + stride - 1, W + 2 * pad + stride - 1), dtype=cols.dtype)
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x in range(filter_w):
            x_max = x + stride * out_w
            img[:, :, y:y_max:stride, x:x_max:stride] += patches[:, y, x]
    return img[:, :, pad:H + pad, pad:W + pad].transpose(1, 0, 2, 3)


# -- stride-1 convolution over flat images -------------------------------------------------
# A stride-1 convolution reads, for filter offset (i, j), the input shifted by i rows and
# j columns. If the images are laid out as one long row per channel, each image padded
# on its right and bottom, that shifted input is one contiguous slice of the row, the
# same for every image: unfolding becomes FH*FW plain slice copies (memcpy speed)
# instead of a six-axis strided gather, and the input gradient becomes the same
# operation on the upstream gradient, with no fold. The price is the outputs computed
# at the padding positions, which are discarded.

class FlatLayout:
    """Where the pixels of (N, C, H, W) images sit in flat rows, for one stride-1 filter.

    Image n, pixel (r, c) is at `front + n * image + r * row + c` of its channel's row,
    with row = W + pad and image = (H + pad) * row: each image is followed by pad zero
    columns on every line and pad zero lines, which serve as the right and bottom
    padding of one line (image) and the left and top padding of the next. front =
    pad * row + pad zeros before the first image are its top and left padding.
    The output pixel (oh, ow) of image n is computed at `n * image + oh * row + ow`;
    filter offset (i, j) reads the input row from `i * row + j` on (`offsets`).
    This needs pad < filter size (so the outputs fit the same grid), which every
    'same' or 'valid' convolution satisfies.
    """

    def __init__(self, input_shape, filter_h, filter_w, pad):
        self.N, self.C, self.H, self.W = (int(v) for v in input_shape)
        self.filter_h, self.filter_w, self.pad = filter_h, filter_w, pad
        self.out_h = _conv_output_size(self.H, filter_h, 1, pad, "flat height")
        self.out_w = _conv_output_size(self.W, filter_w, 1, pad, "flat width")
        if pad >= filter_h or pad >= filter_w:
            raise ValueError(f"flat layout: pad {pad} must be smaller than the "
                             f"{filter_h}x{filter_w} filter")
        self.row = self.W + pad
        self.image = (self.H + pad) * self.row
        self.length = self.N * self.image  # positions computed: one per grid cell
        self.front = pad * self.row + pad
        self.offsets = [i * self.row + j for i in range(filter_h) for j in range(filter_w)]
        self.reach = self.offsets[-1]  # the largest offset

    def place(self, a, front, back, out=None):
        """(N, K, h, w) array -> (K, front + length + back) zero rows, a's images in the grid.

        out, if given, is the result of an earlier place() of the same shapes: only the
        images are written, the zeros around them are already there.
        """
        N, K, h, w = a.shape
        shape = (K, front + self.length + back)
        if out is not None and out.shape == shape and out.dtype == a.dtype:
            rows = out
        else:
            rows = np.zeros(shape, dtype=a.dtype)
        grid = rows[:, front:front + self.length].reshape(K, N, self.H + self.pad, self.row)
        grid[:, :, :h, :w] = a.transpose(1, 0, 2, 3)
        return rows

    def take(self, rows, h, w):
        """The inverse of place for (K, length) rows: an (N, K, h, w) view, no copy."""
        K = rows.shape[0]
        grid = rows.reshape(K, self.N, self.H + self.pad, self.row)
        return grid[:, :, :h, :w].transpose(1, 0, 2, 3)


def shifted_rows(rows, starts, length, ones_row=False, out=None):
    """(K * len(starts) [+ 1], length): row k * len(starts) + s is rows[k, starts[s]:][:length].

    The stride-1 unfold over a FlatLayout: with starts = layout.offsets, column q holds
    the patch of output position q, in the order of W.reshape(FN, -1) (channel, filter
    row, filter column). With ones_row=True a last row of ones is appended (a bias as
    one more weight).
    """
    K, S = rows.shape[0], len(starts)
    shape = (K * S + (1 if ones_row else 0), length)
    if out is None or out.shape != shape or out.dtype != rows.dtype:
        out = np.empty(shape, dtype=rows.dtype)
    view = out[:K * S].reshape(K, S, length)
    for s, start in enumerate(starts):
        view[:, s] = rows[:, start:start + length]
    if ones_row:
        out[K * S] = 1
    return out


def im2col(input_data, filter_h, filter_w, stride=1, pad=0):
    """Unfold every filter-sized patch of (N, C, H, W) images into one row of a matrix.

    Returns (N*OH*OW, C*FH*FW): rows ordered by image, output row, output column;
    columns by channel, filter row, filter column. A convolution is then one matrix
    product with the filters reshaped to (FN, C*FH*FW). The dtype is kept.

    The result is the transpose of `unfold`'s matrix, a view: it holds the numbers of
    the book's layout but is stored column by column (Fortran order), the order in which
    it is fastest to build. Matrix products take it as it is.
    """
    x = np.asarray(input_data)
    if x.ndim != 4:
        raise ValueError(f"im2col expects (N, C, H, W) input, got shape {x.shape}")
    return unfold(x, filter_h, filter_w, stride, pad).T


def col2im(col, input_shape, filter_h, filter_w, stride=1, pad=0):
    """The adjoint of im2col: add every row of col back onto the patch it came from.

    Overlapping patches are summed, which is what backpropagation through im2col needs;
    it is not an inverse of im2col. Returns an array of input_shape (N, C, H, W), in
    col's dtype.
    """
    N, C, H, W = input_shape
    out_h = _conv_output_size(H, filter_h, stride, pad, "col2im height")
    out_w = _conv_output_size(W, filter_w, stride, pad, "col2im width")
    col = np.asarray(col)
    expected = (N * out_h * out_w, C * filter_h * filter_w)
    if col.shape != expected:
        raise ValueError(f"col2im: col has shape {col.shape}, expected {expected} for "
                         f"input {tuple(input_shape)} and a {filter_h}x{filter_w} filter")
    return fold(col.T, input_shape, filter_h, filter_w, stride, pad)


def pad_images(x, pad, value=0):
    """(N, C, H, W) images with `pad` rows and columns of `value` added on every side."""
    if not pad:
        return x
    N, C, H, W = x.shape
    out = np.full((N, C, H + 2 * pad, W + 2 * pad), value, dtype=x.dtype)
    out[:, :, pad:pad + H, pad:pad + W] = x
    return out
