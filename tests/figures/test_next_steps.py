"""Each long command ends by naming the next one (a real command line, which its parser accepts, with the
actual paths), the figures command says what it must compute before it starts, and the long steps print a
line per finished unit when stdout is not a terminal."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")


def _next_commands(out: str) -> list[str]:
    return [m.group(1) for m in re.finditer(r"^next: (python -m \S+.*?)(?:   \(|$)", out, re.M)]


def assert_real_command(cmd: str) -> list[str]:
    """Parse ``cmd`` with the parser of the command it names (argparse exits on anything it rejects); return
    its words."""
    words = shlex.split(cmd)
    assert words[:2] == ["python", "-m"], cmd
    module, argv = words[2], words[3:]
    if module == "theory":
        from theory.cli import build_parser

        build_parser().parse_args(argv)
    elif module == "figures":
        from figures import FIGURES
        from figures.cli import build_parser

        args = build_parser().parse_args(argv)
        assert all(n in FIGURES for n in args.only or []), cmd
        for f in (args.results, args.dynamics, args.trained):
            assert f is None or Path(f).is_file(), f"{cmd}: {f} is not a file"
    elif module == "verify":
        from verify.cli import COMMANDS, build_parser, command_parser, route

        name, rest = route(argv)
        if name in ("dynamics", "radius"):
            COMMANDS[name][0].build_parser().parse_args(rest)
        else:
            (command_parser(name) if name else build_parser()).parse_args(rest)
    else:
        raise AssertionError(f"unknown command {cmd!r}")
    return words


def test_theory_prove_names_theory_explain(capsys):
    from theory.cli import main

    assert main(["prove", "input-gradient", "--no-progress"]) == 0
    out = capsys.readouterr().out
    (cmd,) = _next_commands(out)
    assert out.rstrip().splitlines()[-1].startswith("next: ")
    assert assert_real_command(cmd)[3:] == ["explain", "input-gradient"]


def test_the_lab_names_its_figures_and_the_trained_check(lab_file, capsys):
    from verify.cli.dynamics import main

    main(["report", str(lab_file)])
    out = capsys.readouterr().out
    cmds = _next_commands(out)
    assert out.rstrip().splitlines()[-1].startswith("next: ")
    assert any(c.startswith("python -m figures") and f"--dynamics {lab_file}" in c for c in cmds), cmds
    assert any(c.startswith("python -m verify --trained") for c in cmds), cmds
    for c in cmds:
        assert_real_command(c)


def test_the_sweep_names_the_notes_and_the_figures(tmp_path, capsys):
    from verify.cli import main

    out_file = tmp_path / "sweep.jsonl"
    main(["--networks", "1", "--points", "2", "--claims", "input-gradient", "--dtype", "float64", "--out",
          str(out_file), "--no-progress"])
    out = capsys.readouterr().out
    cmds = _next_commands(out)
    assert f"python -m verify notes {out_file}" in cmds and f"python -m figures --results {out_file}" in cmds, cmds
    for c in cmds:
        assert_real_command(c)


def test_the_trained_check_names_its_figure(lab_file, tmp_path, capsys):
    from verify.cli import main

    out_file = tmp_path / "trained.jsonl"
    main(["--trained", str(lab_file), "--points", "2", "--dtype", "float64", "--claims", "curvature-region-crossing",
          "--out", str(out_file), "--no-progress"])
    out = capsys.readouterr().out
    (cmd,) = _next_commands(out)
    assert f"--trained {out_file}" in cmd and "trained-crossing" in cmd
    assert_real_command(cmd)


def test_figures_say_what_they_compute_before_they_start(tmp_path, capsys, monkeypatch):
    from figures import cli

    seen = []

    def stop(*_a, **_k):
        seen.append(capsys.readouterr().err)        # what was said before the first computation
        raise RuntimeError("stopped here by the test")

    monkeypatch.setattr(cli, "_quick_sweep", stop)
    monkeypatch.setattr(cli, "_quick_lab", stop)
    monkeypatch.setattr(cli, "_quick_trained", stop)
    assert cli.main(["--out", str(tmp_path), "--no-progress"]) == 2
    (before,) = seen
    for what in ("quick sweep", "quick training lab", "checkpoints"):
        assert what in before
    assert re.search(r"about \d+ s on a 2-core CPU", before), before
    assert "--results FILE --dynamics FILE --trained FILE" in before
    example = re.search(r"e\.g\. (python -m figures [^\n]*)", before).group(1)
    words = shlex.split(example)
    from figures.cli import build_parser

    args = build_parser().parse_args(words[3:])
    assert args.results and args.dynamics and args.trained
    # only what is missing is announced; nothing when everything is given
    seen.clear()
    assert cli.main(["--out", str(tmp_path), "--only", "margin-dynamics", "--no-progress"]) == 2
    assert "quick training lab" in seen[0] and "quick sweep" not in seen[0]


def test_figures_from_saved_results_announce_nothing(lab_file, tmp_path, capsys):
    from figures import cli

    assert cli.main(["--dynamics", str(lab_file), "--only", "margin-dynamics", "--out", str(tmp_path), "--format",
                     "png", "--dpi", "30", "--no-progress"]) == 0
    assert "need results that were not given" not in capsys.readouterr().err


@pytest.mark.parametrize("argv", [
    ["--networks", "2", "--points", "2", "--claims", "input-gradient", "--dtype", "float64"],
])
def test_the_sweep_prints_a_line_per_unit_into_a_pipe(argv, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "verify", *argv, "--out", str(tmp_path / "s.jsonl")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    lines = re.findall(r"^\[(\d+)/(\d+)\] .* done \(\d+ s in all", proc.stdout, re.M)
    assert lines and lines[-1][0] == lines[-1][1] and len(lines) == int(lines[-1][1]), proc.stdout


def test_the_lab_and_the_trained_check_print_a_line_per_run_when_captured(lab_file, tmp_path, capsys):
    from verify.cli import main as verify_main
    from verify.cli.dynamics import main as lab_main

    lab_main(["--data", "synthetic", "--seeds", "1", "--epochs", "1", "--jobs", "1", "--claims",
              "standard-training-small-margin", "--out", str(tmp_path / "lab.jsonl")])
    out = capsys.readouterr().out
    runs = re.findall(r"^\[(\d+)/(\d+)\] ", out, re.M)
    assert runs and runs[-1][0] == runs[-1][1], out[:2000]
    verify_main(["--trained", str(lab_file), "--points", "2", "--dtype", "float64", "--claims",
                 "curvature-region-crossing", "--out", str(tmp_path / "t.jsonl")])
    out = capsys.readouterr().out
    checks = re.findall(r"^\[(\d+)/(\d+)\] checkpoints", out, re.M)
    assert checks and checks[-1][0] == checks[-1][1], out[:2000]
    # --no-progress: no line
    lab_main(["--data", "synthetic", "--seeds", "1", "--epochs", "1", "--jobs", "1", "--claims",
              "standard-training-small-margin", "--out", str(tmp_path / "lab2.jsonl"), "--no-progress"])
    assert not re.search(r"^\[\d+/\d+\] ", capsys.readouterr().out, re.M)
