import csv
import json

import pytest

from lundprobe_gui.cli import main
from lundprobe_gui.review import ReviewSession

T0 = 1_700_000_000.0


@pytest.mark.slow
def test_init_status_export(dataset, tmp_path, capsys):
    r = tmp_path / "rev"
    assert (
        main(["review", "init", str(r), "--dataset", str(dataset), "--reviewer", "R7", "--cases", "case02", "case01"])
        == 0
    )
    assert "2 case(s), 6 segment(s)" in capsys.readouterr().out
    assert main(["review", "status", str(r), "--json"]) == 0
    st = json.loads(capsys.readouterr().out)
    assert st["reviewer"] == "R7" and [c["case_id"] for c in st["cases"]] == ["case02", "case01"]
    assert {c["status"] for c in st["cases"]} == {"not started"} and st["done"] == 0

    s = ReviewSession(r)
    s.open_case("case01", now=T0)
    for seg in s.segments():
        s.rate(seg.name, 4, now=T0 + 12)
    s.finish_case(now=T0 + 12)
    s.close()
    (r / "review-results.csv").unlink()

    assert main(["review", "status", str(r)]) == 0
    out = capsys.readouterr().out
    assert "1 of 2 case(s) done" in out and "rated 3/3" in out and "12.0 s" in out
    assert main(["review", "export", str(r)]) == 0
    assert capsys.readouterr().out.strip() == str(r / "review-results.csv")
    with open(r / "review-results.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert [row[0] for row in rows[1:]] == ["case01"]
    assert main(["review", "export", str(r), "--all", "--out", str(tmp_path / "all.csv")]) == 0
    with open(tmp_path / "all.csv", newline="") as fh:
        rows = list(csv.reader(fh))
    assert [row[0] for row in rows[1:]] == ["case02", "case01"] and rows[1][4:7] == ["", "", ""]


@pytest.mark.slow
def test_errors_exit_2_without_traceback(dataset, tmp_path, capsys):
    assert main(["review", "init", str(tmp_path / "a"), "--dataset", str(dataset), "--reviewer", "../evil"]) == 2
    assert not (tmp_path / "a").exists()
    assert (
        main(["review", "init", str(tmp_path / "b"), "--dataset", str(tmp_path / "nowhere"), "--reviewer", "R1"]) == 2
    )
    assert (
        main(
            ["review", "init", str(tmp_path / "c"), "--dataset", str(dataset), "--reviewer", "R1", "--cases", "case09"]
        )
        == 2
    )
    assert main(["review", "status", str(tmp_path / "nothing")]) == 2
    assert main(["review", "export", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "case09" in err and "review init" in err
