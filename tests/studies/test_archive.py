"""Study archives: a study exported to one file and imported into an empty database is the same study,
with the same results; a damaged, altered, hostile or repeated archive is refused with one clear error
and changes nothing."""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.core.files.storage import default_storage
from django.core.management import CommandError, call_command
from django.db import models
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from registry.models import Clip, Dataset, GenerationRun, Pair, Sample
from registry.services.generation import generation_run_summary
from studies import archive
from studies.archive import ArchiveError, study_export, study_import
from studies.models import Assignment, AssignmentItem, Hit, Rater, Rating, RubricRevision, Stimulus, Study
from studies.services.rating import assignment_claim, assignment_next_item, rating_submit
from studies.services.results import run_tables, study_results
from studies.services.studies import (
    invites_create,
    study_close,
    study_create,
    study_open,
    study_rubric_update,
)
from tests.conftest import REPO
from tests.studies.factories import finished_run

HIT_ID = "3HITIDARCHIVETEST00000000000AA"
HIT_TYPE_ID = "3HITTYPEARCHIVETEST0000000000B"
WORKER = "A1ARCHIVEWORKER7"
MTURK_ASSIGNMENT = "3ASSIGNMENTARCHIVETEST000000C"


# --- building studies ----------------------------------------------------------------------------------


def rate(assignment: Assignment, answer: Callable[[Stimulus], int], *, limit: int | None = None) -> None:
    """Rate the assignment's clips in order (all of them, or the first `limit`)."""
    done = 0
    while (limit is None or done < limit) and (item := assignment_next_item(assignment)) is not None:
        rating_submit(
            assignment=assignment, stimulus_uid=str(item.stimulus.uid), score=answer(item.stimulus),
            time_spent_ms=9000 + done, play_count=1 + done % 2, played_to_end=True,
        )  # fmt: skip
        assignment.refresh_from_db()
        done += 1


def careful(stimulus: Stimulus) -> int:
    if stimulus.is_check:
        return stimulus.expected_min
    return {"baseline": 2, "proposed": 4}.get(stimulus.system, 3) + stimulus.pk % 2


def careless(stimulus: Stimulus) -> int:
    """Never listens: misses every check."""
    return stimulus.expected_max % 5 + 1 if stimulus.is_check else 3


@pytest.fixture
def rated_study(settings, django_capture_on_commit_callbacks) -> Study:
    """A closed timbre study (stimuli with references, built check media) with a second rubric, two
    careful invited raters, one careless one (excluded), an MTurk worker on a HIT whose assignment was
    approved and bonused, and a rater who walked away mid-assignment. The run has cosine similarities."""
    settings.CELERY_TASK_ALWAYS_EAGER = True
    run = finished_run(categories=("dog", "drum"), clips=3, name="archived")
    for index, sample in enumerate(Sample.objects.filter(run=run, task="timbre").order_by("pk")):
        Sample.objects.filter(pk=sample.pk).update(metrics={"cosine": 0.5 + 0.01 * index, "mcd": 7.0 - index})
    GenerationRun.objects.filter(pk=run.pk).update(summary=generation_run_summary(run=run))
    with django_capture_on_commit_callbacks(execute=True):
        study = study_create(
            run=run, kind="timbre", ratings_per_stimulus=2, stimuli_per_assignment=4, gold_per_assignment=1
        )
    study = Study.objects.get(pk=study.pk)
    study = study_rubric_update(
        study=study,
        instructions=study.instructions + " Listen to both clips to the end.",
        rubric={**study.rubric, "question": "How similar is the timbre of the two clips?"},
    )
    study = study_open(study=study)
    Study.objects.filter(pk=study.pk).update(mturk_hit_type_id=HIT_TYPE_ID)
    hit = Hit.objects.create(
        study=study, hit_id=HIT_ID, hit_type_id=HIT_TYPE_ID, unique_request_token="archive-test-token-1",
        max_assignments=9, expires_at=timezone.now() + timedelta(days=7), synced_at=timezone.now(),
        extensions=1,
    )  # fmt: skip
    careful_a, careful_b, sloppy, leaver = invites_create(study=study, count=4, label="lab")
    for rater, answer in ((careful_a, careful), (careful_b, careful), (sloppy, careless)):
        rate(assignment_claim(study=study, rater=rater), answer)
    worker = Rater.objects.create(study=study, source=Rater.Source.MTURK, external_id=WORKER)
    on_mturk = assignment_claim(
        study=study, rater=worker, mturk_assignment_id=MTURK_ASSIGNMENT, hit=hit,
        turk_submit_to="https://workersandbox.mturk.com",
    )  # fmt: skip
    rate(on_mturk, careful)
    Assignment.objects.filter(pk=on_mturk.pk).update(
        state=Assignment.State.APPROVED, mturk_status="Approved", bonus_paid=True, reviewed_at=timezone.now()
    )
    rate(assignment_claim(study=study, rater=leaver), careful, limit=2)
    study = study_close(study=study)
    assert Rater.objects.get(pk=sloppy.pk).excluded, "the careless rater should have been screened out"
    return study


def light_study() -> Study:
    """A small open study with a few ratings and no check media: enough rows in every table."""
    run = finished_run(categories=("dog",), clips=2, name="light")
    study = study_create(
        run=run, kind="realism", ratings_per_stimulus=1, stimuli_per_assignment=3, prepare=False
    )
    Study.objects.filter(pk=study.pk).update(state=Study.State.OPEN)
    study.refresh_from_db()
    rater = invites_create(study=study, count=1)[0]
    rate(assignment_claim(study=study, rater=rater), careful)
    return study


def forget(study: Study) -> None:
    """Leave the database and the media store as a fresh installation has them: no study, no run,
    no dataset, no file."""
    run = GenerationRun.objects.get(pk=study.run_id)
    Study.objects.filter(run=run).delete()
    dataset = run.dataset
    run.delete()
    dataset.delete()
    shutil.rmtree(settings.MEDIA_ROOT)
    Path(settings.MEDIA_ROOT).mkdir()
    assert not Study.objects.exists() and not Sample.objects.exists() and not Clip.objects.exists()


# --- comparing -----------------------------------------------------------------------------------------


def plain(model: type[models.Model]) -> list[str]:
    return [f.name for f in model._meta.concrete_fields if not f.primary_key and not f.is_relation]


def rows(queryset: models.QuerySet, *relations: str) -> list[dict[str, Any]]:
    """Every row's own fields, plus what its references point at (by identity, not by id)."""
    values = queryset.values(*plain(queryset.model), *relations)
    return sorted(values, key=lambda row: json.dumps(row, sort_keys=True, default=str))


def snapshot(study: Study) -> dict[str, Any]:
    study = Study.objects.get(uid=study.uid)
    samples = Sample.objects.filter(stimuli__study=study).distinct()
    return {
        "study": rows(Study.objects.filter(pk=study.pk), "run__uid", "created_by"),
        "run": rows(GenerationRun.objects.filter(pk=study.run_id), "dataset__uid", "created_by"),
        "dataset": rows(Dataset.objects.filter(pk=study.run.dataset_id)),
        "revisions": rows(RubricRevision.objects.filter(study=study), "created_by"),
        "samples": rows(samples, "clip__clip_id", "pair__task", "pair__index", "source__task", "checkpoint"),
        "pairs": rows(
            Pair.objects.filter(samples__in=samples).distinct(),
            "video_clip__clip_id",
            "reference_clip__clip_id",
        ),
        "clips": rows(Clip.objects.filter(samples__in=samples).distinct()),
        "stimuli": rows(
            Stimulus.objects.filter(study=study), "sample__task", "sample__system", "sample__clip__clip_id"
        ),
        "raters": rows(Rater.objects.filter(study=study)),
        "hits": rows(Hit.objects.filter(study=study)),
        "assignments": rows(Assignment.objects.filter(study=study), "rater__external_id", "hit__hit_id"),
        "items": rows(
            AssignmentItem.objects.filter(assignment__study=study), "assignment__uid", "stimulus__uid"
        ),
        "ratings": rows(
            Rating.objects.filter(study=study), "rater__external_id", "stimulus__uid", "assignment__uid"
        ),
    }


def media(study: Study) -> dict[str, str]:
    """The sha256 of every file the study plays, read back from the media store."""
    names = set()
    for file, reference in Stimulus.objects.filter(study__uid=study.uid).values_list("file", "reference"):
        names |= {file, reference} - {""}
    out = {}
    for name in sorted(names):
        with default_storage.open(name, "rb") as handle:
            out[name] = hashlib.sha256(handle.read()).hexdigest()
    return out


def results(study: Study) -> dict[str, Any]:
    """The study's results and its run's tables, as the pages show them (less the database ids)."""
    study = Study.objects.get(uid=study.uid)
    tables = run_tables(run=study.run)
    mine = {k: {**v.as_dict(), "study": None} for k, v in tables["results"].items()}
    return {
        "study": {**study_results(study=study, n_boot=200).as_dict(), "study": None},
        "run_results": mine,
        "cosine": dataclasses.asdict(tables["cosine"]),
        "mcd": dataclasses.asdict(tables["mcd"]),
    }


# --- editing archives ----------------------------------------------------------------------------------


def members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path, "r:gz") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar}


def pack(path: Path, contents: dict[str, bytes], *extra: tarfile.TarInfo) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for name, body in contents.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
        for info in extra:
            tar.addfile(info, io.BytesIO(b"x" * info.size) if info.isreg() else None)
    return path


def with_manifest(source: Path, target: Path, change: Callable[[dict[str, Any]], Any]) -> Path:
    contents = members(source)
    manifest = json.loads(contents["manifest.json"])
    change(manifest)
    contents["manifest.json"] = json.dumps(manifest).encode()
    return pack(target, contents)


def set_cell(table: str, column: str, value: Any, row: int = 0) -> Callable[[dict[str, Any]], None]:
    def change(manifest: dict[str, Any]) -> None:
        manifest[table]["rows"][row][manifest[table]["columns"].index(column)] = value

    return change


def nothing_imported() -> bool:
    """No row and no media file from the archive (empty folders may stay)."""
    rows_left = Study.objects.exists() or GenerationRun.objects.exists() or Dataset.objects.exists()
    return not rows_left and not any(p.is_file() for p in Path(settings.MEDIA_ROOT).rglob("*"))


# --- round trips -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_study_exported_and_imported_into_an_empty_database_is_the_same_study(rated_study, tmp_path):
    before, files, outcome = snapshot(rated_study), media(rated_study), results(rated_study)
    assert before["hits"][0]["hit_id"] == HIT_ID and len(before["revisions"]) == 2
    assert any(r["excluded"] and r["exclusion_reason"] for r in before["raters"])
    assert any(a["mturk_assignment_id"] == MTURK_ASSIGNMENT for a in before["assignments"])
    assert {None, True, False} <= {a["passed_checks"] for a in before["assignments"]}
    assert outcome["study"]["n_ratings_valid"] > 0 and outcome["cosine"]["rows"]

    path = study_export(study=rated_study, path=tmp_path / "study.tar.gz")
    forget(rated_study)
    imported = study_import(path=path)

    assert snapshot(imported) == before
    assert media(imported) == files
    assert results(imported) == outcome
    assert imported.created_by is None and imported.run.created_by is None


@pytest.mark.slow
@pytest.mark.django_db
def test_import_study_in_a_new_process_on_a_new_sqlite_database_gives_the_same_results(rated_study, tmp_path):
    """The real thing: `migrate` on a brand-new SQLite file, `import_study`, then the results there."""
    outcome, files = results(rated_study), media(rated_study)
    path = study_export(study=rated_study, path=tmp_path / "study.tar.gz")
    var = tmp_path / "elsewhere"
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "CELERY_", "AWS_", "MEDIA_"))
    }
    env.update(VAR_DIR=str(var), PYTHONUNBUFFERED="1")

    def manage(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        return done.stdout

    manage("migrate", "--noinput")
    report = manage("import_study", str(path))
    assert "Imported study" in report and "excluded raters" in report
    script = (
        "import dataclasses, json; from studies.models import Study; "
        "from studies.services.results import run_tables, study_results; "
        f"s = Study.objects.get(uid='{rated_study.uid}'); t = run_tables(run=s.run); "
        "print(json.dumps({'study': {**study_results(study=s, n_boot=200).as_dict(), 'study': None}, "
        "'run_results': {k: {**v.as_dict(), 'study': None} for k, v in t['results'].items()}, "
        "'cosine': dataclasses.asdict(t['cosine']), 'mcd': dataclasses.asdict(t['mcd'])}))"
    )
    assert json.loads(manage("shell", "--no-imports", "-c", script)) == json.loads(json.dumps(outcome))
    assert (var / "db.sqlite3").is_file()
    for name, digest in files.items():
        assert hashlib.sha256((var / "media" / name).read_bytes()).hexdigest() == digest


@pytest.mark.django_db
def test_two_studies_of_one_run_are_imported_onto_one_run_with_its_sample_sources(tmp_path):
    run = finished_run(categories=("dog",), clips=2, name="shared")
    for aligned in Sample.objects.filter(run=run, task="alignment").exclude(system="ground_truth"):
        source = Sample.objects.get(
            run=run, task="realism", system=aligned.system, pair__index=aligned.pair.index
        )
        Sample.objects.filter(pk=aligned.pk).update(source=source)
    realism = study_create(run=run, kind="realism", prepare=False)
    alignment = study_create(run=run, kind="alignment", prepare=False)
    before = [snapshot(realism), snapshot(alignment)]
    paths = [study_export(study=s, path=tmp_path / f"{s.kind}.tar.gz") for s in (realism, alignment)]
    assert any(s["source__task"] == "realism" for s in before[1]["samples"])
    forget(realism)
    Dataset.objects.create(name="shared", source=Dataset.Source.SYNTHVAS, root="elsewhere")  # a namesake

    imported = [study_import(path=p) for p in paths]

    for old, new in zip(before, [snapshot(s) for s in imported], strict=True):
        assert {k: v for k, v in new.items() if k != "dataset"} == {
            k: v for k, v in old.items() if k != "dataset"
        }
    assert imported[0].run_id == imported[1].run_id and GenerationRun.objects.count() == 1
    assert Sample.objects.filter(task="realism", system="proposed").count() == 2  # carried once, shared
    assert imported[0].run.dataset.name.startswith("shared (imported ")


@pytest.mark.django_db
def test_the_commands_export_and_import_and_report_what_they_carried(tmp_path):
    study = light_study()
    path = tmp_path / "light.tar.gz"
    out = io.StringIO()
    call_command("export_study", str(study.uid), "-o", str(path), stdout=out)
    assert f"to {path}" in out.getvalue() and "1 raters" in out.getvalue()
    with pytest.raises(CommandError, match="already in this database"):
        call_command("import_study", str(path), stdout=io.StringIO())
    forget(study)
    out = io.StringIO()
    call_command("import_study", str(path), stdout=out)
    assert "Imported study" in out.getvalue() and f"{Rating.objects.count()} ratings" in out.getvalue()
    with pytest.raises(CommandError, match="neither a study id nor a study uid"):
        call_command("export_study", "latest", "-o", str(tmp_path / "x.tar.gz"))
    (tmp_path / "notes.txt").write_text("not an archive")
    with pytest.raises(CommandError, match="notes.txt is not a readable study archive"):
        call_command("import_study", str(tmp_path / "notes.txt"), stdout=io.StringIO())


# --- refusals ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_importing_the_same_archive_twice_is_refused_and_changes_nothing(tmp_path):
    study = light_study()
    path = study_export(study=study, path=tmp_path / "study.tar.gz")
    forget(study)
    study_import(path=path)
    counts = {
        m: m.objects.count() for m in (Study, Stimulus, Rater, Assignment, Rating, GenerationRun, Sample)
    }
    stored = sorted(p.relative_to(settings.MEDIA_ROOT) for p in Path(settings.MEDIA_ROOT).rglob("*"))

    with pytest.raises(ArchiveError, match="already in this database"):
        study_import(path=path)

    assert {m: m.objects.count() for m in counts} == counts
    assert sorted(p.relative_to(settings.MEDIA_ROOT) for p in Path(settings.MEDIA_ROOT).rglob("*")) == stored


@pytest.mark.django_db
def test_a_media_file_altered_after_export_is_refused(tmp_path):
    study = light_study()
    path = study_export(study=study, path=tmp_path / "study.tar.gz")
    forget(study)
    contents = members(path)
    name = next(n for n in contents if n.startswith("media/"))
    contents[name] = contents[name][:-1] + bytes([contents[name][-1] ^ 1])
    with pytest.raises(ArchiveError, match="does not match its checksum"):
        study_import(path=pack(tmp_path / "altered.tar.gz", contents))
    assert nothing_imported()


@pytest.mark.django_db
def test_a_different_file_already_in_the_media_store_is_not_overwritten(tmp_path):
    study = light_study()
    path = study_export(study=study, path=tmp_path / "study.tar.gz")
    played = Stimulus.objects.filter(study=study).values_list("file", flat=True).first()
    forget(study)
    default_storage.save(played, io.BytesIO(b"somebody else's clip"))
    with pytest.raises(ArchiveError, match="already has a different file"):
        study_import(path=path)
    assert not Study.objects.exists()
    with default_storage.open(played, "rb") as handle:
        assert handle.read() == b"somebody else's clip"


def hostile_member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, linkname, 1 if kind == tarfile.REGTYPE else 0
    return info


@pytest.mark.django_db
@pytest.mark.parametrize(
    "member",
    [
        hostile_member("/etc/cron.d/evil"),
        hostile_member("../evil.wav"),
        hostile_member("media/../../evil.wav"),
        hostile_member("media/fixtures/light/./x.wav"),
        hostile_member("media/link.wav", tarfile.SYMTYPE, "/etc/passwd"),
        hostile_member("media/hard.wav", tarfile.LNKTYPE, "manifest.json"),
        hostile_member("media/folder", tarfile.DIRTYPE),
    ],
    ids=["absolute", "parent", "media-parent", "dot", "symlink", "hardlink", "folder"],
)
def test_archive_members_that_could_land_outside_the_media_store_are_refused(tmp_path, member):
    study = light_study()
    path = study_export(study=study, path=tmp_path / "study.tar.gz")
    forget(study)
    with pytest.raises(ArchiveError, match="refusing archive member"):
        study_import(path=pack(tmp_path / "hostile.tar.gz", members(path), member))
    assert nothing_imported()
    assert not (tmp_path.parent / "evil.wav").exists()


def _drop(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda manifest: manifest.pop(key)


@pytest.mark.django_db
@pytest.mark.parametrize(
    "change, message",
    [
        (lambda m: m.update(format="zip-of-something"), "not a study archive"),
        (lambda m: m.update(version=3), "version 3 is not supported"),
        (
            set_cell("ratings", "score", 7),
            "ratings row 1, score = 7: Ensure this value is less than or equal to 5",
        ),
        (set_cell("ratings", "score", "5"), "ratings row 1, score = '5': must be a whole number"),
        (set_cell("ratings", "created_at", "2024-05-01T10:00:00"), "with its UTC offset"),
        (set_cell("ratings", "stimulus", 10**9), "stimulus 1000000000 is not in stimuli"),
        (set_cell("stimuli", "uid", "not-a-uuid"), "stimuli row 1, uid = 'not-a-uuid': must be a UUID"),
        (set_cell("stimuli", "role", "boss"), "must be one of test, gold_high"),
        (set_cell("stimuli", "file", "../../outside.wav"), "not in the archive"),
        (set_cell("raters", "excluded", "no"), "must be true or false"),
        (set_cell("raters", "external_id", "x" * 65), "longer than 64 characters"),
        (set_cell("assignments", "check_failures", "none"), "must be a JSON array"),
        (
            lambda m: m["samples"]["rows"][0].__setitem__(
                m["samples"]["columns"].index("source"), m["samples"]["rows"][0][0]
            ),
            "go round in a circle",
        ),
        (lambda m: m["ratings"]["rows"].append(m["ratings"]["rows"][0]), "appears twice"),
        (
            lambda m: [r.reverse() for r in [m["ratings"]["columns"], *m["ratings"]["rows"]]],
            None,
        ),  # any order
        (lambda m: m["ratings"]["columns"].pop(), "columns"),
        (lambda m: m["ratings"]["rows"].__setitem__(0, {"score": 5}), "expected a list of"),
        (_drop("raters"), "raters: expected an object"),
        (lambda m: m["study"].pop("rubric"), "missing fields ['rubric']"),
        (lambda m: m["study"].update(rubric={"question": ""}), "study, rubric: the rubric needs a question"),
        (lambda m: m["study"].update(reward="lots"), "must be a decimal number"),
        (lambda m: m["run"].update(spec={"systems": "proposed"}), "'systems' must be a list"),
        (lambda m: m["run"].update(summary={"metrics": {"timbre": ["cosine"]}}), "'metrics' must be nested"),
        (lambda m: m["files"][0].update(name="../../x.wav"), "files entry 1"),
        (lambda m: m["files"][0].update(sha256="0" * 64), "does not match its checksum"),
        (lambda m: m.update(files=m["files"][1:]), "does not list"),
        (lambda m: m.clear(), "not a study archive"),
    ],
)
def test_a_malformed_manifest_is_refused_with_a_clear_error_and_changes_nothing(tmp_path, change, message):
    study = light_study()
    path = study_export(study=study, path=tmp_path / "study.tar.gz")
    forget(study)
    changed = with_manifest(path, tmp_path / "changed.tar.gz", change)
    if message is None:
        assert study_import(path=changed).stimuli.count() == Stimulus.objects.count() > 0
        return
    with pytest.raises(ArchiveError, match=message.replace("[", r"\[").replace("(", r"\(")):
        study_import(path=changed)
    assert nothing_imported()


@pytest.mark.django_db
@pytest.mark.parametrize(
    "contents, message",
    [
        ({"manifest.json": b"{not json"}, "manifest.json is not valid JSON"),
        ({"manifest.json": b"[1, 2]"}, "must hold a JSON object"),
        ({"manifest.json": b"\xff\xfe"}, "not valid JSON"),
        ({}, "has no manifest.json"),
        ({"manifest.json": b"{}", "notes.txt": b"hello"}, "unexpected archive member 'notes.txt'"),
    ],
    ids=["bad-json", "array", "not-utf8", "no-manifest", "stray-member"],
)
def test_an_archive_without_a_readable_manifest_is_refused(tmp_path, contents, message):
    with pytest.raises(ArchiveError, match=message):
        study_import(path=pack(tmp_path / "odd.tar.gz", contents))


@pytest.mark.django_db
def test_a_study_whose_media_are_missing_is_not_exported(tmp_path):
    study = light_study()
    default_storage.delete(Stimulus.objects.filter(study=study).first().file)
    with pytest.raises(ArchiveError, match="missing from the media store"):
        study_export(study=study, path=tmp_path / "study.tar.gz")
    assert not list(tmp_path.iterdir())  # no half-written archive left behind


def _tar_gz(contents: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, body in contents.items():
            info = tarfile.TarInfo(name)
            info.size = len(body)
            tar.addfile(info, io.BytesIO(body))
    return buffer.getvalue()


@hypothesis_settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    blob=st.one_of(
        st.binary(max_size=2048),
        st.binary(max_size=2048).map(gzip.compress),
        st.binary(max_size=512).map(lambda b: _tar_gz({"manifest.json": b})),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=8),
            lambda inner: (
                st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3)
            ),
        ).map(lambda v: _tar_gz({"manifest.json": json.dumps(v).encode()})),
    )
)
def test_random_bytes_are_refused_as_not_an_archive(tmp_path, blob):
    path = tmp_path / "random.tar.gz"
    path.write_bytes(blob)
    with pytest.raises(ArchiveError):
        study_import(path=path)


@pytest.mark.django_db
def test_a_truncated_archive_is_refused_wherever_it_was_cut(tmp_path):
    study = light_study()
    whole = study_export(study=study, path=tmp_path / "study.tar.gz").read_bytes()
    forget(study)
    cut = tmp_path / "cut.tar.gz"

    @hypothesis_settings(max_examples=40, deadline=None)
    @given(length=st.integers(min_value=0, max_value=len(whole) - 1))
    def check(length: int) -> None:
        cut.write_bytes(whole[:length])
        with pytest.raises(ArchiveError):
            study_import(path=cut)

    check()
    for length in (len(whole) - 1, len(whole) - 8, 10, 0):  # the gzip trailer, and the very start
        cut.write_bytes(whole[:length])
        with pytest.raises(ArchiveError):
            study_import(path=cut)
    assert nothing_imported()


def test_every_column_of_the_archived_models_is_carried_or_set_by_the_archive_structure():
    """A field added to one of these models must be added to the format (or to IMPLIED, saying why)."""
    for table in (*archive.SINGLE, *archive.TABLES):
        names = {f.name for f in table.model._meta.concrete_fields}
        carried = set(table.fields) | set(table.links)
        assert names - carried <= archive.IMPLIED, (
            f"{table.name}: {sorted(names - carried - archive.IMPLIED)}"
        )
        assert carried <= names
        for name in table.fields:  # every carried field has a codec
            model_field = table.model._meta.get_field(name)
            default = model_field.get_default()
            if default not in (None, "") and not isinstance(default, (dict, list)):
                assert archive._decode(model_field, archive._encode(default)) == default


# --- systems imported from elsewhere, and older archives --------------------------------------------------


@pytest.mark.django_db
def test_a_study_over_an_imported_system_carries_its_samples_provenance_and_reference(tmp_path):
    run = finished_run(categories=("dog",), clips=2, name="withimport", imported=("foley",))
    Sample.objects.filter(run=run, system="foley").update(
        provenance={"file": "realism-dog-000.wav", "sha256": "ab" * 32}
    )
    study = study_create(run=run, kind="realism", reference_system="proposed", prepare=False)
    assert "foley" in study.systems
    path = study_export(study=study, path=tmp_path / "s.tar.gz")
    forget(study)
    imported = study_import(path=path)
    assert imported.reference_system == "proposed" and "foley" in imported.systems
    assert "foley" in [s["key"] for s in imported.run.spec["systems"]]
    carried = Sample.objects.filter(run=imported.run, system="foley", task="realism")
    assert carried.exists() and all(s.provenance["file"] == "realism-dog-000.wav" for s in carried)


@pytest.mark.django_db
def test_a_version_1_archive_is_read_with_the_defaults_of_the_columns_added_since(tmp_path):
    study = light_study()
    path = study_export(study=study, path=tmp_path / "v2.tar.gz")

    def as_version_1(manifest: dict[str, Any]) -> None:
        manifest["version"] = 1
        del manifest["study"]["reference_system"]
        columns = manifest["samples"]["columns"]
        drop = columns.index("provenance")
        manifest["samples"]["columns"] = [c for c in columns if c != "provenance"]
        manifest["samples"]["rows"] = [
            [v for i, v in enumerate(r) if i != drop] for r in manifest["samples"]["rows"]
        ]

    old = with_manifest(path, tmp_path / "v1.tar.gz", as_version_1)
    forget(study)
    imported = study_import(path=old)
    assert imported.reference_system == ""
    assert all(s.provenance == {} for s in Sample.objects.filter(run=imported.run))
