"""What a researcher sends back, at its worst: archives and files that must be refused, each with a
reason, and nothing ever written outside the destination."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inference.exchange.archive import ArchiveError, ArchiveLimits, safe_member_name, unpack
from inference.exchange.outputs import validate_outputs

SR = 22050
EXPECTED = {"realism-dog-000": 1.0, "realism-dog-001": 1.0, "timbre-dog-000": 1.0}


def tone(seconds: float = 1.0, rate: int = SR, channels: int = 1, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    wave = (level * np.sin(2 * np.pi * 330 * t)).astype(np.float32)
    return wave if channels == 1 else np.stack([wave] * channels, axis=1)


def wav_bytes(data: np.ndarray, rate: int = SR, subtype: str = "PCM_16") -> bytes:
    buffer = io.BytesIO()
    sf.write(buffer, data, rate, format="WAV", subtype=subtype)
    return buffer.getvalue()


def tar_with(path: Path, *members: tuple[tarfile.TarInfo, bytes | None]) -> Path:
    with tarfile.open(path, "w:gz") as tar:
        for info, body in members:
            if body is not None:
                info.size = len(body)
            tar.addfile(info, io.BytesIO(body) if body is not None else None)
    return path


def member(name: str, kind: bytes = tarfile.REGTYPE, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, linkname
    return info


def listing(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


@pytest.fixture
def sandbox(tmp_path):
    """A destination inside a folder whose contents are compared before and after."""
    outer = tmp_path / "outer"
    outer.mkdir()
    return outer, outer / "dest"


@pytest.mark.parametrize(
    "name, kind, link, reason",
    [
        ("../evil.wav", tarfile.REGTYPE, "", "climbs out"),
        ("a/../../evil.wav", tarfile.REGTYPE, "", "climbs out"),
        ("/tmp/evil.wav", tarfile.REGTYPE, "", "absolute"),
        ("C:/evil.wav", tarfile.REGTYPE, "", "absolute"),
        ("link.wav", tarfile.SYMTYPE, "/etc/passwd", "symbolic link"),
        ("hard.wav", tarfile.LNKTYPE, "realism-dog-000.wav", "hard link"),
        ("fifo.wav", tarfile.FIFOTYPE, "", "device or FIFO"),
        ("dev.wav", tarfile.CHRTYPE, "", "device or FIFO"),
    ],
)
def test_a_tar_member_that_could_land_outside_or_is_not_a_file_is_refused_by_name(
    sandbox, name, kind, link, reason
):
    outer, dest = sandbox
    good = wav_bytes(tone())
    body = good if kind == tarfile.REGTYPE else None
    archive = tar_with(
        outer / "in.tar.gz", (member("realism-dog-000.wav"), good), (member(name, kind, link), body)
    )
    before = listing(outer)
    result = unpack(archive, dest)
    assert result.files == ["realism-dog-000.wav"]
    assert [(n, r) for n, r in result.refused if reason in r] == [(name, next(r for _, r in result.refused))]
    assert listing(outer) - before == {"dest", "dest/realism-dog-000.wav"}
    assert not (outer.parent / "evil.wav").exists()


def test_a_zip_symlink_and_traversal_are_refused_and_nothing_is_followed(sandbox):
    outer, dest = sandbox
    path = outer / "in.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("realism-dog-000.wav", wav_bytes(tone()))
        link = zipfile.ZipInfo("link.wav")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        archive.writestr(link, "/etc/passwd")
        archive.writestr("../../escape.wav", b"x")
    before = listing(outer)
    result = unpack(path, dest)
    assert result.files == ["realism-dog-000.wav"]
    assert {n for n, _ in result.refused} == {"link.wav", "../../escape.wav"}
    assert listing(outer) - before == {"dest", "dest/realism-dog-000.wav"}


def test_a_zip_bomb_stops_at_the_byte_limit_whatever_its_headers_say(sandbox):
    outer, dest = sandbox
    path = outer / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("realism-dog-000.wav", b"\0" * (20 * 1024 * 1024))
    assert path.stat().st_size < 100_000
    with pytest.raises(ArchiveError, match="inflates past"):
        unpack(
            path, dest, limits=ArchiveLimits(max_total_bytes=1024 * 1024, max_member_bytes=64 * 1024 * 1024)
        )
    with pytest.raises(ArchiveError, match="limit"):
        unpack(path, outer / "dest2", limits=ArchiveLimits(max_member_bytes=1024 * 1024))


def test_too_many_members_and_garbage_are_refused_as_a_whole(sandbox):
    outer, dest = sandbox
    many = tar_with(outer / "many.tar.gz", *[(member(f"f{i}.wav"), b"x") for i in range(30)])
    with pytest.raises(ArchiveError, match="more than 10 members"):
        unpack(many, dest, limits=ArchiveLimits(max_members=10))
    garbage = outer / "garbage.tar.gz"
    garbage.write_bytes(b"\x1f\x8b" + os.urandom(2000))
    with pytest.raises(ArchiveError, match="cannot be read"):
        unpack(garbage, outer / "d2")
    text = outer / "notes.txt"
    text.write_text("not an archive")
    with pytest.raises(ArchiveError, match="not a folder"):
        unpack(text, outer / "d3")
    truncated = outer / "cut.tar.gz"
    whole = tar_with(outer / "whole.tar.gz", (member("realism-dog-000.wav"), wav_bytes(tone(5.0))))
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(ArchiveError):
        unpack(truncated, outer / "d4")


def test_a_folder_with_a_symlink_is_listed_without_following_it(tmp_path):
    folder = tmp_path / "outputs"
    folder.mkdir()
    (folder / "realism-dog-000.wav").write_bytes(wav_bytes(tone()))
    (folder / "realism-dog-001.wav").symlink_to("/etc/passwd")
    (folder / "sub").symlink_to(tmp_path, target_is_directory=True)
    result = unpack(folder, tmp_path / "unused")
    assert result.files == ["realism-dog-000.wav"]
    assert {n for n, _ in result.refused} == {"realism-dog-001.wav", "sub"}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(min_size=0, max_size=60))
def test_no_member_name_is_accepted_that_resolves_outside_the_destination(tmp_path, name):
    relative, reason = safe_member_name(name)
    if relative is None:
        assert reason
        return
    base = (tmp_path / "dest").resolve()
    assert (base / relative).resolve().is_relative_to(base)
    assert not relative.startswith("/") and ".." not in relative.split("/")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.binary(min_size=0, max_size=3000), st.sampled_from([b"", b"PK\x03\x04", b"\x1f\x8b", b"BZh"]))
def test_arbitrary_bytes_as_an_archive_are_refused_cleanly_or_unpack_inside(tmp_path_factory, body, magic):
    folder = tmp_path_factory.mktemp("fuzz")
    path = folder / "in.bin"
    path.write_bytes(magic + body)
    try:
        result = unpack(path, folder / "dest")
    except ArchiveError:
        return
    for name in result.files:
        assert (folder / "dest" / name).resolve().is_relative_to((folder / "dest").resolve())


# --- validation of the files ----------------------------------------------------------------------


def outputs(tmp_path: Path, files: dict[str, bytes]) -> Path:
    folder = tmp_path / "outputs"
    for name, body in files.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_bytes(body)
    return folder


def check(tmp_path: Path, files: dict[str, bytes], expected=EXPECTED):
    folder = outputs(tmp_path, files)
    report = validate_outputs(unpack(folder, tmp_path / "unused"), expected, tmp_path / "staged")
    return report, {f.name: f for f in report.files}


def test_every_kind_of_bad_file_gets_its_own_reason(tmp_path):
    nan = tone()
    nan[100] = np.nan
    report, by_name = check(
        tmp_path,
        {
            "realism-dog-000.wav": wav_bytes(np.zeros(SR, dtype=np.float32)),  # silence
            "realism-dog-001.wav": wav_bytes(nan, subtype="FLOAT"),  # NaN
            "timbre-dog-000.wav": wav_bytes(tone(1.8)),  # too long
            "timbre-dog-999.wav": wav_bytes(tone()),  # unknown id
            "notes.txt": b"my model's log",  # not an output file
            "broken.wav": b"RIFF\x00\x00\x00\x00WAVEjunk",  # unreadable
        },
    )
    assert "silent" in by_name["realism-dog-000.wav"].problems[0]
    assert "NaN" in by_name["realism-dog-001.wav"].problems[0]
    assert "lasts 1.80 s; expected 1.00 s" in by_name["timbre-dog-000.wav"].problems[0]
    assert "unknown pair id 'timbre-dog-999'" in by_name["timbre-dog-999.wav"].problems[0]
    assert "did you mean timbre-dog-000" in by_name["timbre-dog-999.wav"].problems[0]
    assert "not an output file" in by_name["notes.txt"].problems[0]
    assert "unknown pair id 'broken'" in by_name["broken.wav"].problems[0]
    assert all(f.status == "refused" for f in report.files) and not report.complete
    assert report.accepted == [] and not (tmp_path / "staged").exists()


def test_an_unreadable_file_for_a_known_pair_is_refused_as_not_audio(tmp_path):
    _, by_name = check(tmp_path, {"realism-dog-000.wav": b"RIFF\x00\x00\x00\x00WAVEjunk" + os.urandom(100)})
    assert "not a readable audio file" in by_name["realism-dog-000.wav"].problems[0]


def test_stereo_rates_and_lengths_are_fixed_and_recorded(tmp_path):
    report, by_name = check(
        tmp_path,
        {
            "realism-dog-000.wav": wav_bytes(tone(channels=2)),
            "realism-dog-001.wav": wav_bytes(tone(rate=44100), rate=44100),
            "timbre-dog-000.wav": wav_bytes(tone(0.7)),
        },
    )
    assert report.complete and len(report.accepted) == 3
    assert "downmixed 2 channels to mono" in by_name["realism-dog-000.wav"].notes[0]
    assert "resampled 44100 Hz -> 22050 Hz" in by_name["realism-dog-001.wav"].notes[0]
    assert "padded 0.300 s of silence" in by_name["timbre-dog-000.wav"].notes[0]
    for entry in report.accepted:
        info = sf.info(entry.staged)
        assert (info.samplerate, info.channels, info.frames) == (SR, 1, SR)


def test_a_trimmed_file_a_clipped_file_and_a_header_claiming_hours(tmp_path):
    loud = np.clip(tone(level=2.0), -1, 1)
    header = bytearray(wav_bytes(tone()))
    header[40:44] = (0x7FFFFFF0).to_bytes(4, "little")  # data chunk size: ~13 hours at 16 bits
    report, by_name = check(
        tmp_path,
        {
            "realism-dog-000.wav": wav_bytes(tone(1.3)),
            "realism-dog-001.wav": wav_bytes(loud),
            "timbre-dog-000.wav": bytes(header),
        },
    )
    assert "trimmed 0.300 s at the end" in by_name["realism-dog-000.wav"].notes[0]
    assert (
        by_name["realism-dog-001.wav"].status == "flagged"
        and "clipping" in by_name["realism-dog-001.wav"].flags[0]
    )
    # The header's claim is not believed: what is read is what the file holds (1 s).
    assert (
        by_name["timbre-dog-000.wav"].status == "accepted" and by_name["timbre-dog-000.wav"].duration_s == 1.0
    )


def test_a_long_file_is_refused_from_its_header_before_it_is_decoded(tmp_path, monkeypatch):
    decoded = []
    monkeypatch.setattr(
        sf, "read", lambda *a, **k: decoded.append(a) or (_ for _ in ()).throw(AssertionError)
    )
    _, by_name = check(tmp_path, {"realism-dog-000.wav": wav_bytes(tone(60.0))})
    assert "lasts 60.00 s" in by_name["realism-dog-000.wav"].problems[0] and not decoded


def test_duplicates_are_both_refused_and_missing_ids_listed_while_os_junk_is_ignored(tmp_path):
    body = wav_bytes(tone())
    report, by_name = check(
        tmp_path,
        {
            "a/realism-dog-000.wav": body,
            "b/realism-dog-000.flac": body,
            ".DS_Store": b"junk",
            "__MACOSX/._realism-dog-000.wav": b"junk",
        },
    )
    assert by_name["a/realism-dog-000.wav"].status == by_name["b/realism-dog-000.flac"].status == "refused"
    assert "2 files for pair realism-dog-000" in by_name["a/realism-dog-000.wav"].problems[0]
    assert report.missing == ["realism-dog-001", "timbre-dog-000"]
    assert set(report.ignored) == {".DS_Store", "__MACOSX/._realism-dog-000.wav"}


def test_sample_rates_outside_the_range_are_refused(tmp_path):
    _, by_name = check(tmp_path, {"realism-dog-000.wav": wav_bytes(tone(rate=4000), rate=4000)})
    assert "4000 Hz is outside 8000-192000 Hz" in by_name["realism-dog-000.wav"].problems[0]
