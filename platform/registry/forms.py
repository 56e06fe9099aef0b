"""Forms of the researcher pages, and the upload handler that keeps checkpoint uploads within bounds."""

from __future__ import annotations

from django import forms
from django.core.files.uploadhandler import SkipFile, TemporaryFileUploadHandler
from django.http import HttpRequest

from registry.models import Checkpoint, Dataset, Status


class LimitedUploadHandler(TemporaryFileUploadHandler):
    """Streams every file to a temporary file on disk (never memory) and drops one as soon as it grows
    past ``max_bytes``: the partial file is closed, which deletes it, and ``too_large`` is set so the
    view can answer 413 instead of a misleading "this field is required"."""

    def __init__(self, request: HttpRequest, *, max_bytes: int) -> None:
        super().__init__(request)
        self.max_bytes = max_bytes
        self.too_large = False

    def receive_data_chunk(self, raw_data: bytes, start: int) -> bytes | None:
        if start + len(raw_data) > self.max_bytes:
            self.too_large = True
            raise SkipFile  # the parser closes (so deletes) the file and discards the rest of it
        return super().receive_data_chunk(raw_data, start)


class CheckpointUploadForm(forms.Form):
    file = forms.FileField(
        help_text="A checkpoint saved by this platform's trainer (torch.save of a self-describing dict)."
    )
    name = forms.CharField(max_length=200)
    role = forms.ChoiceField(choices=Checkpoint.Role.choices)
    dataset = forms.ModelChoiceField(
        queryset=Dataset.objects.filter(status=Status.SUCCEEDED),
        required=False,
        help_text="The dataset it was trained on, if it is registered here.",
    )
    notes = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=False, max_length=5000)


class SystemImportForm(forms.Form):
    file = forms.FileField(
        help_text="A .zip or .tar.gz of one <pair_id>.wav per pair of the run's input pack."
    )
    system = forms.RegexField(
        regex=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        max_length=63,
        label="System key",
        help_text="Its id in exports: lower-case letters, digits, - and _.",
        error_messages={
            "invalid": "Use lower-case letters, digits, - and _, starting with a letter or digit."
        },
    )
    label = forms.CharField(
        max_length=100, required=False, help_text="Its name in tables (default: the key)."
    )
    partial = forms.BooleanField(
        required=False,
        label="Partial import",
        help_text="Import the accepted files even if others are refused.",
    )
