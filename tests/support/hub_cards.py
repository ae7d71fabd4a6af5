"""huggingface_hub's checks of a model card's metadata, as far as they run without the Hub.

The Hub's own validation runs on its server: `ModelCard.validate` posts the card to /api/validate-yaml,
which cannot be reached from here. What huggingface_hub checks offline, `check_model_card` runs: the
metadata block parses as a mapping (`metadata_load`), loads strictly into `ModelCardData`
(`ignore_metadata_errors=False`: a model-index that does not parse into `EvalResult`s fails), survives a
write and a read unchanged, and every repo id it names passes `validate_repo_id`. The fields the Hub reads
are then checked for the form its documentation gives them.
"""

from __future__ import annotations

import re
from pathlib import Path

from huggingface_hub import ModelCard, metadata_load
from huggingface_hub.repocard_data import model_index_to_eval_results
from huggingface_hub.utils import validate_repo_id

# The Hub's task ids the project's cards use (https://huggingface.co/tasks).
PIPELINE_TAGS = {"feature-extraction", "automatic-speech-recognition", "audio-classification"}


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value]


def check_model_card(path: Path) -> dict:
    """The card's metadata, after every offline check passed."""
    metadata = metadata_load(path)
    assert isinstance(metadata, dict) and metadata
    card = ModelCard.load(path, ignore_metadata_errors=False)
    assert card.data.to_dict() == metadata
    assert ModelCard(str(card), ignore_metadata_errors=False).data.to_dict() == metadata
    if "model-index" in metadata:
        name, results = model_index_to_eval_results(metadata["model-index"])
        assert name and results and all(isinstance(r.metric_value, (int, float)) for r in results)

    assert metadata["library_name"] == "transformers"
    assert metadata["pipeline_tag"] in PIPELINE_TAGS
    assert isinstance(metadata["license"], str) and re.fullmatch(r"[a-z0-9][a-z0-9.\-]*", metadata["license"])
    assert all(isinstance(tag, str) and tag for tag in metadata["tags"])
    for key in ("datasets", "base_model"):
        for repo_id in _as_list(metadata.get(key, [])):
            validate_repo_id(repo_id)
    if "co2_eq_emissions" in metadata:
        assert isinstance(metadata["co2_eq_emissions"]["emissions"], (int, float))
    return metadata


def section(text: str, heading: str) -> str:
    """The body of the `## heading` section of a card's markdown."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    assert match, f"no section '## {heading}'"
    return match.group(1)


def machine_paths(text: str) -> list[str]:
    """Absolute paths in a published text: each would tell the training machine's user names and layout.
    A path elided to `.../name`, a unit such as `samples/s` and a URL are none."""
    return re.findall(r"(?<![\w.~:/-])/[^\s\"'`|)]+", text)
