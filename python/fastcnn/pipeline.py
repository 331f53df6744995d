"""Input pipelines: `Dataset`, tf.data's chain of steps over NumPy arrays.

    train = (
        Dataset.from_arrays(x, y)
        .shuffle(seed=0)      # a new order each epoch; the same for the same seed and epoch
        .batch(64)
        .map(augment)         # augment(x_batch, y_batch) -> (x, y); before batch it gets one sample
        .prefetch(2)          # the next 2 batches prepared on a background thread
    )
    for epoch in range(10):
        for xb, yb in train:  # each iter() is a new epoch
            model.train_on_batch(xb, yb)

Elements are what the source gives: `x[i]`, or the tuple `(x[i], y[i])` or
`(x[i], y[i], sample_weight[i])`; after `batch` they are the same with a
leading batch axis. A function given to `map` receives a tuple element's
parts as separate arguments (tf.data's rule), so one written for batches,
`fn(x_batch, y_batch) -> (x, y)`, goes after `batch` and one for single
samples before it.

`prefetch` runs everything before it on a background thread. fastcnn's
kernels and NumPy's whole-array calls release the GIL, so the next batches
are prepared while the model computes; the batches are the same as without
prefetch. Python code in the preparation (a loop over samples in a `map`)
holds the GIL and takes turns with the training step's own Python instead
of overlapping it: write maps over whole batches. An exception raised while
preparing a batch is raised again by the loop at that batch; leaving the loop
early (break, an exception, or dropping the iterator) stops the thread.

Shuffles, takes and repeats over `from_arrays` work on index arrays, and
`batch` then gathers each batch with one indexing call per array, so a
pipeline without per-element `map` costs no Python work per sample.
"""

from __future__ import annotations

import itertools
import queue
import threading

import numpy as np

__all__ = ["Dataset", "AUTOTUNE", "INFINITE_CARDINALITY", "UNKNOWN_CARDINALITY"]

AUTOTUNE = -1  # prefetch(AUTOTUNE): two batches ahead
INFINITE_CARDINALITY = -1
UNKNOWN_CARDINALITY = -2
_AUTOTUNE_BATCHES = 2
_INDEX_CHUNK = 4096  # indices per chunk handed down an index stream after a buffered shuffle
_RANDOM_BLOCK = 4096  # buffer positions drawn per call to the generator


def _check_count(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def _close(iterator):
    close = getattr(iterator, "close", None)
    if close is not None:
        close()


class Dataset:
    """A re-iterable input pipeline; build one with `Dataset.from_arrays` or
    `Dataset.from_generator`, then chain `shuffle`, `map`, `batch`, `take`,
    `repeat`, `prefetch` (each returns a new Dataset, tf.data's names and
    arguments). Iterating yields NumPy arrays or tuples of them; every
    `iter()` starts a new epoch, numbered from 0 per Dataset object.
    """

    INFINITE = INFINITE_CARDINALITY
    UNKNOWN = UNKNOWN_CARDINALITY

    def __init__(self, parent=None):
        if type(self) is Dataset:
            raise TypeError("build a Dataset with Dataset.from_arrays(...) or Dataset.from_generator(...)")
        self._parent = parent
        self._epochs_started = 0

    # ------------------------------------------------------------------ sources

    @staticmethod
    def from_arrays(x, y=None, sample_weight=None):
        """Elements `x[i]`, `(x[i], y[i])` or `(x[i], y[i], sample_weight[i])`
        (tf.data's `from_tensor_slices`). The arrays are not copied; elements
        are read-only views of them and batches are new arrays."""
        return _FromArrays(x, y, sample_weight)

    @staticmethod
    def from_generator(generator):
        """Elements from `generator()`, called once per epoch: a generator function
        or any callable returning an iterable. Its length is unknown (`len()`
        raises TypeError), so `fit` needs `steps_per_epoch` with it."""
        return _FromGenerator(generator)

    # ------------------------------------------------------------------ steps

    def shuffle(self, buffer_size=None, seed=None):
        """Elements in a random order, drawn anew each epoch: the order depends
        only on `seed` and the epoch number (seed=None: not reproducible).

        buffer_size=None (or at least the dataset's size) shuffles the whole
        dataset; a smaller buffer_size draws each element at random from a
        buffer of that many upcoming ones (tf.data's rule, for datasets too
        large to hold).
        """
        return _Shuffle(self, buffer_size, seed)

    def map(self, fn):
        """fn applied to every element (to every batch after `batch`); a tuple
        element is passed as separate arguments: fn(x, y) or fn(x, y, w)."""
        return _Map(self, fn)

    def batch(self, batch_size, drop_remainder=False):
        """Consecutive elements stacked into batches of `batch_size` along a new
        first axis; the last batch is smaller unless drop_remainder."""
        return _Batch(self, batch_size, drop_remainder)

    def prefetch(self, buffer_size=AUTOTUNE):
        """Prepares up to `buffer_size` elements ahead on a background thread
        (AUTOTUNE: 2). Put it last, after `batch`."""
        return _Prefetch(self, buffer_size)

    def take(self, count):
        """The first `count` elements (count=-1: all)."""
        return _Take(self, count)

    def repeat(self, count=None):
        """The dataset `count` times over (None or -1: forever); each pass is
        a new epoch for the steps before it, so shuffles differ between passes."""
        return _Repeat(self, count)

    # ------------------------------------------------------------------ iteration

    def __iter__(self):
        epoch = self._epochs_started
        self._epochs_started += 1
        return self._iterate((epoch,))

    def cardinality(self):
        """The number of elements, or INFINITE_CARDINALITY (-1) or UNKNOWN_CARDINALITY (-2)."""
        raise NotImplementedError

    def __len__(self):
        n = self.cardinality()
        if n == INFINITE_CARDINALITY:
            raise TypeError("the dataset is infinite (repeat() without a count); it has no length")
        if n == UNKNOWN_CARDINALITY:
            raise TypeError("the dataset's length is unknown: it comes from from_generator")
        return n

    def __repr__(self):
        steps, node = [], self
        while node is not None:
            steps.append(node._describe())
            node = node._parent
        return "Dataset(" + " -> ".join(reversed(steps)) + ")"

    # ------------------------------------------------------------------ for the steps

    def _iterate(self, epoch):
        """An iterator over the elements of `epoch`, a tuple of pass numbers
        (the outer epoch, then one number per enclosing repeat)."""
        raise NotImplementedError

    def _index_based(self):
        """Whether this step's elements are samples of an array source picked by
        index (only `from_arrays`, `shuffle`, `take` and `repeat` keep that)."""
        return False

    def _indices(self, epoch):
        """For an index-based step: an iterator of int64 index arrays whose
        concatenation is the epoch's order of samples."""
        raise NotImplementedError

    def _arrays(self):
        """The source's arrays and whether elements are tuples (index streams only)."""
        return self._parent._arrays()

    def _describe(self):
        raise NotImplementedError


# ---------------------------------------------------------------------- sources


class _FromArrays(Dataset):
    def __init__(self, x, y, sample_weight):
        super().__init__()
        if sample_weight is not None and y is None:
            raise ValueError("from_arrays: sample_weight needs y")
        named = [(n, a) for n, a in (("x", x), ("y", y), ("sample_weight", sample_weight)) if a is not None]
        arrays = []
        for name, a in named:
            a = np.asarray(a)
            if a.ndim == 0:
                raise ValueError(f"from_arrays: {name} must have a leading sample axis, got a scalar")
            a = a.view()
            a.flags.writeable = False  # elements are views: a map must not write into the source
            arrays.append(a)
        lengths = {name: len(a) for (name, _), a in zip(named, arrays)}
        if len(set(lengths.values())) > 1:
            shown = ", ".join(f"{n} has {k}" for n, k in lengths.items())
            raise ValueError(f"from_arrays: arrays must have the same number of samples; {shown}")
        self._data = tuple(arrays)
        self._n = len(arrays[0])

    def cardinality(self):
        return self._n

    def _arrays(self):
        return self._data, len(self._data) > 1

    def _index_based(self):
        return True

    def _indices(self, epoch):
        return iter((np.arange(self._n, dtype=np.int64),))

    def _iterate(self, epoch):
        if len(self._data) == 1:
            return iter(self._data[0])
        return zip(*self._data)

    def _describe(self):
        shapes = ", ".join(str(a.shape) for a in self._data)
        return f"from_arrays({shapes})"


class _FromGenerator(Dataset):
    def __init__(self, generator):
        super().__init__()
        if not callable(generator):
            kind = type(generator).__name__
            raise TypeError(
                f"from_generator needs a callable that returns an iterable (a generator function), "
                f"got a {kind}; pass the function itself, since a {kind} can be iterated only once"
            )
        self._generator = generator

    def cardinality(self):
        return UNKNOWN_CARDINALITY

    def _iterate(self, epoch):
        made = self._generator()
        try:
            return iter(made)
        except TypeError:
            raise TypeError(
                f"from_generator: {self._generator!r} returned a {type(made).__name__}, not an iterable"
            ) from None

    def _describe(self):
        return f"from_generator({getattr(self._generator, '__name__', 'callable')})"


# ---------------------------------------------------------------------- shuffle


def _random_positions(rng, high):
    """Endless buffer positions in [0, high), drawn in blocks (one call per block)."""
    while True:
        yield from rng.integers(0, high, size=_RANDOM_BLOCK).tolist()


def _buffer_shuffle(items, buffer_size, rng):
    """Each output is drawn at random from the next `buffer_size` inputs (tf.data's shuffle)."""
    buffer = []
    positions = _random_positions(rng, buffer_size)
    for item in items:
        if len(buffer) < buffer_size:
            buffer.append(item)
            continue
        j = next(positions)
        yield buffer[j]
        buffer[j] = item
    for j in rng.permutation(len(buffer)).tolist():
        yield buffer[j]


def _chunks_of(ints, size):
    """int64 arrays of up to `size` values from an iterator of ints."""
    while True:
        chunk = np.fromiter(itertools.islice(ints, size), dtype=np.int64)
        if not len(chunk):
            return
        yield chunk


class _Shuffle(Dataset):
    def __init__(self, parent, buffer_size, seed):
        super().__init__(parent)
        if buffer_size is not None:
            buffer_size = _check_count(buffer_size, "shuffle buffer_size", 1)
        if seed is not None:
            seed = _check_count(seed, "shuffle seed", 0)
        n = parent.cardinality()
        if buffer_size is not None and n >= 0 and buffer_size >= n:
            buffer_size = None
        if buffer_size is None and n == INFINITE_CARDINALITY:
            raise ValueError("shuffle of an infinite dataset needs a buffer_size (or shuffle before repeat)")
        self._buffer_size, self._seed = buffer_size, seed

    def cardinality(self):
        return self._parent.cardinality()

    def _rng(self, epoch):
        return np.random.default_rng(None if self._seed is None else [self._seed, *epoch])

    def _index_based(self):
        return self._parent._index_based()

    def _indices(self, epoch):
        chunks = self._parent._indices(epoch)
        rng = self._rng(epoch)
        if self._buffer_size is None:
            parts = list(chunks)
            order = np.concatenate(parts) if parts else np.empty(0, np.int64)
            return iter((order[rng.permutation(len(order))],))
        ints = (i for chunk in chunks for i in chunk.tolist())
        return _chunks_of(_buffer_shuffle(ints, self._buffer_size, rng), _INDEX_CHUNK)

    def _iterate(self, epoch):
        if self._index_based():
            return _elements_at(self._arrays(), self._indices(epoch))
        return self._shuffled_elements(epoch)

    def _shuffled_elements(self, epoch):
        rng = self._rng(epoch)
        source = self._parent._iterate(epoch)
        try:
            if self._buffer_size is None:
                items = list(source)
                for j in rng.permutation(len(items)).tolist():
                    yield items[j]
            else:
                yield from _buffer_shuffle(source, self._buffer_size, rng)
        finally:
            _close(source)

    def _describe(self):
        size = "all" if self._buffer_size is None else self._buffer_size
        return f"shuffle(buffer_size={size}, seed={self._seed})"


def _elements_at(arrays_and_tuples, chunks):
    """Single elements of an array source, in the order of the index chunks."""
    arrays, as_tuples = arrays_and_tuples
    for chunk in chunks:
        for i in chunk.tolist():
            yield tuple(a[i] for a in arrays) if as_tuples else arrays[0][i]


# ---------------------------------------------------------------------- map, batch


def _apply(fn, element):
    return fn(*element) if isinstance(element, tuple) else fn(element)


class _Map(Dataset):
    def __init__(self, parent, fn):
        super().__init__(parent)
        if not callable(fn):
            raise TypeError(f"map needs a callable, got {type(fn).__name__}")
        self._fn = fn

    def cardinality(self):
        return self._parent.cardinality()

    def _iterate(self, epoch):
        source = self._parent._iterate(epoch)
        try:
            for element in source:
                yield _apply(self._fn, element)
        finally:
            _close(source)

    def _describe(self):
        return f"map({getattr(self._fn, '__name__', 'callable')})"


def _stack(elements, batch_number):
    """One batch from a list of elements: arrays stacked, tuples stacked part by part."""
    first = elements[0]
    try:
        if isinstance(first, tuple):
            if any(not isinstance(e, tuple) or len(e) != len(first) for e in elements):
                raise ValueError(f"every element must be a tuple of {len(first)} parts")
            return tuple(np.stack([np.asarray(e[k]) for e in elements]) for k in range(len(first)))
        return np.stack([np.asarray(e) for e in elements])
    except ValueError as e:
        raise ValueError(f"batch {batch_number}: cannot stack its elements ({e})") from None


def _rechunk(chunks, size, drop_remainder):
    """Index arrays of exactly `size` (the last may be shorter) from index arrays of any size."""
    pending = np.empty(0, np.int64)
    for chunk in chunks:
        pending = np.concatenate((pending, chunk)) if len(pending) else chunk
        full = len(pending) - len(pending) % size
        for start in range(0, full, size):
            yield pending[start : start + size]
        pending = pending[full:]
    if len(pending) and not drop_remainder:
        yield pending


class _Batch(Dataset):
    def __init__(self, parent, batch_size, drop_remainder):
        super().__init__(parent)
        self._size = _check_count(batch_size, "batch_size", 1)
        if not isinstance(drop_remainder, (bool, np.bool_)):
            raise TypeError(f"drop_remainder must be a bool, got {drop_remainder!r}")
        self._drop = bool(drop_remainder)

    def cardinality(self):
        n = self._parent.cardinality()
        if n < 0:
            return n
        return n // self._size if self._drop else -(-n // self._size)

    def _iterate(self, epoch):
        if self._parent._index_based():
            return self._gathered(self._parent._indices(epoch))
        return self._stacked(epoch)

    def _gathered(self, chunks):
        arrays, as_tuples = self._parent._arrays()
        for idx in _rechunk(chunks, self._size, self._drop):
            yield tuple(a[idx] for a in arrays) if as_tuples else arrays[0][idx]

    def _stacked(self, epoch):
        source = self._parent._iterate(epoch)
        try:
            for number in itertools.count():
                elements = list(itertools.islice(source, self._size))
                if not elements or (self._drop and len(elements) < self._size):
                    return
                yield _stack(elements, number)
        finally:
            _close(source)

    def _describe(self):
        return f"batch({self._size}{', drop_remainder=True' if self._drop else ''})"


# ---------------------------------------------------------------------- take, repeat


class _Take(Dataset):
    def __init__(self, parent, count):
        super().__init__(parent)
        self._count = _check_count(count, "take count", -1)

    def cardinality(self):
        n = self._parent.cardinality()
        if self._count == -1:
            return n
        if n == INFINITE_CARDINALITY:
            return self._count
        return n if n == UNKNOWN_CARDINALITY else min(n, self._count)

    def _index_based(self):
        return self._parent._index_based()

    def _indices(self, epoch):
        chunks = self._parent._indices(epoch)
        return chunks if self._count == -1 else self._first_indices(chunks)

    def _first_indices(self, chunks):
        left = self._count
        for chunk in chunks:
            if left <= 0:
                return
            yield chunk[:left]
            left -= len(chunk)

    def _iterate(self, epoch):
        if self._index_based():
            return _elements_at(self._arrays(), self._indices(epoch))
        return self._first_elements(epoch)

    def _first_elements(self, epoch):
        source = self._parent._iterate(epoch)
        try:
            yield from source if self._count == -1 else itertools.islice(source, self._count)
        finally:
            _close(source)

    def _describe(self):
        return f"take({self._count})"


class _Repeat(Dataset):
    def __init__(self, parent, count):
        super().__init__(parent)
        count = -1 if count is None else _check_count(count, "repeat count", -1)
        self._count = count

    def cardinality(self):
        n = self._parent.cardinality()
        if self._count == 0 or n == 0:
            return 0
        if n < 0:
            return n
        return INFINITE_CARDINALITY if self._count == -1 else n * self._count

    def _passes(self):
        return itertools.count() if self._count == -1 else range(self._count)

    def _index_based(self):
        return self._parent._index_based()

    def _indices(self, epoch):
        for p in self._passes():
            empty = True
            for chunk in self._parent._indices(epoch + (p,)):
                empty = empty and not len(chunk)
                yield chunk
            if empty:  # an empty dataset repeated forever is empty, not an endless loop
                return

    def _iterate(self, epoch):
        if self._index_based():
            return _elements_at(self._arrays(), self._indices(epoch))
        return self._repeated_elements(epoch)

    def _repeated_elements(self, epoch):
        for p in self._passes():
            source = self._parent._iterate(epoch + (p,))
            empty = True
            try:
                for element in source:
                    empty = False
                    yield element
            finally:
                _close(source)
            if empty:
                return

    def _describe(self):
        return f"repeat({'' if self._count == -1 else self._count})"


# ---------------------------------------------------------------------- prefetch

_ITEM, _END, _ERROR = "item", "end", "error"


def _produce(source, slots, stop):
    """The prefetch thread: moves the source's elements into `slots` until the
    source ends, fails, or the consumer asks it to stop."""

    def put(message):
        while not stop.is_set():
            try:
                slots.put(message, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    try:
        for element in source:
            if not put((_ITEM, element)):
                return
        put((_END, None))
    except BaseException as e:  # handed to the consumer, raised there at this element
        put((_ERROR, e))
    finally:
        _close(source)


class _PrefetchIterator:
    """The consumer's side of one epoch of `prefetch`. The thread holds only the
    source, the queue and the stop flag, never this object, so dropping the
    iterator closes it and stops the thread."""

    def __init__(self, source, size):
        self._slots = queue.Queue(maxsize=size)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=_produce, args=(source, self._slots, self._stop), name="fastcnn-prefetch", daemon=True
        )
        self._finished = False
        self._thread.start()

    def __iter__(self):
        return self

    def __next__(self):
        if self._finished:
            raise StopIteration
        kind, value = self._slots.get()
        if kind == _ITEM:
            return value
        self.close()
        if kind == _ERROR:
            raise value
        raise StopIteration

    def close(self):
        """Stops the thread (after the element it is preparing) and waits for it."""
        self._finished = True
        self._stop.set()
        while self._thread.is_alive():
            try:  # frees a slot so a blocked put returns and sees the stop flag
                self._slots.get(timeout=0.05)
            except queue.Empty:
                pass
        self._thread.join()

    def __del__(self):
        if not getattr(self, "_finished", True):
            self.close()


class _Prefetch(Dataset):
    def __init__(self, parent, buffer_size):
        super().__init__(parent)
        if buffer_size == AUTOTUNE and not isinstance(buffer_size, bool):
            buffer_size = _AUTOTUNE_BATCHES
        self._size = _check_count(buffer_size, "prefetch buffer_size", 1)

    def cardinality(self):
        return self._parent.cardinality()

    def _iterate(self, epoch):
        return _PrefetchIterator(self._parent._iterate(epoch), self._size)

    def _describe(self):
        return f"prefetch({self._size})"
