"""The parquet lake: partition folders, round trips, sorted keys, atomic writes."""

from __future__ import annotations

import os
import stat

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from pandas.testing import assert_frame_equal

from ml_assets.core.data.lake import (
    FRAME_FILE,
    RECORD_FILE,
    partition_dir,
    read_days,
    read_frames,
    read_partition,
    stored_days,
    stored_keys,
    write_frame,
    write_record,
)


def sample_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "id": pd.array([1, 2, None], dtype="Int64"),
        "when": pd.to_datetime(["2024-01-01", "2024-01-02", "2024-01-03"]),
        "name": ["a", None, "c"],
        "score": [0.1, np.nan, 0.3],
    })


def test_partition_dir_is_hive_style(tmp_path):
    assert partition_dir(tmp_path, "features", "date", "2024-01-05") == tmp_path / "features" / "date=2024-01-05"
    assert partition_dir(tmp_path, "report", None, None) == tmp_path / "report"


def test_write_frame_and_read_partition_round_trip(tmp_path):
    folder = partition_dir(tmp_path, "features", "date", "2024-01-01")
    path = write_frame(folder, sample_frame())
    assert path == folder / FRAME_FILE
    assert path.exists()
    assert_frame_equal(read_partition(folder), sample_frame())


def test_write_frame_overwrites_and_drops_the_index(tmp_path):
    frame = sample_frame()
    frame.index = [10, 11, 12]
    write_frame(tmp_path, sample_frame().iloc[:1])
    write_frame(tmp_path, frame)
    back = read_partition(tmp_path)
    assert back.index.tolist() == [0, 1, 2]
    assert back["name"].tolist()[0] == "a"


def test_write_record_round_trip(tmp_path):
    record = {"version": 3, "metrics": {"roc_auc": 0.81}, "segments": ["domestic", "industrial"], "ok": True,
              "when": pd.Timestamp("2024-01-05")}
    folder = tmp_path / "segment_model" / "segment=domestic"
    path = write_record(folder, record)
    assert path == folder / RECORD_FILE
    back = read_partition(folder)
    assert back == {**record, "when": "2024-01-05 00:00:00"}  # non-JSON values stored as text


def test_read_partition_without_a_file_says_what_to_do(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="materialize it first"):
        read_partition(tmp_path / "empty")


def test_read_frames_concatenates_in_order(tmp_path):
    first = write_frame(tmp_path / "a", pd.DataFrame({"x": [1, 2]})).parent
    second = write_frame(tmp_path / "b", pd.DataFrame({"x": [3]})).parent
    assert read_frames([second, first])["x"].tolist() == [3, 1, 2]
    assert read_frames([]).empty


def test_read_frames_of_many_partitions_read_in_threads_keeps_the_order_given(tmp_path):
    folders = [write_frame(tmp_path / f"day{i:02d}", pd.DataFrame({"x": [i, i], "text": [f"t{i}", None]})).parent
               for i in range(23)]
    order = folders[::-1] + folders[:3]
    frame = read_frames(order, ["x", "text"])
    expected = pd.concat([pd.read_parquet(folder / "part.parquet") for folder in order], ignore_index=True)
    pd.testing.assert_frame_equal(frame, expected)


def test_text_columns_stay_in_arrow_memory_through_every_write_and_read(tmp_path):
    scored = pd.DataFrame({"reason": pd.array(["amount = 3", None], dtype=pd.ArrowDtype(pa.string())),
                           "typed": pd.array(["a", None], dtype="string"), "plain": ["x", None]})
    frame = scored
    for generation in range(3):  # predictions -> risk_clusters -> risk_report: each reads and writes again
        frame = read_frames([write_frame(tmp_path / f"g{generation}", frame).parent])
        assert [frame[c].dtype.storage for c in ("reason", "typed")] == ["pyarrow", "pyarrow"], generation
        assert frame["plain"].dtype == object and frame["reason"].tolist()[0] == "amount = 3"
        assert frame["reason"].isna().tolist() == [False, True]
    assert read_partition(tmp_path / "g2")["typed"].dtype.storage == "pyarrow"


def test_stored_keys_sorted_and_ignore_folders_without_a_file(tmp_path):
    for key in ["2024-01-03", "2024-01-01", "2024-01-02"]:
        write_frame(partition_dir(tmp_path, "features", "date", key), pd.DataFrame({"x": [1]}))
    write_record(partition_dir(tmp_path, "features", "date", "2024-01-04"), {"n": 1})
    (tmp_path / "features" / "date=2024-01-05").mkdir()  # no file: not stored
    (tmp_path / "features" / "other=2024-01-06").mkdir(parents=True)
    write_frame(tmp_path / "features" / "other=2024-01-07", pd.DataFrame({"x": [1]}))  # other dimension
    assert stored_keys(tmp_path, "features", "date") == ["2024-01-01", "2024-01-02", "2024-01-03", "2024-01-04"]


def test_stored_days_and_read_days_know_the_daily_layout(tmp_path):
    """Callers name an asset and its days; the date=YYYY-MM-DD folders stay the lake's business."""
    for key, rows in [("2024-01-02", [2, 3]), ("2024-01-01", [1])]:
        write_frame(tmp_path / "predictions" / f"date={key}", pd.DataFrame({"x": rows, "y": rows}))
    write_frame(tmp_path / "predictions" / "segment=domestic", pd.DataFrame({"x": [9]}))  # not a day
    assert stored_days(tmp_path, "predictions") == ["2024-01-01", "2024-01-02"]
    assert read_days(tmp_path, "predictions", ["2024-01-02", "2024-01-01"], ["x"]).to_dict("list") == {"x": [2, 3, 1]}
    with pytest.raises(FileNotFoundError):
        read_days(tmp_path, "predictions", ["2024-01-03"])


def test_stored_keys_of_an_unknown_asset_is_empty(tmp_path):
    assert stored_keys(tmp_path, "nothing", "date") == []


def test_failed_write_keeps_the_previous_file_and_leaves_no_temp_file(tmp_path):
    folder = tmp_path / "features" / "date=2024-01-01"
    write_frame(folder, sample_frame())
    before = (folder / FRAME_FILE).read_bytes()
    bad = pd.DataFrame({"mixed": pd.Series([1, "two", 3], dtype=object)})
    with pytest.raises(Exception) as error:
        bad.to_parquet(tmp_path / "probe.parquet", index=False)  # the frame really cannot be written
    with pytest.raises(type(error.value)):
        write_frame(folder, bad)
    assert (folder / FRAME_FILE).read_bytes() == before
    assert_frame_equal(read_partition(folder), sample_frame())
    assert sorted(p.name for p in folder.iterdir()) == [FRAME_FILE]


def test_failed_first_write_leaves_nothing_stored(tmp_path):
    folder = tmp_path / "features" / "date=2024-01-02"
    with pytest.raises(Exception):
        write_frame(folder, pd.DataFrame({"mixed": pd.Series([1, "two"], dtype=object)}))
    assert not folder.exists(), "a write that fails while serializing creates nothing"
    assert stored_keys(tmp_path, "features", "date") == []


def test_failed_record_write_keeps_the_previous_record(tmp_path):
    write_record(tmp_path, {"version": 1})
    with pytest.raises(ValueError):
        write_record(tmp_path, _circular())
    assert read_partition(tmp_path) == {"version": 1}
    assert sorted(p.name for p in tmp_path.iterdir()) == [RECORD_FILE]


def _circular() -> dict:
    record: dict = {"version": 2}
    record["self"] = record  # json.dumps raises ValueError: Circular reference detected
    return record


@pytest.mark.parametrize("umask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_atomic_writes_take_the_umask_mode_not_mkstemp_0600(tmp_path, umask, mode):
    previous = os.umask(umask)
    try:
        frame_file = write_frame(partition_dir(tmp_path, "features", "date", "2024-01-01"), sample_frame())
        record_file = write_record(partition_dir(tmp_path, "summary", "date", "2024-01-01"), {"rows": 3})
    finally:
        os.umask(previous)
    assert stat.S_IMODE(os.stat(frame_file).st_mode) == mode
    assert stat.S_IMODE(os.stat(record_file).st_mode) == mode
