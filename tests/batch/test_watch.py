"""napari-lowdose watch: complete files only, one line for a bad file, a restart redoes nothing, Ctrl-C stops."""

import json
import time

import numpy as np
import pytest

from napari_lowdose.batch.task import FileRecord
from napari_lowdose.batch.watch import STATE_NAME, FolderWatcher
from napari_lowdose.cli import build_parser
from napari_lowdose.core.errors import LowdoseError
from napari_lowdose.io import read_image

from .conftest import corrupt_tiff, make_image


class FakeTime:
    """A clock and a sleep: each sleep advances the clock and runs the next scripted action."""

    def __init__(self, actions=(), stop_after=None):
        self.now, self.sleeps, self.actions, self.stop_after = 0.0, 0, list(actions), stop_after

    def clock(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds
        self.sleeps += 1
        if self.actions:
            self.actions.pop(0)()
        if self.stop_after is not None and self.sleeps >= self.stop_after:
            raise KeyboardInterrupt  # what Ctrl-C raises


def _watch(args, fake):
    from napari_lowdose import cli_watch

    return cli_watch.run(build_parser().parse_args(["watch", *args]), sleep=fake.sleep, clock=fake.clock)


def test_watch_three_files_slow_corrupt_restart(tmp_path, tiny_model, capsys):
    acq, out = tmp_path / "acq", tmp_path / "out"
    acq.mkdir()
    start = time.monotonic()
    make_image(acq / "a.tif", seed=1)
    corrupt_tiff(acq / "c.tif")
    whole = make_image(tmp_path / "b_src.tif", seed=2, shape=(96, 64)).read_bytes()
    pieces = [whole[i : i + len(whole) // 4 + 1] for i in range(0, len(whole), len(whole) // 4 + 1)]
    slow = acq / "b.tif"

    def write_piece():  # the instrument appends a piece between two polls
        assert not (out / "b_denoised.tif").exists(), "a partial file was denoised"
        with open(slow, "ab") as fh:
            fh.write(pieces.pop(0))

    fake = FakeTime([write_piece] * len(pieces), stop_after=12)
    args = [str(acq), "-o", str(out), "--model", str(tiny_model), "--device", "cpu", "--interval", "1", "--settle", "1.5"]
    assert _watch(args, fake) == 0
    captured = capsys.readouterr()
    assert sorted(p.name for p in out.glob("*.tif")) == ["a_denoised.tif", "b_denoised.tif"]
    errors = [line for line in captured.err.splitlines() if "error" in line]
    assert len(errors) == 1 and "c.tif" in errors[0], captured.err
    assert "b.tif" not in captured.err.replace(str(acq), "")
    assert captured.out.count("wrote") == 2
    assert "stopped; 2 file(s) denoised, 1 failed" in captured.err
    assert not list(out.glob(".*.part")), "a temporary file was left behind"
    b = read_image(out / "b_denoised.tif")[0]
    assert b.data.shape == (96, 64) and b.pixel_size == pytest.approx(1.5)
    state = json.loads((out / STATE_NAME).read_text())
    assert sorted(state["done"]) == ["a.tif", "b.tif"] and sorted(state["failed"]) == ["c.tif"]
    assert time.monotonic() - start < 60

    # a restart does nothing again: no line, no rewritten output
    stamps = {p.name: p.stat().st_mtime_ns for p in out.glob("*.tif")}
    assert _watch(args, FakeTime(stop_after=4)) == 0
    captured = capsys.readouterr()
    assert "wrote" not in captured.out and "error" not in captured.err
    assert "stopped; 0 file(s) denoised, 0 failed" in captured.err
    assert {p.name: p.stat().st_mtime_ns for p in out.glob("*.tif")} == stamps

    # a file replaced by a new acquisition of the same name is done again
    make_image(acq / "a.tif", seed=5, shape=(64, 64))
    assert _watch(args, FakeTime(stop_after=4)) == 0
    assert capsys.readouterr().out.count("wrote") == 1
    assert read_image(out / "a_denoised.tif")[0].data.shape == (64, 64)


def _reader(path):
    try:
        read_image(path)
    except LowdoseError as exc:
        return FileRecord(str(path), ok=False, error=str(exc))
    return FileRecord(str(path), ok=True, outputs=[path.name])


def test_a_writer_that_pauses_longer_than_a_poll_gets_no_error_line(tmp_path):
    whole = make_image(tmp_path / "src.tif", seed=3).read_bytes()
    acq = tmp_path / "acq"
    acq.mkdir()
    (acq / "x.tif").write_bytes(whole[: len(whole) // 2])  # stable for a while, but only half there
    fake = FakeTime()
    watcher = FolderWatcher(acq, None, settle=1.0, clock=fake.clock)
    events = []
    gen = watcher.run(_reader, interval=1.0, sleep=fake.sleep)
    while fake.sleeps < 1:  # the half file is seen stable for a settle period and fails to read once: no report yet
        events.append(next(gen))
    assert [e for e in events if e.kind != "idle"] == []
    assert watcher._seen["x.tif"].tries == 1  # it was read, and failed, once
    (acq / "x.tif").write_bytes(whole)  # the writer finishes
    while fake.sleeps < 8:
        events.append(next(gen))
    assert [(e.kind, e.path.name) for e in events if e.kind != "idle"] == [("done", "x.tif")]


def test_watch_skips_hidden_outputs_and_other_types_and_can_skip_existing(tmp_path):
    make_image(tmp_path / "old.tif")
    make_image(tmp_path / "old_denoised.tif")
    make_image(tmp_path / ".hidden.tif")
    (tmp_path / "notes.txt").write_text("x")
    fake = FakeTime()
    assert [p.name for p in FolderWatcher(tmp_path, clock=fake.clock).candidates()] == ["old.tif"]
    watcher = FolderWatcher(tmp_path, skip_existing=True, settle=0, clock=fake.clock)
    assert watcher.poll() == []
    make_image(tmp_path / "new.tif")
    fake.now += 1
    assert watcher.poll() == []  # seen once
    fake.now += 1
    assert [p.name for p in watcher.poll()] == ["new.tif"]
    assert FolderWatcher(tmp_path, pattern="new*", clock=fake.clock).candidates() == [tmp_path / "new.tif"]


def test_watch_bad_arguments_are_one_line(tmp_path, capsys):
    from napari_lowdose.cli import EXIT_ERROR, main

    assert main(["watch", str(tmp_path / "nope")]) == EXIT_ERROR
    assert capsys.readouterr().err.strip() == f"napari-lowdose: error: {tmp_path / 'nope'}: no such folder to watch"
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / STATE_NAME).write_text("{not json")
    assert main(["watch", str(tmp_path), "-o", str(tmp_path / "out")]) == EXIT_ERROR
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "delete it to start afresh" in err


def test_ctrl_c_while_denoising_writes_nothing_and_the_file_is_done_next_time(tmp_path, tiny_model, monkeypatch, capsys):
    from napari_lowdose.batch import task

    acq, out = tmp_path / "acq", tmp_path / "out"
    acq.mkdir()
    make_image(acq / "a.tif")
    real = task.drive

    def interrupted(gen, on_step=None):
        raise KeyboardInterrupt

    monkeypatch.setattr(task, "drive", interrupted)
    args = [str(acq), "-o", str(out), "--model", str(tiny_model), "--device", "cpu", "--settle", "0"]
    assert _watch(args, FakeTime(stop_after=5)) == 0
    assert list(out.glob("*.tif")) == [] and not list(out.glob(".*.part"))
    assert "stopped; 0 file(s) denoised" in capsys.readouterr().err
    monkeypatch.setattr(task, "drive", real)
    assert _watch(args, FakeTime(stop_after=3)) == 0
    assert [p.name for p in out.glob("*.tif")] == ["a_denoised.tif"]
    assert np.isfinite(read_image(out / "a_denoised.tif")[0].data).all()
