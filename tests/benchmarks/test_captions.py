import csv
import json

import numpy as np

from benchmarks.captions import DATA, DATASETS, excluded_ids, main
from sa_fixtures.clips import tone, write_wav
from tests.conftest import needs_data

AUDIOCAPS_UNAVAILABLE = DATA / "audiocaps-unavailable-youtube-ids.txt"
MUSICCAPS_IDS = ["-0Gj8-vB1q4", "-0SdAVK79lg", "-0vPFx-wRRI", "-0xzrMun0Rs"]


def musiccaps_csv(path):
    """A caption CSV in musiccaps-public.csv's layout (its columns, four of its ids)."""
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ytid", "start_s", "end_s", "audioset_positive_labels", "aspect_list", "caption", "author_id",
                    "is_balanced_subset", "is_audioset_eval"])
        for k, ytid in enumerate(MUSICCAPS_IDS):
            w.writerow([ytid, 30, 40, "/m/0140xf", "['calm']", f"a calm piece number {k}", 4, False, True])
    return path


def first_ids(n):
    return MUSICCAPS_IDS[:n]


def test_musiccaps_limit_4_end_to_end_and_resume(tiny_ckpt, tmp_path, weights_dir, capsys):
    ref = tmp_path / "ref"
    for k, ytid in enumerate(first_ids(4)):
        write_wav(ref / f"{ytid}.wav", tone(4.0, 44100, 200 + 40 * k, seed=k))
    unavailable = tmp_path / "unavailable.txt"
    unavailable.write_text(first_ids(4)[2] + "\n")
    common = ["--captions", str(musiccaps_csv(tmp_path / "musiccaps-public.csv")), "--ckpt", str(tiny_ckpt), "--out", str(tmp_path / "run"), "--steps", "2",
              "--sigma-max", "20", "--seconds-total", "3", "--ref", str(ref), "--weights-dir", str(weights_dir), "--unavailable",
              str(unavailable), "--results-table", str(tmp_path / "results.jsonl"), "--no-progress"]
    assert main("musiccaps", common + ["--limit", "2"]) == 0
    assert main("musiccaps", common + ["--limit", "4"]) == 0  # resumes: generates only the 2 new prompts
    results = json.loads((tmp_path / "run" / "results.json").read_text())
    assert results["generation"]["generated"] == 2
    m = results["metrics"]
    assert m["fd"]["n_files"] == 4 and m["clap"]["n"] == 4 and m["timing"]["n"] == 4
    assert m["kl"]["n"] == 3 and m["kl"]["left_out"][first_ids(4)[2]].startswith("excluded")
    rows = [json.loads(line) for line in (tmp_path / "results.jsonl").read_text().splitlines()]
    assert len(rows) == 2 and rows[-1]["benchmark"] == "musiccaps" and "ci95" in rows[-1]["metrics"]["kl"]
    page = (tmp_path / "run" / "report.html").read_text()
    assert "Published numbers" in page and "108.69" in page and "(this run)" in page
    assert len(list((tmp_path / "run" / "audio").glob("*.wav"))) == 4
    with open(tmp_path / "run" / "prompts.csv", newline="") as f:
        assert [row["id"] for row in csv.DictReader(f)] == first_ids(4)


@needs_data(AUDIOCAPS_UNAVAILABLE)
def test_audiocaps_unavailable_youtube_ids_map_to_caption_ids(tmp_path):
    # the 94 shipped unavailable YouTube ids x 5 captions each (as in audiocaps-test.csv) beside 3 available ones:
    # the 470 audiocap_ids stable-audio-metrics (examples/audiocaps_no-audio.py) leaves out of KL
    gone = AUDIOCAPS_UNAVAILABLE.read_text().split()
    captions = tmp_path / "audiocaps-test.csv"
    rows = [(yt, k) for yt in [*gone, "avail_A", "avail_B", "avail_C"] for k in range(5)]
    captions.write_text("audiocap_id,youtube_id,start_time,caption\n"
                        + "".join(f"{100000 + n},{yt},30,sound {k}\n" for n, (yt, k) in enumerate(rows)))
    path = excluded_ids(DATASETS["audiocaps"], captions, AUDIOCAPS_UNAVAILABLE, tmp_path)
    assert len(path.read_text().split()) == 470


def test_errors_are_one_line(tiny_ckpt, tmp_path, capsys):
    bad_csv = tmp_path / "bad.csv"
    bad_csv.write_text("ytid,caption\n../../etc,x\n")
    assert main("musiccaps", ["--captions", str(bad_csv), "--ckpt", str(tiny_ckpt), "--out", str(tmp_path / "o")]) == 2
    assert "cannot be file names" in capsys.readouterr().err and not (tmp_path / "o").exists()
    cols = tmp_path / "cols.csv"
    cols.write_text("id,text\n1,x\n")
    assert main("musiccaps", ["--captions", str(cols), "--ckpt", str(tiny_ckpt), "--out", str(tmp_path / "o")]) == 2
    assert "no column(s) ['ytid', 'caption']" in capsys.readouterr().err
    ok = tmp_path / "ok.csv"
    ok.write_text("ytid,caption\nabc,x\n")
    assert main("musiccaps", ["--captions", str(ok), "--ckpt", str(tmp_path / "nope"), "--out", str(tmp_path / "o")]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_torchrun_sharded_generation_equals_one_process(tiny_ckpt, tmp_path):
    import os
    import subprocess
    import sys

    import soundfile as sf

    captions = tmp_path / "c.csv"
    captions.write_text("ytid,caption\n" + "".join(f"id{k},a tone number {k}\n" for k in range(4)))
    outs = {}
    for n, port in ((1, 29651), (2, 29652)):
        out = tmp_path / f"run{n}"
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(n), "--master-port", str(port),
               "-m", "benchmarks.musiccaps", "--captions", str(captions), "--ckpt", str(tiny_ckpt), "--out", str(out),
               "--steps", "2", "--sampler", "dpmpp-2m", "--sigma-max", "20", "--seconds-total", "1",
               "--weights-dir", str(tmp_path / "none"), "--results-table", str(tmp_path / "t.jsonl"), "--no-progress"]
        r = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"},
                           timeout=600)
        assert r.returncode == 0, r.stderr[-2000:]
        outs[n] = {p.name: sf.read(p)[0] for p in sorted((out / "audio").glob("*.wav"))}
        assert json.loads((out / "results.json").read_text())["metrics"]["timing"]["n"] == 4
    assert list(outs[1]) == list(outs[2]) == [f"id{k}.wav" for k in range(4)]
    for name in outs[1]:
        np.testing.assert_allclose(outs[1][name], outs[2][name], atol=1e-5)


def test_musiccaps_without_captions_reads_the_downloaded_copy(tiny_ckpt, tmp_path, monkeypatch, capsys):
    """The runner needs no --captions once `python -m benchmarks.data_files download musiccaps` has stored the
    published file (here a local copy served by URL, with its hash pinned as the real entry pins the real file's)."""
    import dataclasses
    import hashlib

    from benchmarks import data_files

    source = musiccaps_csv(tmp_path / "published.csv")
    entry = dataclasses.replace(data_files.DATA_FILES["musiccaps"], urls=(source.as_uri(),),
                                sha256=hashlib.sha256(source.read_bytes()).hexdigest())
    monkeypatch.setitem(data_files.DATA_FILES, "musiccaps", entry)
    monkeypatch.setenv(data_files.ENV_VAR, str(tmp_path / "data"))
    run = ["--ckpt", str(tiny_ckpt), "--out", str(tmp_path / "run"), "--limit", "2", "--steps", "2",
           "--seconds-total", "3", "--weights-dir", str(tmp_path / "no-weights"), "--results-table",
           str(tmp_path / "results.jsonl"), "--no-progress"]
    assert main("musiccaps", run) == 2
    err = capsys.readouterr().err
    assert "python -m benchmarks.data_files download musiccaps" in err and err.count("\n") == 1
    assert data_files.main(["download", "musiccaps"]) == 0
    assert data_files.main(["verify"]) == 1  # audiocaps-test is not stored here
    assert main("musiccaps", run) == 0
    with open(tmp_path / "run" / "prompts.csv", newline="") as f:
        assert [row["id"] for row in csv.DictReader(f)] == first_ids(2)
    stored = tmp_path / "data" / "musiccaps-public.csv"
    stored.write_text(stored.read_text().replace("calm", "loud"))  # an edited copy is not the benchmark's file
    capsys.readouterr()
    assert main("musiccaps", run) == 2 and "not the published file" in capsys.readouterr().err
    monkeypatch.setitem(data_files.DATA_FILES, "musiccaps", dataclasses.replace(entry, sha256="0" * 64))
    stored.unlink()
    assert data_files.main(["download", "musiccaps"]) == 2 and not stored.exists()  # a wrong file is not kept
