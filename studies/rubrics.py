"""The paper's MOS rubrics (VarietySound, Appendix D, Tables 4–6), word for word, and our instructions.

The level texts are the paper's own definitions (kept verbatim, including their grammar, so that our
scores mean what the paper's scores meant). A study copies them when it is created; researchers may
edit a study's copy, which bumps its rubric version.
"""

from __future__ import annotations

from typing import Any

RUBRICS: dict[str, dict[str, Any]] = {
    "realism": {
        "question": "How real does this sound?",
        "levels": {
            "5": "Completely real sound.",
            "4": "Mostly real sound.",
            "3": "Equally real and unreal sound.",
            "2": "Mostly unreal sound.",
            "1": "Completely unreal sound.",
        },
    },
    "alignment": {
        "question": "How well do the events in the audio line up with the events in the video?",
        "levels": {
            "5": "Events in video and events in audio occur simultaneously.",
            "4": "Slight misalignment between events in video and events in audio.",
            "3": "Exist misalignment in some positions.",
            "2": "Exist misalignment in most of the positions.",
            "1": "Completely misalignment, no events in audio can match the video .",
        },
    },
    "timbre": {
        "question": "How similar is the timbre of the test sound to the reference sound?",
        "levels": {
            "5": "Timbre is exactly the same as target.",
            "4": "Timbre has high similarity with the target but not same.",
            "3": "Timbre has similarity with the target, but there are obvious differences.",
            "2": "Timbre has a large gap with the target, but share the same category of the sound.",
            "1": "Timbre is completely different to the target.",
        },
    },
}

INSTRUCTIONS: dict[str, str] = {
    "realism": (
        "You will hear short sound clips (10 seconds each). Listen to each clip to the end, then rate "
        "how real it sounds on the scale below. Use headphones in a quiet place."
    ),
    "alignment": (
        "You will watch short videos with sound (10 seconds each). Watch each video to the end with the "
        "sound on, then rate how well the moments of the sounds match the moments of the events you "
        "see. Use headphones in a quiet place."
    ),
    "timbre": (
        "Each screen has a reference sound and a test sound. Listen to the reference, then to the test "
        "sound to the end, and rate how similar the test sound's timbre (its tone colour: what makes a "
        "dog's bark sound like that dog) is to the reference, ignoring when the sounds happen."
    ),
}


def rubric_validate(rubric: Any) -> dict[str, Any]:
    """A rubric edited by a researcher: a question and a non-empty text for each score 1..5."""
    if not isinstance(rubric, dict):
        raise ValueError("the rubric must be an object with 'question' and 'levels'")
    question = rubric.get("question")
    levels = rubric.get("levels")
    if not isinstance(question, str) or not question.strip():
        raise ValueError("the rubric needs a question")
    if not isinstance(levels, dict) or sorted(levels) != ["1", "2", "3", "4", "5"]:
        raise ValueError("the rubric needs a text for each score 1, 2, 3, 4 and 5")
    for score, text in levels.items():
        if not isinstance(text, str) or not text.strip() or len(text) > 300:
            raise ValueError(f"score {score}: the text must be 1–300 characters")
    return {"question": question.strip(), "levels": {k: levels[k].strip() for k in sorted(levels)}}
