"""`slurm`: the script printed by --dry-run, and every refusal a one-line error with exit 2,
before anything is created or submitted."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import write
from search.cluster.shared_fs import shared_path_problem

SPACE = """
SPACE = {"conv": {"depth": 1, "filters": 8}, "head": {"layers": 0}, "training": {"epochs": 1}}
DATA = {"name": "digits"}
"""


def slurm(tmp_path: Path, *args: str, path: str | None = None, **env: str) -> subprocess.CompletedProcess:
    write(tmp_path, "s.py", SPACE)
    environment = {**os.environ, **env, **({"PATH": path} if path is not None else {})}
    environment.pop("SEARCH_STORAGE", None)
    return subprocess.run([sys.executable, "-m", "search", "slurm", "s.py", *args], cwd=tmp_path,
                          text=True, capture_output=True, timeout=300, env=environment)


def test_dry_run_prints_the_script_as_it_is_and_creates_nothing(tmp_path):
    done = slurm(tmp_path, "--workers", "3", "--storage", "s.log", "--time", "2h", "--dry-run",
                 "--studies-dir", "st[red]:smile:", path=str(Path(sys.executable).parent) + ":/usr/bin:/bin")
    assert done.returncode == 0, done.stderr
    assert "#SBATCH --array=0-2" in done.stdout and "#SBATCH --time=0-02:00:00" in done.stdout
    assert f'#SBATCH --output="{tmp_path}/st[red]:smile:/s/slurm/%A_%a.out"' in done.stdout
    assert f"--storage {tmp_path}/s.log" in done.stdout
    assert not (tmp_path / "st[red]:smile:").exists() and not (tmp_path / "s.log").exists()


@pytest.mark.parametrize("limit, written", [("0", "0"), ("unlimited", "UNLIMITED")])
def test_no_time_limit_is_taken_with_any_signal_lead(tmp_path, limit, written):
    done = slurm(tmp_path, "--workers", "1", "--storage", "s.log", "--time", limit,
                 "--signal-lead", "300", "--dry-run")
    assert done.returncode == 0, done.stderr
    assert f"#SBATCH --time={written}\n" in done.stdout


@pytest.mark.parametrize("given, written", [([], "3"), (["--max-stalled-requeues", "5"], "5"),
                                           (["--max-stalled-requeues", "0"], "0")])
def test_the_cap_on_stalled_requeues_is_written_into_the_script(tmp_path, given, written):
    done = slurm(tmp_path, "--workers", "1", "--storage", "s.log", *given, "--dry-run")
    assert done.returncode == 0, done.stderr
    assert f'  if [ "$stalls" -gt {written} ]; then' in done.stdout


def test_a_password_in_the_url_stays_out_of_the_printed_script(tmp_path):
    done = slurm(tmp_path, "--workers", "2", "--storage-env", "DB", "--dry-run",
                 DB="postgresql://u:pw-Hidden-77@127.0.0.1:9/db")
    assert done.returncode == 0, done.stderr
    assert "pw-Hidden-77" not in done.stdout + done.stderr and "--storage" not in done.stdout


@pytest.mark.parametrize("args, env, message", [
    (["--workers", "2"], {}, "SQLite is one file on one machine"),
    (["--workers", "0", "--storage", "s.log"], {}, "'--workers' must be an int in [1, 10000]; got 0"),
    (["--workers", "2", "--storage", "s.log", "--partition", "gpu\n#SBATCH --x"], {},
     "'--partition' must be a Slurm name"),
    (["--workers", "2", "--storage", "s.log", "--sbatch=--array=0-9"], {},
     "the sweep script sets --array"),
    (["--workers", "2", "--storage", "s.log", "--sbatch=--arr=0-9"], {},  # sbatch's abbreviation
     "the sweep script sets --array"),
    (["--workers", "2", "--storage", "s.log", "--sbatch=--time=1"], {},  # would skip the check below
     "the sweep script sets --array"),
    (["--workers", "2", "--storage", "s.log", "--sbatch=--open-mode=truncate"], {},
     "the sweep script sets --array"),
    (["--workers", "2", "--storage", "s.log", "--studies-dir", "a\\b"], {},
     "a path with a quote, a backslash or a control character cannot be written"),
    (["--workers", "2", "--storage", "s.log", "--time", "2", "--signal-lead", "300"], {},
     "--signal-lead 300: the warning would come before the task starts (--time 2)."),
    (["--workers", "2", "--storage", "s.log", "--max-stalled-requeues", "-1"], {},
     "'--max-stalled-requeues' must be an int in [0, "),
    (["--workers", "2", "--storage-env", "NOT_SET_HERE"], {},
     "--storage-env NOT_SET_HERE: the environment variable is not set."),
    (["--workers", "2", "--storage", "s.log", "--check-shared"], {},
     "filesystem mounted at"),
    (["--workers", "2", "--storage", "s.log"], {"PATH": "an empty folder"},
     "'sbatch' is not on PATH: this machine is not a Slurm submit host."),
])
def test_bad_input_is_one_line_exit_2_and_nothing_is_created(tmp_path, args, env, message):
    if "--check-shared" in args and shared_path_problem(tmp_path) is None:
        pytest.skip("the temporary folder is on a shared filesystem here")
    path = env.pop("PATH", None)
    if path:
        (tmp_path / "empty").mkdir()
        path = str(tmp_path / "empty")  # on a Slurm host too, no sbatch on this PATH
    done = slurm(tmp_path, *args, path=path)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr and "Traceback" not in done.stderr
    assert not (tmp_path / "studies").exists() and not (tmp_path / "s.log").exists()


def test_slurms_own_refusal_of_a_partition_is_a_sentence_before_anything_is_made(tmp_path, slurm):
    done = globals()["slurm"](tmp_path, "--workers", "2", "--storage", "s.log", "--partition",
                              "no-such-partition")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "Slurm refused the sweep: sbatch: error: invalid partition specified: " \
           "no-such-partition" in done.stderr
    assert not (tmp_path / "studies").exists()


def fake_slurm(tmp_path: Path) -> str:
    """A PATH whose sbatch accepts and answers $FAKE_JOB_ID, and whose scontrol knows no job."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text('#!/bin/sh\ncase "$*" in *--test-only*) exit 0 ;; esac\n'
                                    'echo "$FAKE_JOB_ID"\n')  # accepts, then answers the job id
    (bin_dir / "scontrol").write_text("#!/bin/sh\necho 'slurm_load_jobs error: Invalid job id "
                                      "specified' >&2\nexit 1\n")  # finished and forgotten
    for tool in ("sbatch", "scontrol"):
        (bin_dir / tool).chmod(0o755)
    return f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin"


def study_attrs(journal: Path) -> dict:
    """Study 's''s user attributes, read from its journal file."""
    import optuna

    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(journal)))
    return optuna.load_study(study_name="s", storage=storage).user_attrs


def recorded_jobs(journal: Path) -> dict[str, str]:
    """The study's recorded Slurm jobs: attribute name to job id."""
    return {key: value["job"] for key, value in study_attrs(journal).items()
            if key.startswith("slurm_job")}


def test_a_worker_inside_a_slurm_job_records_that_job_so_a_resubmission_by_hand_shows(tmp_path):
    path = fake_slurm(tmp_path)
    done = slurm(tmp_path, "--workers", "1", "--storage", "s.log", "--timeout", "1s", path=path,
                 FAKE_JOB_ID="777")
    assert done.returncode == 0, done.stderr
    deadline = study_attrs(tmp_path / "s.log")["budget"]["deadline"]
    while time.time() <= deadline:  # once past it, the worker below records its job, runs nothing
        time.sleep(0.05)
    slurm_env = {"SLURM_JOB_ID": "901", "SLURM_ARRAY_JOB_ID": "888", "SLURM_ARRAY_TASK_COUNT": "3"}
    for _ in range(2):  # a second task of the same array adds nothing
        worker = subprocess.run([sys.executable, "-m", "search", "worker", "s", "--storage", "s.log"],
                                cwd=tmp_path, text=True, capture_output=True, timeout=300,
                                env={**os.environ, **slurm_env})
        assert worker.returncode == 0 and "nothing left to run" in worker.stdout, worker.stderr
    assert recorded_jobs(tmp_path / "s.log") == {"slurm_job:777": "777", "slurm_job:888": "888"}


def test_only_a_slurm_jobs_own_id_is_recorded_and_a_recorded_one_is_left():
    import optuna

    from search.commands.slurm_jobs import record_own_job

    study = optuna.create_study()
    for job in (None, "", "12; rm", "\u0663"):
        record_own_job(study, {} if job is None else {"SLURM_JOB_ID": job})
    assert study.user_attrs == {}
    submitted = {"job": "5", "workers": 2, "script": "/s/sweep.sbatch"}
    study.set_user_attr("slurm_job:5", submitted)
    record_own_job(study, {"SLURM_JOB_ID": "5"})
    record_own_job(study, {"SLURM_JOB_ID": "6", "SLURM_ARRAY_TASK_COUNT": "\u00b2"})
    record_own_job(study, {"SLURM_ARRAY_JOB_ID": "x", "SLURM_JOB_ID": "7"})  # the next one then
    assert study.user_attrs == {"slurm_job:5": submitted,
                                "slurm_job:6": {"job": "6", "workers": None, "script": None},
                                "slurm_job:7": {"job": "7", "workers": 1, "script": None}}


def test_every_submission_is_its_own_record_and_status_lists_them_all(tmp_path):
    """Each submitted job array is its own user attribute of the study, so no submission reads,
    extends and writes back a list another one may be writing; `status` lists them all."""
    path = fake_slurm(tmp_path)
    for job in ("102", "101"):
        done = slurm(tmp_path, "--workers", "1", "--storage", "s.log", path=path, FAKE_JOB_ID=job)
        assert done.returncode == 0, done.stderr
    assert recorded_jobs(tmp_path / "s.log") == {"slurm_job:102": "102", "slurm_job:101": "101"}
    status = subprocess.run([sys.executable, "-m", "search", "status", "s", "--storage", "s.log"],
                            cwd=tmp_path, text=True, capture_output=True, timeout=300,
                            env={**os.environ, "PATH": path})
    assert status.returncode == 0, status.stderr
    assert "Slurm jobs 101, 102: none left in Slurm's queue" in " ".join(status.stdout.split())


def test_recorded_jobs_are_read_from_both_forms_and_a_tampered_one_is_named():
    from search.commands.slurm_jobs import submitted_jobs

    attrs = {"slurm_jobs": [{"job": "7", "workers": 2}], "slurm_job:12": {"job": "12"},
             "slurm_job:9": {"job": 9}, "budget": {}}
    assert submitted_jobs(attrs, "s") == ([{"job": "7", "workers": 2}, {"job": 9}, {"job": "12"}], [])
    for tampered in ({"job": "3; rm -rf /"}, {"job": "\u00b2"}, {"job": "\u0663"}, {"job": "9" * 30},
                     "3", None):
        jobs, [problem] = submitted_jobs({"slurm_job:3": tampered, "slurm_job:4": {"job": "4"}}, "s")
        assert jobs == [{"job": "4"}]
        assert problem.startswith("study 's': the stored Slurm job record 'slurm_job:3' is ")
    assert submitted_jobs({"slurm_jobs": 5}, "s")[1] == [
        "study 's': the stored Slurm job record 'slurm_jobs' is 5, not a submitted job array's "
        "id; not shown."]
