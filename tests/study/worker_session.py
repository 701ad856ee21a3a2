"""Worker run in a subprocess by the crash tests: works through step 1 and reports each acknowledged action.

Usage: python worker_session.py STUDY_DIR OBSERVER START_TIME [--crash-after N | --pace SECONDS]

Every line on stdout is ``ACK <json>``, printed after the session method returned (so the
action is acknowledged). ``--crash-after N`` ends the process with ``os._exit`` after N
acknowledgements, without closing the session (a crash that leaves the lock behind).
``--pace SECONDS`` waits that long after each acknowledgement, like a person between clicks, so
a kill at a random time lands sometimes between actions and sometimes inside one.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from lundprobe_gui.study import ACTIVE, ObserverSession


def main() -> None:
    study_dir, observer, t = sys.argv[1], sys.argv[2], float(sys.argv[3])
    opts = dict(zip(sys.argv[4::2], sys.argv[5::2]))
    crash_after = int(opts["--crash-after"]) if "--crash-after" in opts else None
    pace = float(opts.get("--pace", 0))
    acks = 0

    def ack(**info: object) -> None:
        nonlocal acks
        print("ACK " + json.dumps(info), flush=True)
        acks += 1
        if crash_after is not None and acks >= crash_after:
            os._exit(3)
        time.sleep(pace)

    s = ObserverSession(study_dir, observer, now=t)
    while s.status(t) == ACTIVE and s.progress(t).step == 1:
        case = s.current_case(t)
        for i, name in enumerate(s.structures):
            have = s.ratings(name, now=t)
            for qid, value in (
                ("quality", 1 + (case.position + i) % 4),
                ("confidence", 1 + (case.position * 3 + i) % 5),
                ("comment", f"{case.pseudonym} {name} looks fine"),
            ):
                if qid not in have:
                    t += 1
                    s.rate(qid, value, structure=name, now=t)
                    ack(
                        kind="rating",
                        step=case.step,
                        pseudonym=case.pseudonym,
                        structure=name,
                        question=qid,
                        value=value,
                    )
            t += 1
            m = s.begin_editing(name, now=t).to_full()
            zs = np.flatnonzero(m.any(axis=(1, 2)))
            m[zs[0]] = False
            t += 2
            saved = s.save_edit(m, structure=name, now=t)
            ack(
                kind="save",
                step=case.step,
                pseudonym=case.pseudonym,
                structure=name,
                sha256=saved.sha256,
                version=saved.version_file.name,
            )
        t += 1
        s.finish_case(now=t)
        ack(kind="finish", step=case.step, pseudonym=case.pseudonym)
    s.close(now=t)
    print("DONE " + json.dumps({"t": t}), flush=True)


if __name__ == "__main__":
    main()
